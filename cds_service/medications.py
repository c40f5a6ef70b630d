"""Recognise drugs in MedicationRequest / MedicationStatement and HER2 tests in ServiceRequest."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .fhir_read import ParsedResources, codings, concept_texts, parse_datetime
from .knowledge import Knowledge


class DrugMatcher:
    """Matches RxNorm ingredient codes and drug names (as whole words) from the knowledge file."""

    def __init__(self, knowledge: Knowledge) -> None:
        drugs = knowledge.drugs
        self.rxnorm_system: str = drugs["rxnorm_system"]
        self.classes: dict[str, set[str]] = {d["id"]: set(d["classes"]) for d in drugs["drugs"]}
        self.all_classes: list[str] = sorted({c for d in drugs["drugs"] for c in d["classes"]})
        self.by_code: dict[str, str] = {c: d["id"] for d in drugs["drugs"] for c in d["rxnorm"]}
        names: list[tuple[str, tuple[str, ...]]] = [
            (n.lower(), (d["id"],)) for d in drugs["drugs"] for n in d["names"]]
        names += [(n.lower(), tuple(c["ingredients"])) for c in drugs["combinations"] for n in c["names"]]
        names.sort(key=lambda item: len(item[0]), reverse=True)
        alternation = "|".join(re.escape(n) for n, _ in names)
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w])", re.IGNORECASE)
        self._ingredients = {n: ids for n, ids in names}
        self.high_dose_words = [w.lower() for w in drugs["high_dose_words"]]
        self.systemic_classes = set(drugs["systemic_classes"])
        self.history_excluded_statuses = set(drugs["statuses"]["history_excluded"])

    def from_text(self, text: str) -> set[str]:
        """Drug ids named in free text; the longest name wins (a conjugate is never read as its antibody)."""
        found: set[str] = set()
        for match in self._pattern.finditer(text):
            found.update(self._ingredients[match.group(0).lower()])
        return found

    def from_concept(self, concept: Any) -> set[str]:
        """Drug ids of a CodeableConcept: ingredient codes first, else names in text/display."""
        found = {self.by_code[c["code"]] for c in codings(concept)
                 if c.get("system") == self.rxnorm_system and c.get("code") in self.by_code}
        for text in concept_texts(concept):
            found |= self.from_text(text)
        return found

    def is_systemic(self, drug_ids: set[str]) -> bool:
        """Whether any of the drugs is a systemic anticancer therapy (drugs.yaml systemic_classes)."""
        return any(self.classes.get(d, set()) & self.systemic_classes for d in drug_ids)

    def of_class(self, drug_ids: set[str], cls: str) -> set[str]:
        """The drugs of one class (drugs.yaml classes), e.g. "her2-directed"."""
        return {d for d in drug_ids if cls in self.classes.get(d, set())}


def _medication_concept(resource: dict, parsed: ParsedResources) -> Any:
    """medicationCodeableConcept, or the code of a contained / referenced Medication."""
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    ref = resource.get("medicationReference")
    reference = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(reference, str):
        return {"text": ref.get("display")} if isinstance(ref, dict) and isinstance(ref.get("display"), str) else None
    if reference.startswith("#"):
        for contained in resource.get("contained") or []:
            if isinstance(contained, dict) and contained.get("id") == reference[1:]:
                return contained.get("code")
        return None
    medication = parsed.by_ref.get(reference) or parsed.by_ref.get("/".join(reference.split("/")[-2:]))
    if medication is not None:
        return medication.get("code")
    return {"text": ref.get("display")} if isinstance(ref.get("display"), str) else None


def _dosage_texts(resource: dict) -> list[str]:
    texts = []
    for dosage in resource.get("dosageInstruction") or resource.get("dosage") or []:
        if isinstance(dosage, dict) and isinstance(dosage.get("text"), str):
            texts.append(dosage["text"])
    return texts


@dataclass(frozen=True)
class MedicationUse:
    """A drug order or history entry, reduced to what the rules need."""

    ref: str
    drugs: frozenset[str]
    status: str | None
    start: datetime | None
    text: str
    high_dose: bool


def read_medication(resource: dict, parsed: ParsedResources, matcher: DrugMatcher,
                    ref: str | None = None) -> MedicationUse:
    """A MedicationRequest or MedicationStatement as a MedicationUse (`ref` as the client names it)."""
    concept = _medication_concept(resource, parsed)
    texts = concept_texts(concept) + _dosage_texts(resource)
    start = None
    for key in ("authoredOn", "effectiveDateTime", "dateAsserted"):
        start = start or parse_datetime(resource.get(key))
    period = resource.get("effectivePeriod")
    if start is None and isinstance(period, dict):
        start = parse_datetime(period.get("start"))
    joined = " ".join(texts).lower()
    return MedicationUse(
        ref=ref or f"{resource['resourceType']}/{resource.get('id', '?')}",
        drugs=frozenset(matcher.from_concept(concept)),
        status=resource.get("status") if isinstance(resource.get("status"), str) else None,
        start=start,
        text=(concept_texts(concept) or ["(unnamed medication)"])[0],
        high_dose=any(w in joined for w in matcher.high_dose_words),
    )


def medication_history(parsed: ParsedResources, matcher: DrugMatcher) -> list[MedicationUse]:
    """The patient's medication history: MedicationRequests and MedicationStatements whose status
    is not excluded (drugs.yaml statuses.history_excluded: drafts, not taken, only intended ...)."""
    history = []
    for rtype in ("MedicationRequest", "MedicationStatement"):
        for resource in parsed.of(rtype):
            use = read_medication(resource, parsed, matcher)
            if use.status not in matcher.history_excluded_statuses and use.drugs:
                history.append(use)
    return history


@dataclass(frozen=True)
class TestOrder:
    """A HER2 test ServiceRequest among the draft orders."""

    ref: str
    kind: str  # ihc | ish | ngs


def read_test_order(resource: dict, knowledge: Knowledge) -> TestOrder | None:
    """The HER2 test a ServiceRequest orders, or None if it is not one."""
    codes = knowledge.codes["test_orders"]
    loinc = knowledge.codes["systems"]["loinc"]
    concept = resource.get("code")
    ref = f"ServiceRequest/{resource.get('id', '?')}"
    for kind in ("ihc", "ish", "ngs"):
        if any(c.get("system") == loinc and c.get("code") in codes[kind] for c in codings(concept)):
            return TestOrder(ref, kind)
    text = " ".join(concept_texts(concept)).lower()
    if any(w in text for w in codes["text_words"]):
        if any(w in text for w in codes["text_method_words"]):
            return TestOrder(ref, "ngs")
        if "ish" in text.split() or "fish" in text:
            return TestOrder(ref, "ish")
        if "ihc" in text or "immuno" in text:
            return TestOrder(ref, "ihc")
    return None
