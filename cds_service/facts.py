"""FHIR resources -> typed facts: each HER2/RAS/ctDNA result with its date and source resource.

Follows design/input-codes.md (held in cards/codes.yaml). Unknown codes are ignored; values or
units that cannot be read are reported as unusable, never guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .fhir_read import ParsedResources, codings, concept_texts, has_code, parse_datetime
from .knowledge import Knowledge
from .medications import DrugMatcher, MedicationUse, medication_history


@dataclass(frozen=True)
class Result:
    """One result of one kind. `values` holds the figures (score, ratio, copy number ...)."""

    kind: str
    ref: str
    when: datetime | None
    values: dict[str, Any]
    origin: str | None = None  # tissue | plasma | None (unknown)
    specimen: str | None = None  # biopsy | surgical | None
    specimen_key: str | None = None

    def sort_key(self) -> tuple:
        return (self.when is not None, self.when.timestamp() if self.when else 0, self.ref)


@dataclass(frozen=True)
class Variant:
    """A KRAS/NRAS/BRAF/PIK3CA (or other gene) variant assessment."""

    gene: str
    present: bool
    hgvs: str | None
    codon: int | None
    vaf: float | None  # percent
    reported_rc: float | None  # percent
    origin: str | None
    specimen_key: str | None
    when: datetime | None
    ref: str


@dataclass
class Facts:
    """Everything the assessment reads about one patient."""

    results: dict[str, list[Result]] = field(default_factory=dict)
    variants: list[Variant] = field(default_factory=list)
    tumour_types: dict[str, list[str]] = field(default_factory=dict)  # type -> condition texts
    other_diagnoses: list[str] = field(default_factory=list)
    conditions_available: bool = True
    observations_available: bool = True
    metastatic: bool | None = None
    history: list[MedicationUse] = field(default_factory=list)
    history_available: bool = True
    notes: list[str] = field(default_factory=list)  # ignored / unusable data, stated on the card
    systemic_history: bool = False
    trastuzumab_start: datetime | None = None
    trastuzumab_courses_ended: bool = False
    active_her2_drugs: frozenset[str] = frozenset()
    unusable_results: int = 0  # HER2/RAS results on file that could not be used
    unreadable_conditions: list[str] = field(default_factory=list)  # Conditions that failed validation

    def latest(self, kind: str) -> Result | None:
        items = self.results.get(kind) or []
        return max(items, key=Result.sort_key) if items else None

    def count(self, kind: str) -> int:
        return len(self.results.get(kind) or [])

    def add(self, result: Result) -> None:
        self.results.setdefault(result.kind, []).append(result)

    @property
    def line(self) -> str:
        """first (no systemic anticancer drug in the history) or later."""
        return "later" if self.systemic_history else "first"

    @property
    def after_trastuzumab(self) -> bool:
        return any("trastuzumab" in u.drugs for u in self.history)


# ---------------------------------------------------------------- values and units


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (bools, text, NaN, infinities, overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def quantity(q: Any, allowed_units: set[str | None]) -> tuple[float | None, str | None]:
    """(value, problem). A unit outside `allowed_units` is a problem, never converted."""
    if not isinstance(q, dict):
        return None, "no value"
    value = _number(q.get("value"))
    if value is None:
        return None, "value is not a number"
    unit = q.get("code") if q.get("code") is not None else q.get("unit")
    unit = unit.strip() if isinstance(unit, str) else unit
    if unit not in allowed_units:
        return None, f"unit {unit!r} not understood"
    return value, None


def percent_value(q: Any, fraction_allowed: bool) -> tuple[float | None, str | None]:
    """A percentage from `%`, or from a 0-1 fraction with unit `1` where the contract allows it."""
    value, problem = quantity(q, {"%", "1", None} if fraction_allowed else {"%"})
    if value is None:
        return None, problem
    unit = q.get("code") if q.get("code") is not None else q.get("unit")
    if unit in ("1", None):
        if not 0 <= value <= 1:
            return None, f"fraction {value} outside 0-1"
        value *= 100
    if not 0 <= value <= 100:
        return None, f"percentage {value} outside 0-100"
    return value, None


RATIO_UNITS = {None, "{ratio}", "ratio", "1", "{Ratio}"}
COPY_UNITS = {None, "1", "{copies}", "{copies}/{cell}", "/{cell}", "{copies/cell}", "{copy number}", "{CopyNumber}"}


def percent_reader(fraction_allowed: bool) -> Callable[[Any], tuple[float | None, str | None]]:
    return lambda q: percent_value(q, fraction_allowed=fraction_allowed)


def copies_reader(q: Any) -> tuple[float | None, str | None]:
    return quantity(q, COPY_UNITS)


def ratio_value(obs: dict) -> tuple[float | None, str | None]:
    if isinstance(obs.get("valueQuantity"), dict):
        value, problem = quantity(obs["valueQuantity"], RATIO_UNITS)
    elif isinstance(obs.get("valueRatio"), dict):
        num = _number((obs["valueRatio"].get("numerator") or {}).get("value"))
        den = _number((obs["valueRatio"].get("denominator") or {}).get("value"))
        value, problem = (num / den, None) if num is not None and den else (None, "ratio not readable")
    else:
        return None, "no ratio value"
    if value is not None and value < 0:
        return None, "negative ratio"
    return value, problem


IHC_TEXT = re.compile(r"^\s*(?:her2\s*)?(?:ihc\s*)?(?:score\s*)?([0-3])\s*(\+)?\s*$", re.IGNORECASE)


def ihc_score(obs: dict, answers: dict[str, str]) -> str | None:
    concept = obs.get("valueCodeableConcept")
    for coding in codings(concept):
        if coding.get("code") in answers:
            return answers[coding["code"]]
    texts = concept_texts(concept)
    if isinstance(obs.get("valueString"), str):
        texts.append(obs["valueString"])
    for text in texts:
        match = IHC_TEXT.match(text)
        if match:
            return "0" if match.group(1) == "0" else f"{match.group(1)}+"
        if text.strip().lower() == "indeterminate":
            return "indeterminate"
    value = obs.get("valueInteger")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
        return "0" if value == 0 else f"{value}+"
    return None


CODON = re.compile(r"(?:p\.)?\(?([A-Z][a-z]{2}|[A-Z])(\d+)", re.ASCII)


def codon_of(hgvs: str | None) -> int | None:
    if not hgvs:
        return None
    match = CODON.search(hgvs.strip())
    return int(match.group(2)) if match else None


# ---------------------------------------------------------------- extraction


class FactReader:
    """Reads Facts out of ParsedResources using the codes in cards/codes.yaml."""

    def __init__(self, knowledge: Knowledge, matcher: DrugMatcher) -> None:
        self.k = knowledge
        self.codes = knowledge.codes
        self.matcher = matcher
        systems = self.codes["systems"]
        self.loinc = systems["loinc"]
        self.local = systems["local"]
        self.snomed = systems["snomed"]
        self.icd10 = set(systems["icd10"])

    def read(self, parsed: ParsedResources) -> Facts:
        facts = Facts()
        for issue in parsed.issues:
            facts.notes.append(issue)
            if issue.startswith("Observation/"):
                facts.unusable_results += 1
            elif issue.startswith("Condition/"):
                facts.unreadable_conditions.append(issue)
        for obs in parsed.of("Observation"):
            self._observation(obs, parsed, facts)
        self._conditions(parsed, facts)
        self._history(parsed, facts)
        return facts

    # -- observations
    def _component(self, obs: dict, system: str, code: str) -> dict | None:
        for comp in obs.get("component") or []:
            if isinstance(comp, dict) and has_code(comp.get("code"), system, [code]):
                return comp
        return None

    def _local_code(self, concept: Any) -> str | None:
        for coding in codings(concept):
            if coding.get("system") == self.local and coding.get("code") in self.codes["observations"]["local"]:
                return coding["code"]
        return None

    def _origin(self, obs: dict, parsed: ParsedResources) -> tuple[str | None, str | None, str | None]:
        """(tissue|plasma|None, biopsy|surgical|None, specimen key) from the Observation's specimen."""
        spec_codes = self.codes["specimen"]
        ref = obs.get("specimen") if isinstance(obs.get("specimen"), dict) else {}
        texts: list[str] = [ref["display"]] if isinstance(ref.get("display"), str) else []
        snomed: set[str] = set()
        reference = ref.get("reference") if isinstance(ref.get("reference"), str) else None
        specimen = None
        if reference:
            if reference.startswith("#"):
                specimen = next((c for c in obs.get("contained") or [] if isinstance(c, dict) and c.get("id") == reference[1:]), None)
            else:
                specimen = parsed.by_ref.get("/".join(reference.split("/")[-2:]))
        if isinstance(specimen, dict):
            texts += concept_texts(specimen.get("type"))
            snomed |= {c.get("code") for c in codings(specimen.get("type")) if c.get("system") == self.snomed}
            collection = specimen.get("collection") if isinstance(specimen.get("collection"), dict) else {}
            texts += concept_texts(collection.get("method"))
        words = " ".join(texts).lower()
        plasma = any(w in words for w in spec_codes["plasma_words"]) or bool(snomed & set(spec_codes["plasma_snomed"]))
        tissue = any(w in words for w in spec_codes["tissue_words"]) or bool(snomed & set(spec_codes["tissue_snomed"]))
        origin = "plasma" if plasma and not tissue else "tissue" if tissue and not plasma else None
        kind = None
        if any(w in words for w in spec_codes["biopsy_words"]):
            kind = "biopsy"
        elif any(w in words for w in spec_codes["surgical_words"]):
            kind = "surgical"
        key = reference or (ref.get("display") if isinstance(ref.get("display"), str) else None)
        return origin, kind, key

    def _observation(self, obs: dict, parsed: ParsedResources, facts: Facts) -> None:
        oid = f"Observation/{obs.get('id', '?')}"
        code = obs.get("code")
        obs_codes = self.codes["observations"]
        local = self._local_code(code)
        is_ihc = has_code(code, self.loinc, obs_codes["ihc"]["loinc"])
        is_ish = has_code(code, self.loinc, obs_codes["ish"]["loinc"]) or has_code(code, self.loinc, obs_codes["ish_panel"]["loinc"])
        is_variant = has_code(code, self.loinc, obs_codes["variant"]["loinc"])
        if not (is_ihc or is_ish or is_variant or local):
            return
        status = obs.get("status")
        if status not in self.codes["usable_statuses"]:
            facts.notes.append(f"{oid} ignored: status '{status}'")
            facts.unusable_results += 1
            return
        when = parse_datetime(obs.get("effectiveDateTime")) or parse_datetime(obs.get("issued"))
        if when is None and isinstance(obs.get("effectivePeriod"), dict):
            when = parse_datetime(obs["effectivePeriod"].get("start"))
        origin, specimen, key = self._origin(obs, parsed)
        if is_ihc:
            self._ihc(obs, oid, when, specimen, facts)
        elif is_ish:
            self._ish(obs, oid, when, specimen, facts)
        elif is_variant:
            self._variant(obs, oid, when, origin, key, facts)
        elif local:
            self._local(obs, oid, local, when, origin, key, facts)

    def _component_value(
        self, obs: dict, facts: Facts, oid: str, system: str, code: str, what: str, reader: Callable[[Any], tuple[float | None, str | None]]
    ) -> float | None:
        """A component's valueQuantity read by `reader`; None when absent, noted when unusable."""
        comp = self._component(obs, system, code)
        if comp is None:
            return None
        value, problem = reader(comp.get("valueQuantity"))
        if value is None:
            self._unusable(facts, oid, what, problem or "unreadable")
        return value

    def _unusable(self, facts: Facts, oid: str, what: str, problem: str) -> None:
        facts.notes.append(f"{oid}: {what} unusable ({problem})")
        facts.unusable_results += 1

    def _ihc(self, obs, oid, when, specimen, facts) -> None:
        score = ihc_score(obs, self.codes["ihc_answers"])
        if score is None:
            self._unusable(facts, oid, "HER2 IHC score", "value not recognised")
            return
        values: dict[str, Any] = {"score": score}
        pct = self._component_value(obs, facts, oid, self.local, "ihc-percent-cells", "% of stained cells", percent_reader(False))
        if pct is not None:
            values["percent_cells"] = pct
        facts.add(Result("ihc", oid, when, values, origin="tissue", specimen=specimen))

    def _ish(self, obs, oid, when, specimen, facts) -> None:
        source = obs
        if has_code(obs.get("code"), self.loinc, self.codes["observations"]["ish_panel"]["loinc"]):
            source = self._component(obs, self.loinc, "49683-6") or {}
        ratio, problem = ratio_value(source)
        values: dict[str, Any] = {}
        if ratio is None:
            self._unusable(facts, oid, "ISH HER2/CEP17 ratio", problem or "unreadable")
        else:
            values["ratio"] = ratio
        for key, code, what, reader in (
            ("copies_per_cell", "erbb2-copies-per-cell", "HER2 copies per cell", copies_reader),
            ("percent_cells_amplified", "ish-percent-cells-amplified", "% of cells amplified", percent_reader(False)),
        ):
            value = self._component_value(obs, facts, oid, self.local, code, what, reader)
            if value is not None:
                values[key] = value
        method = obs.get("method")
        values["method"] = (concept_texts(method) or [None])[0] if isinstance(method, dict) else None
        if "ratio" in values or "copies_per_cell" in values:
            facts.add(Result("ish", oid, when, values, origin="tissue", specimen=specimen))

    def _gene(self, obs: dict) -> str | None:
        comp = self._component(obs, self.loinc, self.codes["components"]["gene_studied"])
        if comp is None:
            return None
        genes = self.codes["genes"]
        concept = comp.get("valueCodeableConcept")
        for coding in codings(concept):
            code = coding.get("code")
            if isinstance(code, str):
                key = code if code.startswith("HGNC:") else f"HGNC:{code}"
                if key in genes:
                    return genes[key]
        for text in concept_texts(concept):
            if text.strip().upper() in genes.values():
                return text.strip().upper()
        return None

    def _presence(self, obs: dict) -> bool | None:
        answers = self.codes["presence_answers"]
        for coding in codings(obs.get("valueCodeableConcept")):
            if coding.get("code") in answers:
                return answers[coding["code"]]
        return None

    def _variant(self, obs, oid, when, origin, key, facts) -> None:
        gene = self._gene(obs)
        present = self._presence(obs)
        if gene is None:
            return
        if present is None:
            self._unusable(facts, oid, f"{gene} result", "value is neither Present nor Absent")
            return
        components = self.codes["components"]
        change = self._component(obs, self.loinc, components["dna_change_type"])
        change_codes = {c.get("code") for c in codings((change or {}).get("valueCodeableConcept"))}
        if gene == "ERBB2":
            if not change_codes & set(self.codes["copy_number_change_types"]):
                facts.notes.append(f"{oid}: ERBB2 result that is not a copy-number change; not used")
                return
            values: dict[str, Any] = {"amplified": present}
            cn = self._component_value(obs, facts, oid, self.loinc, components["copy_number"], "ERBB2 copy number", copies_reader)
            if cn is not None:
                values["copy_number"] = cn
            method_text = " ".join(concept_texts(obs.get("method"))).lower()
            if any(w in method_text.split() or w in method_text for w in self.codes["specimen"]["qpcr_words"]):
                kind = "qpcr"
                origin = origin or "tissue"
            elif origin == "plasma":
                kind = "ngs_plasma"
            elif origin == "tissue":
                kind = "ngs_tissue"
            else:
                facts.notes.append(f"{oid}: ERBB2 copy-number result whose specimen (tissue or plasma) cannot be told; not used")
                facts.unusable_results += 1
                return
            facts.add(Result(kind, oid, when, values, origin=origin, specimen_key=key))
            return
        aa = self._component(obs, self.loinc, components["amino_acid_change"])
        hgvs = None
        if aa is not None:
            texts = concept_texts(aa.get("valueCodeableConcept")) + [
                c["code"] for c in codings(aa.get("valueCodeableConcept")) if isinstance(c.get("code"), str)
            ]
            if isinstance(aa.get("valueString"), str):
                texts.insert(0, aa["valueString"])
            hgvs = texts[0] if texts else None
        vaf = self._component_value(
            obs, facts, oid, self.loinc, components["allele_fraction"], f"{gene} allele fraction", percent_reader(True)
        )
        rc = self._component_value(obs, facts, oid, self.local, "relative-clonality", f"{gene} relative clonality", percent_reader(False))
        facts.variants.append(Variant(gene, present, hgvs, codon_of(hgvs), vaf, rc, origin, key, when, oid))

    def _local(self, obs, oid, local, when, origin, key, facts) -> None:
        field_name = self.codes["observations"]["local"][local]
        q = obs.get("valueQuantity")
        if field_name == "ctdna_fraction":
            value, problem = percent_value(q, fraction_allowed=True)
        elif field_name in ("ihc_percent_cells", "ish_percent_cells_amplified", "relative_clonality"):
            return  # components only
        else:
            value, problem = copies_reader(q)
        if value is None:
            self._unusable(facts, oid, local, problem or "unreadable")
            return
        if field_name == "apcn":
            facts.add(Result("apcn", oid, when, {"value": value}, origin="plasma", specimen_key=key))
        elif field_name == "ctdna_fraction":
            facts.add(Result("ctdna_fraction", oid, when, {"percent": value}, origin="plasma", specimen_key=key))
        elif field_name == "qpcr_cn":
            facts.add(Result("qpcr", oid, when, {"copy_number": value, "amplified": None}, origin="tissue", specimen_key=key))
        elif field_name == "ish_copies_per_cell":
            facts.add(Result("ish", oid, when, {"copies_per_cell": value}, origin="tissue"))

    # -- conditions
    def _tumour_type(self, concept: Any) -> str | None:
        diag = self.codes["diagnoses"]
        for coding in codings(concept):
            code = coding.get("code")
            if not isinstance(code, str):
                continue
            for ttype in ("colorectal", "gastric"):
                if coding.get("system") in self.icd10 and any(code.upper().startswith(p) for p in diag[ttype]["icd10_prefixes"]):
                    return ttype
                if coding.get("system") == self.snomed and code in diag[ttype]["snomed"]:
                    return ttype
        text = " ".join(concept_texts(concept)).lower()
        if any(w in text for w in diag["cancer_words"]):
            for ttype in ("gastric", "colorectal"):
                if any(re.search(rf"\b{re.escape(w)}\b", text) for w in diag[ttype]["site_words"]):
                    return ttype
        return None

    def _is_metastatic(self, condition: dict) -> bool:
        diag = self.codes["diagnoses"]["metastatic"]
        for coding in codings(condition.get("code")):
            code = coding.get("code")
            if (
                coding.get("system") in self.icd10
                and isinstance(code, str)
                and any(code.upper().startswith(p) for p in diag["icd10_prefixes"])
            ):
                return True
        texts = concept_texts(condition.get("code"))
        for stage in condition.get("stage") or []:
            if isinstance(stage, dict):
                texts += concept_texts(stage.get("summary"))
        joined = " ".join(texts).lower()
        return any(w in joined for w in diag["words"])

    def _conditions(self, parsed: ParsedResources, facts: Facts) -> None:
        excluded = set(self.codes["diagnoses"]["excluded_verification"])
        for condition in parsed.of("Condition"):
            verification = {c.get("code") for c in codings(condition.get("verificationStatus"))}
            if verification & excluded:
                continue
            label = (concept_texts(condition.get("code")) or [f"Condition/{condition.get('id', '?')}"])[0]
            ttype = self._tumour_type(condition.get("code"))
            if ttype:
                facts.tumour_types.setdefault(ttype, []).append(label)
            if self._is_metastatic(condition):
                facts.metastatic = True
            elif not ttype:
                facts.other_diagnoses.append(label)
        if facts.metastatic is None and facts.tumour_types:
            facts.metastatic = False

    # -- medication history
    def _history(self, parsed: ParsedResources, facts: Facts) -> None:
        facts.history = medication_history(parsed, self.matcher)
        facts.systemic_history = any(self.matcher.is_systemic(set(u.drugs)) for u in facts.history)
        trastuzumab = [u for u in facts.history if "trastuzumab" in u.drugs]
        starts = [u.start for u in trastuzumab if u.start]
        facts.trastuzumab_start = min(starts) if starts else None
        facts.trastuzumab_courses_ended = bool(trastuzumab) and all(u.status in ("completed", "stopped") for u in trastuzumab)
        facts.active_her2_drugs = frozenset(
            d
            for u in facts.history
            if u.status in ("active", "on-hold", None)
            for d in self.matcher.of_class(set(u.drugs), "her2-directed")
        )
