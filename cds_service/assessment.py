"""Facts + knowledge -> assessment per tumour type: status, criteria, therapies, trials, tests.

Pure functions: no I/O, no Flask, no FHIR JSON. Every threshold comes from the knowledge files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .criteria import MET, NOT_MET, UNKNOWN, Outcome, evaluate
from .facts import Facts, Result, Variant
from .knowledge import Knowledge
from .trial_registry import OPEN_STATUSES

OFFERED_TRIAL_STATUS = {"recruiting", "not-yet-recruiting", "ongoing"}


@dataclass
class RasStatus:
    """RAS for the TRIUMPH blood criterion and the dual-blockade caution."""

    wild_type: bool | None
    mutant: list[str] = field(default_factory=list)  # descriptions of qualifying mutations
    lines: list[str] = field(default_factory=list)  # what was found, for the card
    missing: list[str] = field(default_factory=list)


@dataclass
class CriterionResult:
    id: str
    label: str
    outcome: Outcome


@dataclass
class TrialMatch:
    trial: dict
    arm: str | None
    notes: list[str]
    registry: dict | None = None  # the overlay's entry when a registry refresh is in use


@dataclass
class TestDue:
    suggestion_id: str
    detail: str


@dataclass
class Assessment:
    """Everything the cards say about one tumour type."""

    tumour_type: str
    status: str
    basis: list[str]
    criteria: list[CriterionResult]
    results: list[tuple[str, Result]]
    findings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    copy_number: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # evidence note ids to show
    therapies: list[tuple[dict, list[str]]] = field(default_factory=list)
    therapy_gaps: list[str] = field(default_factory=list)
    trials: list[TrialMatch] = field(default_factory=list)
    trials_unassessable: list[tuple[dict, list[str]]] = field(default_factory=list)
    trials_closed: list[tuple[dict, str]] = field(default_factory=list)  # matching, but not open per registry
    overlay: Any = None
    tests: list[TestDue] = field(default_factory=list)
    ras: RasStatus | None = None
    view: dict[str, Any] = field(default_factory=dict)
    results_predate_trastuzumab: bool = False

    @property
    def met(self) -> list[str]:
        return [c.id for c in self.criteria if c.outcome.result == MET]

    @property
    def not_met(self) -> list[str]:
        return [c.id for c in self.criteria if c.outcome.result == NOT_MET]

    @property
    def unknown(self) -> list[str]:
        return [c.id for c in self.criteria if c.outcome.result == UNKNOWN]


# ---------------------------------------------------------------- RAS


def _sample_key(v: Variant) -> Any:
    return v.specimen_key or (v.when.isoformat() if v.when else None)


def relative_clonality(variant: Variant, variants: list[Variant]) -> float | None:
    """Reported RC, else VAF / highest VAF in the same plasma sample x 100."""
    if variant.reported_rc is not None:
        return variant.reported_rc
    if variant.vaf is None:
        return None
    key = _sample_key(variant)
    peers = [
        v.vaf for v in variants if v.present and v.vaf is not None and v.origin == "plasma" and key is not None and _sample_key(v) == key
    ]
    top = max(peers, default=None)
    return variant.vaf / top * 100 if top else None


def ras_status(facts: Facts, knowledge: Knowledge) -> RasStatus:
    cfg = knowledge.crc["ras"]
    codons, limit = set(cfg["codons"]), cfg["relative_clonality_max_percent"]
    status = RasStatus(wild_type=None)
    gene_state: dict[str, str] = {}
    for gene in cfg["genes"]:
        found = [v for v in facts.variants if v.gene == gene]
        if not found:
            status.missing.append(f"no {gene} result")
            gene_state[gene] = "untested"
            continue
        state = "wild-type"
        for v in found:
            if not v.present:
                status.lines.append(f"{gene} wild-type ({v.origin or 'origin unknown'}, {_date(v.when)}, {v.ref})")
                continue
            where = f"{gene} {v.hgvs or '(change not given)'}"
            if v.codon is None or v.codon not in codons:
                status.lines.append(f"{where}: codon {v.codon if v.codon else 'not given'} is outside the TRIUMPH list ({v.ref})")
                if v.codon is None:
                    state = "unknown" if state == "wild-type" else state
                continue
            if v.origin == "tissue":
                status.mutant.append(f"{where} in tissue ({_date(v.when)}, {v.ref})")
                state = "mutant"
            elif v.origin == "plasma":
                rc = relative_clonality(v, facts.variants)
                if rc is None:
                    status.lines.append(f"{where} in plasma: relative clonality cannot be computed (no allele fractions) ({v.ref})")
                    state = "unknown" if state != "mutant" else state
                elif rc > limit:
                    status.mutant.append(f"{where} in plasma, relative clonality {rc:.0f}% (> {limit:g}%) ({_date(v.when)}, {v.ref})")
                    state = "mutant"
                else:
                    status.lines.append(
                        f"{where} in plasma, relative clonality {rc:.0f}% (≤ {limit:g}%: counts as wild-type for TRIUMPH) ({v.ref})"
                    )
            else:
                status.lines.append(f"{where}: specimen (tissue or plasma) cannot be told; not used ({v.ref})")
                state = "unknown" if state != "mutant" else state
        gene_state[gene] = state
    if any(s == "mutant" for s in gene_state.values()):
        status.wild_type = False
    elif all(s == "wild-type" for s in gene_state.values()):
        status.wild_type = True
    return status


# ---------------------------------------------------------------- helpers


def _date(when: datetime | None) -> str:
    return when.date().isoformat() if when else "date not recorded"


def describe(kind: str, r: Result) -> str:
    v = r.values
    if kind == "ihc":
        pct = f" in {v['percent_cells']:g}% of tumour cells" if "percent_cells" in v else " (% of cells not reported)"
        spec = f", {r.specimen} specimen" if r.specimen else ", specimen type not recorded"
        return f"IHC {v['score']}{pct if v['score'] not in ('0', 'indeterminate') else ''}{spec}"
    if kind == "ish":
        parts = []
        if "ratio" in v:
            parts.append(f"HER2/CEP17 ratio {v['ratio']:g}")
        if "copies_per_cell" in v:
            parts.append(f"{v['copies_per_cell']:g} HER2 copies per cell")
        if "percent_cells_amplified" in v:
            parts.append(f"{v['percent_cells_amplified']:g}% of cells amplified")
        method = f" ({v['method']})" if v.get("method") else ""
        return "ISH" + method + ": " + ", ".join(parts)
    if kind in ("ngs_tissue", "ngs_plasma", "qpcr"):
        label = {"ngs_tissue": "Tissue NGS", "ngs_plasma": "Plasma (ctDNA) NGS", "qpcr": "Tissue qPCR"}[kind]
        amp = {True: "ERBB2 amplified", False: "no ERBB2 amplification", None: "ERBB2 copy number"}[v.get("amplified")]
        cn = f", copy number {v['copy_number']:g}" if "copy_number" in v else ""
        return f"{label}: {amp}{cn}"
    if kind == "apcn":
        return f"Adjusted plasma copy number (ApCN) {v['value']:g}"
    if kind == "ctdna_fraction":
        return f"ctDNA fraction {v['percent']:g}%"
    return kind


RESULT_KINDS = ("ihc", "ish", "ngs_tissue", "qpcr", "ngs_plasma", "apcn", "ctdna_fraction")


def build_view(facts: Facts, ras: RasStatus) -> dict[str, Any]:
    """The values criteria are written against (most recent result of each kind)."""
    ihc, ish = facts.latest("ihc"), facts.latest("ish")
    plasma, tissue = facts.latest("ngs_plasma"), facts.latest("ngs_tissue")
    return {
        "ihc_score": ihc.values["score"] if ihc else None,
        "ihc_percent_cells": ihc.values.get("percent_cells") if ihc else None,
        "ihc_specimen": ihc.specimen if ihc else None,
        "ish_ratio": ish.values.get("ratio") if ish else None,
        "ish_copies_per_cell": ish.values.get("copies_per_cell") if ish else None,
        "ish_percent_cells_amplified": ish.values.get("percent_cells_amplified") if ish else None,
        "plasma_erbb2_amplified": plasma.values.get("amplified") if plasma else None,
        "tissue_ngs_amplified": tissue.values.get("amplified") if tissue else None,
        "ras_wild_type": ras.wild_type,
    }


def _evaluate_criteria(criteria: list[dict], view: dict) -> list[CriterionResult]:
    return [CriterionResult(c["id"], c["label"], evaluate(view, c["arms"])) for c in criteria]


def _her2_treatment_start(facts: Facts, knowledge: Knowledge) -> datetime | None:
    her2 = {d["id"] for d in knowledge.drugs["drugs"] if "her2-directed" in d["classes"]}
    starts = [u.start for u in facts.history if u.start and set(u.drugs) & her2]
    return min(starts) if starts else None


def _common_findings(a: Assessment, facts: Facts, knowledge: Knowledge) -> None:
    start = _her2_treatment_start(facts, knowledge)
    for kind in RESULT_KINDS:
        latest = facts.latest(kind)
        if latest is None:
            continue
        a.results.append((kind, latest))
        if facts.count(kind) > 1:
            a.findings.append(f"{facts.count(kind)} {describe_kind(kind)} results on file; the most recent ({_date(latest.when)}) is used.")
        if start and latest.when and latest.when < start and kind in ("ihc", "ish", "ngs_tissue", "ngs_plasma"):
            a.findings.append(
                f"Possibly stale: the {describe_kind(kind)} result ({_date(latest.when)}) "
                f"predates HER2-directed treatment started {_date(start)}."
            )
    a.findings += facts.notes


def describe_kind(kind: str) -> str:
    return {
        "ihc": "IHC",
        "ish": "ISH",
        "ngs_tissue": "tissue NGS",
        "qpcr": "tissue qPCR",
        "ngs_plasma": "plasma NGS",
        "apcn": "ApCN",
        "ctdna_fraction": "ctDNA fraction",
    }[kind]


# ---------------------------------------------------------------- colorectal


def _copy_number_lines(facts: Facts, knowledge: Knowledge) -> list[str]:
    cfg = knowledge.cutoffs
    measured = {
        "tissue-cn-qpcr": facts.latest("qpcr"),
        "tissue-cn-ngs": facts.latest("ngs_tissue"),
        "plasma-apcn": facts.latest("apcn"),
    }
    lines = []
    for measurement, result in measured.items():
        if result is None:
            continue
        value = result.values.get("value", result.values.get("copy_number"))
        if value is None:
            continue
        for cut in (c for c in cfg["cutoffs"] if c["measurement"] == measurement):
            side = "≥" if value >= cut["cutoff"] else "<"
            group = "higher" if side == "≥" else "lower"
            lines.append(
                f"{cfg['measurements'][measurement]} {value:g} {side} {cut['cutoff']:g} ({cut['trial']}: {group} group; {cut['result']})"
            )
    plasma = facts.latest("ngs_plasma")
    if plasma and "copy_number" in plasma.values:
        lines.append(
            f"Plasma copy number {plasma.values['copy_number']:g} is not adjusted for ctDNA fraction; "
            "the Table 2 plasma cut-offs apply to ApCN only."
        )
    return lines


def assess_colorectal(facts: Facts, knowledge: Knowledge, overlay: Any = None) -> Assessment:
    crc = knowledge.crc
    ras = ras_status(facts, knowledge)
    view = build_view(facts, ras)
    criteria = _evaluate_criteria(crc["criteria"], view)
    met = {c.id for c in criteria if c.outcome.result == MET}
    basis = sorted({c["basis"] for c in crc["criteria"] if c["id"] in met}, key=["tissue", "plasma"].index)
    has_tissue = view["ihc_score"] is not None or view["ish_ratio"] is not None
    equivocal = evaluate(view, crc["equivocal"]["arms"]).result == MET
    low = evaluate(view, crc["her2_low"]["arms"]).result == MET
    tissue_unknown = [c for c in criteria if c.outcome.result == UNKNOWN and c.id in ("HERACLES", "TRIUMPH-tissue", "harmonized-10pct")]
    if met:
        status = "positive"
    elif view["ihc_score"] == "indeterminate":
        status = "indeterminate"
    elif equivocal:
        status = "equivocal"
    elif low:
        status = "low"
    elif view["ihc_score"] == "3+" and tissue_unknown:
        status = "indeterminate"
    elif has_tissue:
        status = "negative"
    elif any(facts.latest(k) for k in ("ngs_tissue", "ngs_plasma", "qpcr")) or facts.unusable_results:
        status = "indeterminate"
    else:
        status = "not-tested"
    a = Assessment("colorectal", status, basis, criteria, [], ras=ras, view=view)
    _common_findings(a, facts, knowledge)
    a.copy_number = _copy_number_lines(facts, knowledge)
    _crc_missing_and_contradictions(a, facts, view, ras)
    _crc_notes(a, facts, view, ras, status)
    if status == "positive":
        _crc_therapies(a, facts, knowledge, ras)
    _crc_tests(a, facts, view, status)
    a.trials, a.trials_unassessable = match_trials(knowledge, "colorectal", view, a, facts, overlay)
    return a


def _crc_missing_and_contradictions(a: Assessment, facts: Facts, view: dict, ras: RasStatus) -> None:
    if view["ihc_score"] is None:
        a.missing.append("no HER2 IHC result")
    if view["ish_ratio"] is None and view["ihc_score"] in ("2+", None):
        a.missing.append("no ISH result")
    if view["plasma_erbb2_amplified"] is None:
        a.missing.append("no plasma (ctDNA) ERBB2 result")
    elif ras.wild_type is None:
        a.missing.append(
            "no complete RAS status ("
            + ", ".join(ras.missing or ["relative clonality unknown"])
            + "): the blood criterion cannot be applied"
        )
    ratio, score = view["ish_ratio"], view["ihc_score"]
    if score == "3+" and ratio is not None and ratio < 2.0:
        a.contradictions.append(
            f"IHC 3+ but ISH ratio {ratio:g} (not amplified): the IHC result satisfies the criteria listed as met; the ISH result does not."
        )
    if score == "0" and ratio is not None and ratio >= 2.0:
        a.contradictions.append(f"IHC 0 but ISH ratio {ratio:g} (amplified): TRIUMPH-tissue counts the ISH result; HERACLES does not.")
    tissue_met = any(c.outcome.result == MET for c in a.criteria if c.id != "TRIUMPH-blood")
    blood = next(c for c in a.criteria if c.id == "TRIUMPH-blood")
    has_tissue = score is not None or ratio is not None
    if has_tissue and not tissue_met and view["plasma_erbb2_amplified"]:
        a.contradictions.append(
            "Tissue results do not meet a tissue criterion, but plasma shows ERBB2 amplification"
            + (" (TRIUMPH-blood met)." if blood.outcome.result == MET else ".")
        )
    if tissue_met and view["plasma_erbb2_amplified"] is False:
        frac = facts.latest("ctdna_fraction")
        extra = f" (ctDNA fraction {frac.values['percent']:g}%)" if frac else ""
        a.contradictions.append(
            f"Tissue is HER2-positive but plasma shows no ERBB2 amplification{extra}; "
            "low tumour shedding can cause false-negative plasma results."
        )
    if view["tissue_ngs_amplified"] is False and tissue_met:
        a.contradictions.append("Tissue NGS shows no ERBB2 amplification although IHC/ISH meet a tissue criterion.")
    if view["tissue_ngs_amplified"] and has_tissue and not tissue_met:
        a.contradictions.append("Tissue NGS shows ERBB2 amplification but IHC/ISH do not meet a tissue criterion.")


def _crc_notes(a: Assessment, facts: Facts, view: dict, ras: RasStatus, status: str) -> None:
    if status == "low":
        a.notes.append("her2-low-crc-tdxd")
    if ras.mutant:
        a.notes += ["ras-mutant-dual-blockade", "ras-cooccurrence"]
        if any("in plasma" in m for m in ras.mutant):
            a.notes.append("ras-high-clonality-heracles")
    if status == "positive" and any(v.present and v.gene in ("KRAS", "NRAS", "BRAF", "PIK3CA") for v in facts.variants):
        a.notes.append("triumph-coalterations")
    if view["plasma_erbb2_amplified"] is False:
        a.notes += ["ctdna-false-negative", "ctdna-low-shedding"]
    if any(d in ("cetuximab", "panitumumab") for u in facts.history for d in u.drugs):
        a.notes.append("acquired-after-anti-egfr")
    if status == "positive" and view["ihc_score"] in ("2+", "3+"):
        a.notes.append("ihc3-better-response")
    if any(v.present and v.gene in ("KRAS", "NRAS", "PIK3CA") and v.origin == "plasma" for v in facts.variants):
        a.notes.append("tdxd-ras-pik3ca")
    if facts.metastatic is False:
        a.missing.append("metastatic or unresectable disease is not recorded; the criteria and trials concern metastatic CRC")


def _crc_therapies(a: Assessment, facts: Facts, knowledge: Knowledge, ras: RasStatus) -> None:
    for therapy in (t for t in knowledge.therapies if t["tumor_type"] == "colorectal"):
        if not set(therapy["basis"]) & set(a.basis):
            a.therapy_gaps.append(
                f"{therapy['title']}: its evidence is from tissue-positive patients; this patient is positive by plasma only."
            )
            continue
        notes = []
        if therapy["dual_blockade"] and ras.mutant:
            notes.append("RAS-mutant (" + "; ".join(ras.mutant) + "): " + knowledge.notes["ras-mutant-dual-blockade"]["text"])
        if therapy["regimen"] == ["trastuzumab deruxtecan"] and "tdxd-ras-pik3ca" in a.notes:
            notes.append(knowledge.notes["tdxd-ras-pik3ca"]["text"])
        if facts.line == "first":
            notes.append(
                "No systemic anticancer therapy is on file (first line): " + knowledge.raw["therapies"]["first_line_trial_note"]["text"]
            )
        a.therapies.append((therapy, notes))


def _crc_tests(a: Assessment, facts: Facts, view: dict, status: str) -> None:
    if status == "equivocal":
        a.tests.append(TestDue("reflex-ish", "IHC 2+ with no ISH result on file."))
    elif status == "indeterminate" and view["ihc_score"] == "3+" and view["ish_ratio"] is None:
        a.tests.append(TestDue("reflex-ish", "IHC 3+ that meets no criterion as reported, with no ISH result on file."))
    if view["ihc_score"] is None and view["ish_ratio"] is None and status != "positive":
        if view["plasma_erbb2_amplified"] is False:
            frac = facts.latest("ctdna_fraction")
            detail = "Plasma ERBB2 negative with no tissue result"
            detail += f"; ctDNA fraction {frac.values['percent']:g}%." if frac else "; ctDNA fraction not reported."
            a.tests.append(TestDue("tissue-after-negative-plasma", detail))
        else:
            a.tests.append(TestDue("crc-tissue-test", "No tissue HER2 IHC or ISH result on file."))


# ---------------------------------------------------------------- gastric


def assess_gastric(facts: Facts, knowledge: Knowledge, overlay: Any = None) -> Assessment:
    gc = knowledge.gastric
    ras = RasStatus(wild_type=None)
    view = build_view(facts, ras)
    criteria = _evaluate_criteria(gc["criteria"], view)
    met = any(c.outcome.result == MET for c in criteria)
    exception = evaluate(view, gc["ish_positive_low_ihc"]["arms"]).result == MET
    if met:
        status = "positive"
    elif view["ihc_score"] == "indeterminate":
        status = "indeterminate"
    elif evaluate(view, gc["equivocal"]["arms"]).result == MET:
        status = "equivocal"
    elif evaluate(view, gc["her2_low"]["arms"]).result == MET:
        status = "low"
    elif view["ihc_score"] is not None:
        status = "negative"
    elif view["ish_ratio"] is not None or facts.unusable_results:
        status = "indeterminate"
    else:
        status = "not-tested"
    a = Assessment("gastric", status, ["tissue"] if met else [], criteria, [], view=view)
    _common_findings(a, facts, knowledge)
    score = view["ihc_score"]
    if score in gc["ihc_scoring"]:
        a.findings.insert(0, f"Gastric IHC {score} (Table 3): {gc['ihc_scoring'][score]['text']}.")
    if exception:
        a.notes.append("gastric-ish-positive-low-ihc")
    if status == "low":
        a.notes.append("her2-low-gastric-tdxd")
    if score is None:
        a.missing.append("no HER2 IHC result" + (": ToGA needs the IHC score" if view["ish_ratio"] is not None else ""))
    if score == "2+" and view["ish_ratio"] is None:
        a.missing.append("no ISH result")
    if score == "3+" and view["ish_ratio"] is not None and view["ish_ratio"] < 2.0:
        a.contradictions.append(f"IHC 3+ but ISH ratio {view['ish_ratio']:g} (not amplified): ToGA counts IHC 3+ alone.")
    if facts.latest("ngs_plasma") or facts.latest("apcn"):
        a.notes.append("gastric-no-plasma-criterion")
    tissue = [r for k, r in a.results if k in ("ihc", "ish")]
    if facts.after_trastuzumab and tissue:
        start = facts.trastuzumab_start
        latest_tissue = max((r.when for r in tissue if r.when), default=None)
        if start and latest_tissue and latest_tissue < start:
            a.results_predate_trastuzumab = True
            a.tests.append(
                TestDue(
                    "retest-after-trastuzumab",
                    f"The most recent HER2 tissue result ({_date(latest_tissue)}) predates trastuzumab ({_date(start)}).",
                )
            )
            a.notes.append("gastric-her2-loss")
        elif start is None:
            a.findings.append("Trastuzumab is in the history without a start date: whether the HER2 result predates it cannot be told.")
    if status == "positive":
        _gastric_therapies(a, facts, knowledge)
    if status == "equivocal":
        a.tests.append(TestDue("reflex-ish", "IHC 2+ with no ISH result on file."))
    if score is None:
        a.tests.append(TestDue("gastric-test", "No HER2 IHC result on file."))
    a.trials, a.trials_unassessable = match_trials(knowledge, "gastric", view, a, facts, overlay)
    return a


def _gastric_therapies(a: Assessment, facts: Facts, knowledge: Knowledge) -> None:
    for therapy in (t for t in knowledge.therapies if t["tumor_type"] == "gastric"):
        notes: list[str] = []
        if therapy["line"] == "first" and facts.line != "first":
            continue
        if therapy["line"] == "after-trastuzumab":
            if not facts.after_trastuzumab:
                continue
            if a.results_predate_trastuzumab:
                notes.append(
                    "Confirm HER2 first: the only HER2 result predates trastuzumab, and HER2 is often lost after it (T-ACT: 11 of 16)."
                )
        a.therapies.append((therapy, notes))
    if not a.therapies:
        a.therapy_gaps.append(
            "Prior systemic therapy without trastuzumab is on file: the first-line HER2 regimens (ToGA, KEYNOTE-811) "
            "and the post-trastuzumab options do not apply as studied."
        )


# ---------------------------------------------------------------- trials


def _offered(trial: dict, overlay: Any) -> tuple[bool, dict | None, str | None]:
    """Whether a trial may be offered: by the registry overlay when present, else by the source."""
    if overlay is None:
        return trial["status_class"] in OFFERED_TRIAL_STATUS, None, None
    entry = overlay.trials.get(trial["nct"])
    if entry is None:
        why = "not found in the registry" if trial["nct"] in overlay.missing else "no registry status in the overlay"
        return False, None, why
    if entry.get("overallStatus") in OPEN_STATUSES:
        return True, entry, None
    return False, entry, f"registry status {entry.get('overallStatus')} on {overlay.date}"


def match_trials(
    knowledge: Knowledge, tumour_type: str, view: dict, a: Assessment, facts: Facts, overlay: Any = None
) -> tuple[list[TrialMatch], list[tuple[dict, list[str]]]]:
    """Offered trials whose HER2 criterion the patient meets; and those that cannot be assessed."""
    a.overlay = overlay
    if a.status == "not-tested":
        return [], []
    trial_view = dict(view)
    trial_view["her2_positive"] = a.status == "positive"
    trial_view["tissue_positive"] = "tissue" in a.basis
    trial_view["criterion_HERACLES"] = "HERACLES" in a.met if tumour_type == "colorectal" else None
    matches, unassessable = [], []
    for trial in knowledge.trials:
        if tumour_type not in trial["tumor_types"]:
            continue
        offered, registry, closed_reason = _offered(trial, overlay)
        if not offered and (overlay is None or trial["status_class"] not in OFFERED_TRIAL_STATUS):
            continue  # never offered by the source, and not open in the registry either
        outcome = evaluate(trial_view, knowledge.trial_arms(trial))
        if not offered:
            if outcome.result == MET:
                a.trials_closed.append((trial, closed_reason or "not open"))
            continue
        if outcome.result == UNKNOWN:
            unassessable.append((trial, outcome.missing))
            continue
        if outcome.result != MET:
            continue
        notes = []
        if trial["her2"].get("given_in_source") is False:
            notes.append("HER2 criterion not given in the source; listed for any HER2-expressing or amplified tumour")
        if trial["her2"].get("note"):
            notes.append(trial["her2"]["note"])
        if trial["line"] == "first":
            notes.append("first-line trial" + ("; prior systemic therapy is on file" if facts.line == "later" else ""))
        elif trial["line"] == "previously-treated":
            notes.append("for previously treated patients" + ("; no prior systemic therapy is on file" if facts.line == "first" else ""))
        matches.append(TrialMatch(trial, outcome.arm, notes, registry))
    return matches, unassessable


NO_RESULT_TESTS = {"crc-tissue-test", "gastric-test"}


def assess(facts: Facts, knowledge: Knowledge, overlay: Any = None) -> list[Assessment]:
    """One assessment per tumour type on file (colorectal first); `overlay`: registry trial status."""
    out = []
    if "colorectal" in facts.tumour_types:
        out.append(assess_colorectal(facts, knowledge, overlay))
    if "gastric" in facts.tumour_types:
        out.append(assess_gastric(facts, knowledge, overlay))
    if not facts.observations_available:
        for a in out:  # absence of results is not known: never call it "not tested"
            a.missing.insert(0, "HER2 results could not be read from the EHR")
            a.tests = [t for t in a.tests if t.suggestion_id not in NO_RESULT_TESTS]
            if a.status == "not-tested":
                a.status = "indeterminate"
    return out
