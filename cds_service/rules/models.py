"""Typed models of the knowledge files in cards/ (pydantic); the JSON Schemas in cards/schema/ are
generated from them:

    python -m cds_service.rules.models      # rewrite cards/schema/*.schema.json

(cards/codes.yaml, the input-code contract, keeps its own hand-kept schema.) The models check the
shape; the rule book then checks ids, references, facts and citations across files.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Condition = dict[str, Any]
Status = Literal["positive", "equivocal", "low", "negative", "indeterminate", "not-tested"]
StatusClass = Literal["recruiting", "not-yet-recruiting", "active-not-recruiting", "ongoing", "not-stated"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(Model):
    """A citation: seed file, section or table, and a verbatim quote of at most 25 words."""

    file: str
    section: str
    quote: str


class Part(Model):
    """A piece of a template, kept when `when` holds."""

    text: str
    when: Condition | None = None


Template = str | list[Part]


class Rule(Model):
    """Common to every rule: its id (<crc|gc|common>.<kind>.<name>) and its citation or policy."""

    id: str = Field(pattern=r"^(crc|gc|common)\.[a-z-]+\.[a-z0-9][a-z0-9.-]*$")
    label: str | None = None
    source: Source | None = None
    sources: list[Source] = []
    policy: str | None = Field(None, description="a service decision the sources do not make, stated for review")


class Cited(Model):
    text: str
    source: Source


class Evidence(Cited):
    """An evidence line of an order warning, shown when `when` holds (always, without one)."""

    when: Condition | None = None


# ---------------------------------------------------------------- thresholds, criteria, status

class Threshold(Rule):
    value: float


class ThresholdsFile(Model):
    thresholds: list[Threshold]


class Arm(Model):
    label: str
    all: Condition
    source: Source | None = None


class Criterion(Rule):
    code: str = Field(description="the machine-readable name in extension.her2cds.criteriaMet")
    name: str = Field(description="the name a clinician reads on the cards")
    label: str
    basis: Literal["tissue", "plasma"]
    arms: list[Arm]


class Definition(Rule):
    label: str
    when: Condition | None = None
    function: str | None = Field(None, description="a named rule function, for a condition that cannot be data")
    params: dict[str, Any] | None = None


class StatusRule(Rule):
    status: Status
    label: str
    when: Condition | None = None


class CriteriaFile(Model):
    tumor_type: Literal["colorectal", "gastric"]
    criteria: list[Criterion]
    definitions: list[Definition]
    status: list[StatusRule]


# ---------------------------------------------------------------- statements on the status card

class Statement(Rule):
    when: Condition | None = None
    text: Template | None = None
    function: str | None = None
    params: dict[str, Any] | None = None
    after_data_notes: bool = False


class StatementsFile(Model):
    contradictions: list[Statement]
    missing: list[Statement]
    findings: list[Statement]
    scope: list[Statement]
    headline: list[Statement] = Field(description="what the status card's summary names after the status, in this order")


class Measurement(Model):
    label: str
    fact: str


class Cutoff(Rule):
    measurement: str
    cutoff: float
    higher_group: Literal["ge", "gt"]
    trial: str
    result: str


class CutoffsFile(Model):
    tumor_type: Literal["colorectal"]
    measurements: dict[str, Measurement]
    cutoffs: list[Cutoff]
    favourable_group_note: Cited
    notes: list[Statement]


class Note(Rule):
    when: Condition | None = None
    text: str


class NotesFile(Model):
    notes: list[Note]


# ---------------------------------------------------------------- therapies

class Therapy(Rule):
    regimen: list[str]
    title: str
    when: Condition | None = None
    dual_blockade: bool
    evidence: list[Cited]
    population: Cited


class Safety(Rule):
    """A safety statement shown on every therapy card and order warning that concerns one of `drugs`."""

    drugs: list[str]
    text: str


class Caveat(Rule):
    placement: Literal["lead", "patient"] = "patient"
    therapies: list[str] | None = None
    applies_to: dict[str, Any] | None = None
    when: Condition | None = None
    notes: list[str] = Field([], description="evidence notes quoted as {note} (those that hold, joined)")
    text: Template


class Gap(Rule):
    each_therapy_not_shown: bool = False
    when: Condition | None = None
    text: Template


class TherapiesFile(Model):
    therapies: list[Therapy]
    safety: list[Safety]
    caveats: list[Caveat]
    gaps: list[Gap]


# ---------------------------------------------------------------- trials

class CriterionSet(Model):
    label: str
    arms: list[Arm]


class TrialHer2(Model):
    text: str
    arms: list[Arm] | None = None
    ref: str | None = None
    given_in_source: bool = True
    note: str | None = None


class Trial(Rule):
    nct: str = Field(pattern=r"^NCT\d{8}$")
    name: str
    phase: str
    regimen: str
    line: Literal["first", "previously-treated", "not-stated"]
    status_words: str
    status_class: StatusClass
    her2: TrialHer2
    source: Source


class OfferRule(Rule):
    when: Condition | None = None
    offered_status_classes: list[StatusClass]


class TrialNote(Rule):
    when: Condition | None = None
    text: Template


class TrialExclusion(Rule):
    """A matching trial named under "not offered" with this reason (the first that holds)."""

    trials: list[str] | None = Field(None, description="the trial rules it applies to (default: every trial)")
    unassessable: bool = Field(False, description="name the trial under 'could not be assessed' instead")
    when: Condition | None = None
    text: Template


class TrialsFile(Model):
    offer: list[OfferRule]
    trial_notes: list[TrialNote]
    exclusions: list[TrialExclusion]
    criterion_sets: dict[str, CriterionSet]
    trials: list[Trial]


# ---------------------------------------------------------------- order warnings

class OverrideReason(Model):
    code: str
    display: str


class WarningRule(Rule):
    code: str = Field(description="the warning code on the card (extension.her2cds.warning)")
    indicator: Literal["info", "warning"]
    title: Template
    group: Literal["per-order", "all-orders"] = "per-order"
    settling_test: bool = False
    params: dict[str, list[str]] | None = Field(None, description="the rule's own lists: `{param: <name>}` in its "
                                                "condition, `{params.<name>}` in its text (one declaration for both)")
    when: Condition | None = None
    unless: Condition | None = None
    detail: list[Template]
    evidence: list[Evidence]


class WarningsFile(Model):
    override_reasons: list[OverrideReason]
    warnings: list[WarningRule]


# ---------------------------------------------------------------- testing

class Coding(Model):
    system: str
    code: str
    display: str


class LabTest(Model):
    code: Coding
    label: str
    note: str | None = None


class Suggestion(Model):
    id: str
    title: str
    tests: list[str]
    laboratory: bool = Field(False, description="asks the laboratory for the missing values (a draft CommunicationRequest "
                                                "per result) instead of ordering a test")
    reason: str
    sources: list[Source]


class SuggestionRule(Rule):
    suggestion: str
    when: Condition | None = None
    detail: Template


class OrderTestRule(SuggestionRule):
    code: str = Field(description="the warning code on the card (extension.her2cds.warning): draft orders made it due")


class SettlingRule(Rule):
    when: Condition | None = None
    tests: list[str]
    laboratory: bool = Field(False, description="the warning also asks the laboratory (lab-request rules)")
    reason: str


UnscoredKind = Literal["ihc", "ish", "interpretation", "report", "immunoassay", "ngs"]


class LabRequestRule(Rule):
    """What to ask the laboratory for an unscored HER2 result of these kinds (a result on file is completed, not repeated)."""

    results: list[UnscoredKind]
    lacks: list[str] | None = Field(None, description="only results lacking one of these (facts.LACKS keys)")
    when: Condition | None = None
    ask: Template
    why: Template


class HER2TestsFile(Model):
    tests: dict[str, LabTest]
    suggestions: list[Suggestion]
    rules: list[SuggestionRule]
    order_rules: list[OrderTestRule]
    settling: list[SettlingRule]
    laboratory: list[LabRequestRule]


# ---------------------------------------------------------------- drugs and sources

class CodeSource(Model):
    """Where a drug's RxNorm codes come from."""

    url: str
    note: str


