"""FHIR resources -> typed facts: each HER2/RAS/ctDNA result with its date and source resource.

Follows docs/input-codes.md (the codes are in cards/codes.yaml). Unknown codes are ignored; values
or units that cannot be read are reported, never guessed. A HER2 result on file that cannot be
scored is an UnscoredResult (named, dated, with what it lacks and the laboratory's own call); a
HER2 test that is no criterion of the sources is a NotUsedResult (shown, never changes the status).
Results grouped by a DiagnosticReport (`result`) or a grouping Observation (`hasMember`) are read
with the group's specimen and date where they carry none themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from .fhir_read import ParsedResources, codings, concept_texts, has_code, parse_datetime
from .knowledge import Knowledge
from .lab_values import (
    IhcTextReader,
    Interpreter,
    Reader,
    copies_reader,
    percent_reader,
    percent_value,
    ratio_value,
    value_text,
)
from .medications import DrugMatcher, MedicationUse, medication_history
from .specimens import SpecimenInfo, SpecimenReader


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
    grouped_in: str | None = None  # the DiagnosticReport / grouping Observation that listed it

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


# What an unscored result lacks (UnscoredResult.lacks -> wording).
LACKS = {
    "score": "no 0/1+/2+/3+ score",
    "score-ambiguous": "no unambiguous 0/1+/2+/3+ score",
    "score-conflict": "no usable score (the score and its wording disagree)",
    "ratio": "no HER2/CEP17 ratio",
    "ratio-unit": "ratio without a usable unit",
    "ratio-copies": "a copy count (unit 'copies'), not a HER2/CEP17 ratio",
    "ratio-bound": "ratio given as a bound, not a value",
    "ihc-or-ish": "interpretation only, no IHC score or ISH ratio",
    "specimen": "no specimen type (tissue or plasma)",
    "specimen-serum": "serum specimen (the criteria use tissue or plasma)",
    "narrative": "narrative only (no structured result)",
    "members": "its grouped results were not received",
    "immunoassay": "coded as a tissue immunoassay, not an IHC 0/1+/2+/3+ score",
    "value": "no value",
    "amplification-contradicted": "reported present, but its copy number is at or below the normal (diploid) copy number, "
                                  "which contradicts amplification",
    "amplification-not-stated": "a copy-number variant reported present, with neither an amplification (gain) code nor a "
                                "copy number above the normal (diploid) 2: not known to be an amplification",
    "amplification-not-coded": "a tissue copy-number variant reported present without an amplification (gain) code: "
                               "a tissue copy number alone is not read as amplification",
}


@dataclass(frozen=True)
class UnscoredResult:
    """A HER2 result on file that cannot be scored (clinical decision 6.11).

    kind: ihc | ish | interpretation | ngs (specimen unknown, or a copy number that does not show
    amplification) | report (a HER2 DiagnosticReport with no structured HER2 result) | immunoassay (a
    tissue immunoassay with the laboratory's call). `lacks` is a key
    of LACKS; `interpretation` is the laboratory's own call (positive | negative | equivocal |
    indeterminate) when it gave one.
    """

    kind: str
    ref: str
    when: datetime | None
    test: str  # the test as the laboratory named it
    code: str | None  # "system|code" of the test
    lacks: str
    reported: str | None = None  # the value as sent ("Present", "2.3 mg", report text)
    interpretation: str | None = None
    origin: str | None = None  # tissue | plasma | serum | None
    specimen: str | None = None  # biopsy | surgical | None
    grouped_in: str | None = None
    derived_from: tuple[str, ...] = ()

    @property
    def lacks_text(self) -> str:
        return LACKS[self.lacks]


@dataclass(frozen=True)
class NotUsedResult:
    """A HER2-related result that is no criterion of the sources: shown as not used, never
    changes the status. `reason` is a key of codes.yaml `not_used_reasons` (or `unmapped-code`)."""

    ref: str
    when: datetime | None
    test: str
    code: str | None
    reason: str
    reason_text: str
    reported: str | None = None
    grouped_in: str | None = None


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
    unusable_results: int = 0  # HER2/RAS results on file that could not be used
    unreadable_conditions: list[str] = field(default_factory=list)  # Conditions that failed validation
    unscored: list[UnscoredResult] = field(default_factory=list)  # HER2 results on file, not scorable
    not_used: list[NotUsedResult] = field(default_factory=list)  # HER2 tests that are no criterion

    def latest(self, kind: str) -> Result | None:
        items = self.results.get(kind) or []
        return max(items, key=Result.sort_key) if items else None

    def count(self, kind: str) -> int:
        return len(self.results.get(kind) or [])

    def add(self, result: Result) -> None:
        self.results.setdefault(result.kind, []).append(result)

    def unscored_of(self, *kinds: str) -> list[UnscoredResult]:
        """Unscored results of these kinds (all when none given), most recent first."""
        items = [u for u in self.unscored if not kinds or u.kind in kinds]
        return sorted(items, key=lambda u: (u.when is not None, u.when.timestamp() if u.when else 0, u.ref), reverse=True)

    @property
    def her2_on_file(self) -> bool:
        """Any HER2 result on file, scored or not (never report such a patient as untested)."""
        return bool(self.unscored) or any(self.results.get(k) for k in ("ihc", "ish", "ngs_tissue", "ngs_plasma", "qpcr", "apcn"))

    @property
    def line(self) -> str:
        """first (no systemic anticancer drug in the history) or later."""
        return "later" if self.systemic_history else "first"


CODON = re.compile(r"(?:p\.)?\(?([A-Z][a-z]{2}|[A-Z])(\d+)", re.ASCII)


def codon_of(hgvs: str | None) -> int | None:
    """The codon of a protein change ("p.Gly12Asp", "p.G12D", "G12D", "NP_004976.2:p.Gly12Asp")."""
    if not hgvs:
        return None
    text = hgvs.strip()
    if "p." in text:
        text = text[text.rindex("p.") :]
    match = CODON.search(text)
    return int(match.group(2)) if match else None


@dataclass(frozen=True)
class Context:
    """What a grouping resource tells about the results it lists (used where they say nothing)."""

    grouped_in: str | None = None
    report: str | None = None  # the DiagnosticReport at the top of the grouping
    specimen: SpecimenInfo = SpecimenInfo()
    when: datetime | None = None
    method: str | None = None  # a grouping Observation's method (an ISH panel's "FISH")


USABLE_REPORT_STATUSES = {"final", "amended", "corrected", "appended"}
MAX_GROUP_DEPTH = 3


def observation_search_codes(codes: dict) -> list[str]:
    """`system|code` of every Observation code the fact layer reads (codes.yaml), in file order:
    the code list of the her2Observations prefetch template (docs/input-codes.md)."""
    loinc, local = codes["systems"]["loinc"], codes["systems"]["local"]
    found = [f"{loinc}|{e['code']}" for e in codes["observation_codes"]]
    return found + [f"{local}|{code}" for code, name in codes["local"].items()
                    if name in ("qpcr_cn", "apcn", "ctdna_fraction", "ish_copies_per_cell")]


def _when(resource: dict) -> datetime | None:
    when = parse_datetime(resource.get("effectiveDateTime")) or parse_datetime(resource.get("issued"))
    if when is None and isinstance(resource.get("effectivePeriod"), dict):
        when = parse_datetime(resource["effectivePeriod"].get("start"))
    return when


# ---------------------------------------------------------------- extraction


class FactReader:
    """Reads Facts out of ParsedResources using the codes in cards/codes.yaml."""

    def __init__(self, knowledge: Knowledge, matcher: DrugMatcher) -> None:
        self.k = knowledge
        self.codes = codes = knowledge.codes
        self.matcher = matcher
        systems = codes["systems"]
        self.loinc = systems["loinc"]
        self.local = systems["local"]
        self.snomed = systems["snomed"]
        self.icd10 = set(systems["icd10"])
        self.entries: dict[tuple[str, str], dict] = {(self.loinc, e["code"]): e for e in codes["observation_codes"]}
        self.entries.update({(self.local, code): {"code": code, "display": code, "carries": "local", "field": name}
                             for code, name in codes["local"].items()})
        self.specimens = SpecimenReader(codes)
        self.ihc_text = IhcTextReader(codes["ihc_text"])
        self.interpreter = Interpreter(codes)
        self.her2_words = re.compile("|".join(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])" for w in codes["report_words"]))

    def read(self, parsed: ParsedResources) -> Facts:
        facts = Facts()
        for issue in parsed.issues:
            facts.notes.append(issue)
            if issue.startswith("Observation/"):
                facts.unusable_results += 1
            elif issue.startswith("Condition/"):
                facts.unreadable_conditions.append(issue)
        contexts, contained, missing = self._groups(parsed)
        produced: set[str] = set()
        for obs, oid, ctx in self._observations(parsed, contexts, contained):
            before = self._size(facts)
            self._observation(obs, oid, parsed, facts, ctx)
            if ctx.report and self._size(facts) > before:
                produced.add(ctx.report)
        self._merge_ish_parts(facts)
        self._attach_cep17(self._observations(parsed, contexts, contained), facts)
        self._reports(parsed, facts, produced, missing)
        self._conditions(parsed, facts)
        self._history(parsed, facts)
        facts.notes = [self._named(note, parsed) for note in facts.notes]
        return facts

    RECORD = re.compile(r"^(Observation|DiagnosticReport)/[^\s:#]+(#[^\s:]+)?")

    def _named(self, note: str, parsed: ParsedResources) -> str:
        """A data-quality note names its result by test and date, never by record id (decision 6.10)."""
        match = self.RECORD.match(note)
        if match is None:
            return note
        ref = match.group(0).split("#")[0]
        resource = parsed.by_ref.get(ref) or parsed.rejected.get(ref) or {}
        concept = resource.get("code") if isinstance(resource, dict) else None
        texts = concept_texts(concept) + [c["code"] for c in codings(concept) if isinstance(c.get("code"), str)]
        when = _when(resource) if isinstance(resource, dict) and resource else None
        name = f"{texts[0] if texts else 'a HER2-related result'} of {when.date().isoformat() if when else 'unknown date'}"
        return name + note[match.end():]

    @staticmethod
    def _size(facts: Facts) -> int:
        return sum(map(len, facts.results.values())) + len(facts.variants) + len(facts.unscored) + len(facts.not_used)

    # -- grouping: DiagnosticReport.result and Observation.hasMember
    def _resolve(self, reference: Any, container: dict, parsed: ParsedResources) -> tuple[dict | None, str | None]:
        """(resource, its id for facts) for a Reference, contained in `container` or in the data."""
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(target, str):
            return None, None
        if target.startswith("#"):
            found = next((c for c in container.get("contained") or [] if isinstance(c, dict) and c.get("id") == target[1:]), None)
            owner = f"{container.get('resourceType')}/{container.get('id', '?')}"
            return (found, f"{owner}{target}") if found and found.get("resourceType") == "Observation" else (None, None)
        key = "/".join(target.split("/_history/")[0].split("/")[-2:])
        return parsed.by_ref.get(key), key

    def _groups(self, parsed: ParsedResources) -> tuple[dict[str, Context], list[tuple[dict, str, Context]], dict[str, int]]:
        """Context for every grouped Observation, the contained ones to read, and per report the
        number of listed results that were not received."""
        contexts: dict[str, Context] = {}
        contained: list[tuple[dict, str, Context]] = []
        missing: dict[str, int] = {}

        def link(refs: Any, container: dict, ctx: Context, depth: int) -> None:
            for reference in refs or []:
                member, key = self._resolve(reference, container, parsed)
                if member is None or key is None:
                    if ctx.report:
                        missing[ctx.report] = missing.get(ctx.report, 0) + 1
                    continue
                if key in contexts or member.get("resourceType") != "Observation":
                    continue
                contexts[key] = ctx
                if key.count("#"):
                    contained.append((member, key, ctx))
                if member.get("hasMember") and depth < MAX_GROUP_DEPTH:
                    link(member["hasMember"], member, self._context_of(member, key, ctx, parsed), depth + 1)

        for report in parsed.of("DiagnosticReport"):
            if report.get("status") in USABLE_REPORT_STATUSES:
                rref = f"DiagnosticReport/{report.get('id', '?')}"
                ctx = Context(rref, rref, self.specimens.of_all(report.get("specimen"), parsed, report), _when(report))
                link(report.get("result"), report, ctx, 0)
        groupers = [o for o in parsed.of("Observation") if o.get("hasMember")]
        members = {self._resolve(r, g, parsed)[1] for g in groupers for r in g["hasMember"]}
        groupers.sort(key=lambda g: f"Observation/{g.get('id', '?')}" in members)  # outermost first
        for obs in groupers:
            oid = f"Observation/{obs.get('id', '?')}"
            if oid not in contexts:
                link(obs["hasMember"], obs, self._context_of(obs, oid, Context(), parsed), 1)
        return contexts, contained, missing

    def _context_of(self, grouper: dict, ref: str, outer: Context, parsed: ParsedResources) -> Context:
        """The context a grouping Observation gives its members (its own specimen and date first)."""
        own = self.specimens.read(grouper.get("specimen"), parsed, grouper) if grouper.get("specimen") else SpecimenInfo()
        method = (concept_texts(grouper.get("method")) or [outer.method])[0]
        return Context(ref, outer.report, own if own.origin or own.kind else outer.specimen, _when(grouper) or outer.when, method)

    def _observations(self, parsed: ParsedResources, contexts: dict[str, Context],
                      contained: list[tuple[dict, str, Context]]) -> Iterator[tuple[dict, str, Context]]:
        for obs in parsed.of("Observation"):
            oid = f"Observation/{obs.get('id', '?')}"
            yield obs, oid, contexts.get(oid, Context())
        yield from contained

    # -- observations
    def _entry(self, concept: Any) -> dict | None:
        for coding in codings(concept):
            entry = self.entries.get((coding.get("system", ""), coding.get("code", "")))
            if entry is not None:
                return entry
        return None

    def _component(self, obs: dict, system: str, code: str) -> dict | None:
        for comp in obs.get("component") or []:
            if isinstance(comp, dict) and has_code(comp.get("code"), system, [code]):
                return comp
        return None

    def _origin(self, obs: dict, parsed: ParsedResources, ctx: Context) -> SpecimenInfo:
        """The Observation's own specimen; the group's where the Observation names none."""
        own = self.specimens.read(obs.get("specimen"), parsed, obs) if obs.get("specimen") else SpecimenInfo()
        if own.origin or own.kind:
            return own
        return SpecimenInfo(ctx.specimen.origin, ctx.specimen.kind, own.key or ctx.specimen.key)

    def _test_name(self, obs: dict, entry: dict) -> str:
        return (concept_texts(obs.get("code")) or [entry["display"]])[0]

    def _observation(self, obs: dict, oid: str, parsed: ParsedResources, facts: Facts, ctx: Context) -> None:
        entry = self._entry(obs.get("code"))
        if entry is None:
            self._unmapped(obs, oid, facts, ctx)
            return
        carries = entry["carries"]
        status = obs.get("status")
        if status not in self.codes["usable_statuses"]:
            if carries != "not_used":
                facts.notes.append(f"{oid} ignored: status '{status}'")
                facts.unusable_results += 1
            return
        when = _when(obs) or ctx.when
        spec = self._origin(obs, parsed, ctx)
        if carries == "not_used" and entry["reason"] == "cep17-alone" and ctx.grouped_in:
            return  # part of a grouped ISH test: attached to its ratio in _attach_cep17
        if carries == "not_used" and entry["reason"] == "tissue-immunoassay" and (call := self.interpreter.call(obs)):
            # the laboratory's call on a tissue immunoassay: perhaps an IHC coded otherwise; asked, never scored
            self._unscored(facts, UnscoredResult(
                "immunoassay", oid, when, self._test_name(obs, entry), self._code_of(obs, entry), "immunoassay",
                self._reported(obs), call, "tissue", spec.kind, ctx.grouped_in, self._derived(obs)))
        elif carries == "not_used":
            self._not_used(facts, oid, when, self._test_name(obs, entry), entry, entry["reason"], value_text(obs), ctx)
        elif carries == "ihc":
            self._ihc(obs, obs, oid, when, spec, entry, facts, ctx)
        elif carries.startswith("ish_"):
            self._ish(obs, obs, oid, when, spec, entry, facts, ctx)
        elif carries == "interpretation":
            self._interpretation(obs, oid, when, spec, entry, facts, ctx)
        elif carries == "variant":
            self._variant(obs, oid, when, spec, facts, ctx)
        elif carries == "local":
            self._local(obs, oid, entry["field"], when, spec, facts)

    def _unmapped(self, obs: dict, oid: str, facts: Facts, ctx: Context) -> None:
        """An Observation named HER2/ERBB2 whose code the service does not read: shown, not used."""
        texts = concept_texts(obs.get("code"))
        if texts and obs.get("status") in self.codes["usable_statuses"] and self._names_her2(" ".join(texts)):
            code = next((f"{c['system']}|{c['code']}" for c in codings(obs.get("code")) if "system" in c and "code" in c), None)
            self._not_used(facts, oid, _when(obs) or ctx.when, texts[0], None, "unmapped-code", value_text(obs), ctx, code)

    def _names_her2(self, text: str) -> bool:
        return self.her2_words.search(text.lower()) is not None

    def _not_used(self, facts: Facts, oid: str, when: datetime | None, test: str, entry: dict | None, reason: str,
                  reported: str | None, ctx: Context, code: str | None = None) -> None:
        code = f"{self.loinc}|{entry['code']}" if entry else code
        text = self.codes["not_used_reasons"][reason]
        facts.not_used.append(NotUsedResult(oid, when, test, code, reason, text, reported, ctx.grouped_in))

    def _unscored(self, facts: Facts, item: UnscoredResult) -> None:
        """A HER2 result on file that cannot be scored: the status card names it (not a note)."""
        facts.unscored.append(item)
        facts.unusable_results += 1

    def _unusable(self, facts: Facts, oid: str, what: str, problem: str) -> None:
        facts.notes.append(f"{oid}: {what} unusable ({problem})")
        facts.unusable_results += 1

    def _component_value(self, obs: dict, facts: Facts, oid: str, system: str, code: str, what: str, reader: Reader) -> float | None:
        """A component's valueQuantity read by `reader`; None when absent, noted when unusable."""
        comp = self._component(obs, system, code)
        if comp is None:
            return None
        value, problem = reader(comp.get("valueQuantity"))
        if value is None:
            self._unusable(facts, oid, what, problem or "unreadable")
        return value

    def _code_of(self, node: dict, entry: dict) -> str:
        return f"{self.loinc}|{entry['code']}" if (self.loinc, entry["code"]) in self.entries else entry["code"]

    # IHC
    def _ihc_score(self, node: dict) -> tuple[str | None, str | None, float | None]:
        """(score, lacks, % of cells from the text) of an IHC Observation or component."""
        concept = node.get("valueCodeableConcept")
        answers = self.codes["ihc_answers"]
        for coding in codings(concept):
            if coding.get("code") in answers:
                return answers[coding["code"]], None, None
        value = node.get("valueInteger")
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
            return ("0" if value == 0 else f"{value}+"), None, None
        texts = ([node["valueString"]] if isinstance(node.get("valueString"), str) else []) + concept_texts(concept)
        lacks = "score" if value_text(node) is not None else "value"
        for text in texts:
            read = self.ihc_text.read(text)
            if read.score:
                return read.score, None, read.percent_cells
            if read.problem in ("ambiguous", "conflict"):
                lacks = f"score-{read.problem}" if read.problem == "conflict" else "score-ambiguous"
        return None, lacks, None

    def _ihc(self, obs: dict, node: dict, oid: str, when, spec: SpecimenInfo, entry: dict, facts: Facts, ctx: Context,
             lab_call: str | None = None) -> None:
        score, lacks, text_percent = self._ihc_score(node)
        call = self.interpreter.call(node) or lab_call
        if score is None:
            self._unscored(facts, UnscoredResult(
                "ihc", oid, when, self._test_name(node, entry), self._code_of(node, entry), lacks or "score",
                self._reported(node), call, "tissue", spec.kind, ctx.grouped_in, self._derived(obs)))
            return
        values: dict[str, Any] = {"score": score}
        pct = self._component_value(node, facts, oid, self.local, "ihc-percent-cells", "% of stained cells", percent_reader(False))
        if pct is None and text_percent is not None:
            pct = text_percent
        if pct is not None:
            values["percent_cells"] = pct
        if call:
            values["lab_interpretation"] = call
        facts.add(Result("ihc", oid, when, values, origin="tissue", specimen=spec.kind, grouped_in=ctx.grouped_in))

    def _reported(self, node: dict) -> str | None:
        text = value_text(node)
        if text is None and node.get("dataAbsentReason"):
            reason = node["dataAbsentReason"]
            text = "no value: " + ((concept_texts(reason) or [c.get("code", "?") for c in codings(reason)] or ["?"])[0])
        return text

    def _derived(self, obs: dict) -> tuple[str, ...]:
        return tuple(r["reference"] for r in obs.get("derivedFrom") or [] if isinstance(r, dict) and isinstance(r.get("reference"), str))

    # ISH
    def _ish(self, obs: dict, node: dict, oid: str, when, spec: SpecimenInfo, entry: dict, facts: Facts, ctx: Context,
             lab_call: str | None = None) -> None:
        carries, comps = entry["carries"], self.codes["components"]
        values: dict[str, Any] = {}
        ratio_node = node if carries == "ish_ratio" else self._component(node, self.loinc, comps["ish_ratio"])
        lacks = problem = None
        if ratio_node is not None:
            ratio, problem, lacks = ratio_value(ratio_node)
            if ratio is not None:
                values["ratio"] = ratio
        if carries == "ish_copies":
            copies, copy_problem = copies_reader(node.get("valueQuantity"))
            if copies is None:
                self._unusable(facts, oid, "HER2 copies per cell", copy_problem or "unreadable")
            else:
                values["copies_per_cell"] = copies
        for key, system, code, what, reader in (
            ("copies_per_cell", self.loinc, comps["ish_copies"], "HER2 copies per cell", copies_reader),
            ("copies_per_cell", self.local, "erbb2-copies-per-cell", "HER2 copies per cell", copies_reader),
            ("percent_cells_amplified", self.local, "ish-percent-cells-amplified", "% of cells amplified", percent_reader(False)),
            ("cep17_per_cell", self.loinc, comps["cep17_copies"], "chromosome 17 copies per cell", copies_reader),
        ):
            if key not in values:
                value = self._component_value(node, facts, oid, system, code, what, reader)
                if value is not None:
                    values[key] = value
        method = node.get("method")
        values["method"] = (concept_texts(method) or [None])[0] if isinstance(method, dict) else ctx.method
        call = self.interpreter.call(node, presence_means_positive=carries == "ish_qualitative") or lab_call
        scored = "ratio" in values or "copies_per_cell" in values
        if scored:
            if call:
                values["lab_interpretation"] = call
            facts.add(Result("ish", oid, when, values, origin="tissue", specimen=spec.kind, grouped_in=ctx.grouped_in))
        if "ratio" in values or carries == "ish_copies" or (scored and problem is None):
            return
        if carries == "ish_panel" and node.get("hasMember") and not node.get("component"):
            return  # the members carry the results (read on their own, merged below)
        if lacks is None or (lacks == "value" and scored):
            lacks = "ratio" if carries == "ish_qualitative" or scored else "value"
        reported = self._reported(ratio_node if ratio_node is not None and carries != "ish_qualitative" else node)
        self._unscored(facts, UnscoredResult(
            "ish", oid, when, self._test_name(node, entry), self._code_of(node, entry), lacks, reported, call,
            "tissue", spec.kind, ctx.grouped_in, self._derived(obs)))

    def _merge_ish_parts(self, facts: Facts) -> None:
        """Within one group (report or panel), separate ratio and copies-per-cell Observations of one
        ISH test become one result: exactly one of them must hold the ratio."""
        by_group: dict[str, list[Result]] = {}
        for result in facts.results.get("ish") or []:
            if result.grouped_in:
                by_group.setdefault(result.grouped_in, []).append(result)
        for parts in by_group.values():
            with_ratio = [r for r in parts if "ratio" in r.values]
            if len(parts) < 2 or len(with_ratio) != 1:
                continue
            main = with_ratio[0]
            values = dict(main.values)
            for part in parts:
                for key, value in part.values.items():
                    if value is not None and values.get(key) is None:
                        values[key] = value
            facts.results["ish"] = [r for r in facts.results["ish"] if r not in parts] + [replace(main, values=values)]

    def _attach_cep17(self, observations: Iterator[tuple[dict, str, Context]], facts: Facts) -> None:
        """A grouped chromosome 17 count joins the ISH result of its group; alone it is not used."""
        code = self.codes["components"]["cep17_copies"]
        for obs, oid, ctx in observations:
            if not ctx.grouped_in or not has_code(obs.get("code"), self.loinc, [code]):
                continue
            if obs.get("status") not in self.codes["usable_statuses"]:
                continue
            ish = [r for r in facts.results.get("ish") or [] if r.grouped_in == ctx.grouped_in and "ratio" in r.values]
            value, _problem = copies_reader(obs.get("valueQuantity"))
            if len(ish) == 1 and value is not None and ish[0].values.get("cep17_per_cell") is None:
                facts.results["ish"] = [r for r in facts.results["ish"] if r is not ish[0]] + [
                    replace(ish[0], values={**ish[0].values, "cep17_per_cell": value})]
            else:
                entry = self.entries[(self.loinc, code)]
                self._not_used(facts, oid, _when(obs) or ctx.when, self._test_name(obs, entry), entry, "cep17-alone", value_text(obs), ctx)

    # the laboratory's HER2 interpretation (48676-1), possibly with IHC / ISH components
    def _interpretation(self, obs: dict, oid: str, when, spec: SpecimenInfo, entry: dict, facts: Facts, ctx: Context) -> None:
        call = self.interpreter.call(obs)
        embedded = [(comp, self._entry(comp.get("code"))) for comp in obs.get("component") or [] if isinstance(comp, dict)]
        embedded = [(comp, e) for comp, e in embedded if e and (e["carries"] == "ihc" or e["carries"].startswith("ish_"))]
        for comp, component_entry in embedded:
            if component_entry["carries"] == "ihc":
                self._ihc(obs, comp, oid, when, spec, component_entry, facts, ctx, lab_call=call)
            else:
                self._ish(obs, comp, oid, when, spec, component_entry, facts, ctx, lab_call=call)
        if not embedded:
            self._unscored(facts, UnscoredResult(
                "interpretation", oid, when, self._test_name(obs, entry), self._code_of(obs, entry), "ihc-or-ish",
                self._reported(obs), call, "tissue", spec.kind, ctx.grouped_in, self._derived(obs)))

    # Genomics Reporting variants
    def _gene(self, obs: dict) -> str | None:
        comp = self._component(obs, self.loinc, self.codes["components"]["gene_studied"])
        if comp is None:
            return None
        genes = self.codes["genes"]
        symbols = set(genes.values())
        concept = comp.get("valueCodeableConcept")
        for coding in codings(concept):
            code = coding.get("code")
            if isinstance(code, str):
                key = code if code.startswith("HGNC:") else f"HGNC:{code}"
                if key in genes:
                    return genes[key]
                if code.strip().upper() in symbols:
                    return code.strip().upper()
        for text in concept_texts(concept):
            if text.strip().upper() in symbols:
                return text.strip().upper()
        return None

    def _source_class(self, obs: dict) -> str | None:
        """germline | somatic | None, from component 48002-0 (codes, else the words)."""
        comp = self._component(obs, self.loinc, self.codes["components"]["genomic_source_class"])
        if comp is None:
            return None
        concept = comp.get("valueCodeableConcept")
        classes = self.codes["genomic_source_class"]
        found = {name for name, answers in classes.items() for c in codings(concept) if c.get("code") in answers}
        if not found:
            text = " ".join(concept_texts(concept)).lower()
            found = {name for name in classes if name in text}
        return next(iter(found)) if len(found) == 1 else None

    def _variant(self, obs: dict, oid: str, when, spec: SpecimenInfo, facts: Facts, ctx: Context) -> None:
        gene = self._gene(obs)
        if gene is None:
            return
        test = f"{gene} ({(concept_texts(obs.get('code')) or ['Genetic variant assessment'])[0]})"
        if self._source_class(obs) == "germline":
            self._not_used(facts, oid, when, test, None, "germline", value_text(obs), ctx)
            return
        present = self.interpreter.present(obs.get("valueCodeableConcept"))
        components = self.codes["components"]
        origin = spec.origin if spec.origin in ("tissue", "plasma") else None
        if gene == "ERBB2":
            change = self._component(obs, self.loinc, components["dna_change_type"])
            change_codes = {c.get("code") for c in codings((change or {}).get("valueCodeableConcept"))}
            copy_comp = self._component(obs, self.loinc, components["copy_number"])
            if change_codes & set(self.codes["copy_number_loss_types"]):
                self._not_used(facts, oid, when, test, None, "erbb2-copy-number-loss", value_text(obs), ctx)
                return
            gain = bool(change_codes & set(self.codes["copy_number_gain_types"]))
            if not (gain or change_codes & set(self.codes["copy_number_change_types"]) or (change is None and copy_comp is not None)):
                self._not_used(facts, oid, when, test, None, "erbb2-sequence-variant", value_text(obs), ctx)
                return
            if present is None:
                self._unscored(facts, UnscoredResult("ngs", oid, when, test, f"{self.loinc}|69548-6", "value", self._reported(obs),
                                                     self.interpreter.call(obs), origin, spec.kind, ctx.grouped_in))
                return
            values: dict[str, Any] = {"amplified": present}
            cn = self._component_value(obs, facts, oid, self.loinc, components["copy_number"], "ERBB2 copy number", copies_reader)
            if cn is not None:
                values["copy_number"] = cn
            neutral = self.codes["neutral_copy_number"]["value"]
            method_text = " ".join(concept_texts(obs.get("method"))).lower()
            qpcr = any(w in method_text for w in self.codes["specimen"]["qpcr_words"])
            lacks = None
            if present and (cn is None or cn <= neutral) and not (gain and cn is None):
                # a gain at or below the diploid copy number contradicts itself; a copy-number variant
                # (gain or loss) without a copy number above it is not known to be an amplification
                lacks = "amplification-contradicted" if gain else "amplification-not-stated"
            elif present and not gain and origin == "tissue" and not qpcr:
                # decision 7.4: tissue NGS gives no threshold in the sources; only a gain code is amplification
                lacks = "amplification-not-coded"
            if lacks:
                reported = "Present" + (f", copy number {cn:g}" if cn is not None else ", no copy number")
                self._unscored(facts, UnscoredResult("ngs", oid, when, test, f"{self.loinc}|69548-6", lacks,
                                                     reported, None, spec.origin, spec.kind, ctx.grouped_in))
                return
            if qpcr:
                kind, origin = "qpcr", origin or "tissue"
            elif origin == "plasma":
                kind = "ngs_plasma"
            elif origin == "tissue":
                kind = "ngs_tissue"
            else:
                self._unscored(facts, UnscoredResult(
                    "ngs", oid, when, test, f"{self.loinc}|69548-6", "specimen-serum" if spec.origin == "serum" else "specimen",
                    "Present" if present else "Absent", "positive" if present else "negative", spec.origin, spec.kind, ctx.grouped_in))
                return
            facts.add(Result(kind, oid, when, values, origin=origin, specimen_key=spec.key, grouped_in=ctx.grouped_in))
            return
        if present is None:
            self._unusable(facts, oid, f"{gene} result", "value is neither Present nor Absent")
            return
        if spec.origin == "serum":
            facts.notes.append(f"{oid}: {gene} result on a serum specimen (the blood criterion uses plasma); origin not used")
        aa = self._component(obs, self.loinc, components["amino_acid_change"])
        hgvs = None
        if aa is not None:
            concept = aa.get("valueCodeableConcept")
            texts = concept_texts(concept) + [c["code"] for c in codings(concept) if isinstance(c.get("code"), str)]
            if isinstance(aa.get("valueString"), str):
                texts.insert(0, aa["valueString"])
            hgvs = texts[0] if texts else None
        vaf = self._component_value(obs, facts, oid, self.loinc, components["allele_fraction"], f"{gene} allele fraction",
                                    percent_reader(True))
        rc = self._component_value(obs, facts, oid, self.local, "relative-clonality", f"{gene} relative clonality", percent_reader(False))
        facts.variants.append(Variant(gene, present, hgvs, codon_of(hgvs), vaf, rc, origin, spec.key, when, oid))

    def _local(self, obs: dict, oid: str, field_name: str, when, spec: SpecimenInfo, facts: Facts) -> None:
        q = obs.get("valueQuantity")
        if field_name == "ctdna_fraction":
            value, problem = percent_value(q, fraction_allowed=True)
        elif field_name in ("ihc_percent_cells", "ish_percent_cells_amplified", "relative_clonality"):
            return  # components only
        else:
            value, problem = copies_reader(q)
        local = next(code for code, name in self.codes["local"].items() if name == field_name)
        if value is None:
            self._unusable(facts, oid, local, problem or "unreadable")
            return
        if field_name == "apcn":
            facts.add(Result("apcn", oid, when, {"value": value}, origin="plasma", specimen_key=spec.key))
        elif field_name == "ctdna_fraction":
            facts.add(Result("ctdna_fraction", oid, when, {"percent": value}, origin="plasma", specimen_key=spec.key))
        elif field_name == "qpcr_cn":
            facts.add(Result("qpcr", oid, when, {"copy_number": value, "amplified": None}, origin="tissue", specimen_key=spec.key))
        elif field_name == "ish_copies_per_cell":
            facts.add(Result("ish", oid, when, {"copies_per_cell": value}, origin="tissue"))

    # -- DiagnosticReports with no structured HER2 result
    def _reports(self, parsed: ParsedResources, facts: Facts, produced: set[str], missing: dict[str, int]) -> None:
        for report in parsed.of("DiagnosticReport"):
            rref = f"DiagnosticReport/{report.get('id', '?')}"
            if rref in produced or not self._is_her2_report(report):
                continue
            if report.get("status") not in USABLE_REPORT_STATUSES:
                facts.notes.append(f"{rref} ignored: status '{report.get('status')}'")
                continue
            titles = [a["title"] for a in report.get("presentedForm") or [] if isinstance(a, dict) and isinstance(a.get("title"), str)]
            conclusion = report.get("conclusion") if isinstance(report.get("conclusion"), str) else None
            if conclusion or titles:
                lacks = "narrative"
            elif missing.get(rref):
                lacks = "members"
            else:
                lacks = "value"
            reported = (conclusion or (titles[0] if titles else None))
            if reported and len(reported) > 200:
                reported = reported[:197] + "..."
            calls = {self.interpreter.coded_call(c) for c in report.get("conclusionCode") or []} - {None}
            spec = self.specimens.of_all(report.get("specimen"), parsed, report)
            self._unscored(facts, UnscoredResult(
                "report", rref, _when(report), (concept_texts(report.get("code")) or ["HER2 report"])[0],
                next((f"{c['system']}|{c['code']}" for c in codings(report.get("code")) if "system" in c and "code" in c), None),
                lacks, reported, calls.pop() if len(calls) == 1 else None, spec.origin, spec.kind))

    def _is_her2_report(self, report: dict) -> bool:
        entry = self._entry(report.get("code"))
        if entry is not None:
            return entry["carries"] not in ("not_used", "variant", "local")
        texts = concept_texts(report.get("code")) + [report.get("conclusion") or ""]
        texts += [t for c in report.get("conclusionCode") or [] for t in concept_texts(c)]
        texts += [a.get("title") or "" for a in report.get("presentedForm") or [] if isinstance(a, dict)]
        return self._names_her2(" ".join(t for t in texts if isinstance(t, str)))

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