class Drug(Model):
    id: str
    rxnorm: list[str]
    rxnorm_source: CodeSource | None = None
    names: list[str]
    classes: list[str]
    source: Source | None = None


class Combination(Model):
    names: list[str]
    ingredients: list[str]
    source: Source | None = None
    policy: str | None = None


class MedicationStatuses(Model):
    history_excluded: list[str]
    draft_order_ignored: list[str]
    in_use: list[str | None]


class DrugsFile(Model):
    contract: str
    rxnorm_system: str
    drugs: list[Drug]
    combinations: list[Combination]
    high_dose_words: list[str]
    systemic_classes: list[str]
    statuses: MedicationStatuses


class Document(Model):
    file: str
    key: Literal["crc", "gc"]
    label: str
    url: str | None
    date: str | None
    date_label: str
    source: Source


class SourcesFile(Model):
    knowledge_date: str
    documents: list[Document]


FILE_MODELS: dict[str, type[Model]] = {
    "sources": SourcesFile,
    "thresholds": ThresholdsFile,
    "crc-criteria": CriteriaFile,
    "gastric-criteria": CriteriaFile,
    "statements": StatementsFile,
    "copy-number-cutoffs": CutoffsFile,
    "evidence-notes": NotesFile,
    "therapies": TherapiesFile,
    "trials": TrialsFile,
    "warnings": WarningsFile,
    "testing": HER2TestsFile,
    "drugs": DrugsFile,
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one knowledge file, generated from its model."""
    schema = FILE_MODELS[name].model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": f"cards/{name}.yaml"}


def schema_text(name: str) -> str:
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"


def write_schemas(directory: Path) -> list[Path]:
    paths = []
    for name in FILE_MODELS:
        path = directory / "schema" / f"{name}.schema.json"
        path.write_text(schema_text(name), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    from ..knowledge import default_knowledge_dir

    for written in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else default_knowledge_dir()):
        print(written)
