"""The facts a rule condition or a card template can name, built from the patient's Facts.

Every name a knowledge file uses must be listed here (checked when the knowledge is loaded), so a
misspelt fact is an error at start-up, never a rule that silently stays unknown.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..facts import Facts, NotUsedResult, UnscoredResult


RESULT_KINDS = ("ihc", "ish", "ngs_tissue", "qpcr", "ngs_plasma", "apcn", "ctdna_fraction")

VOCABULARY: dict[str, str] = {
    "tumour": "tumour type being assessed: colorectal | gastric",
    "ihc_score": "most recent HER2 IHC score: 0, 1+, 2+, 3+ or indeterminate",
    "ihc_percent_cells": "% of tumour cells stained in that IHC",
    "ihc_specimen": "specimen of that IHC: biopsy | surgical",
    "ihc_date": "date of that IHC",
    "ihc_last_scored": "the most recent IHC with a score 0, 1+, 2+ or 3+ when a later IHC has none (indeterminate), in words with its date",
    "ish_ratio": "most recent ISH HER2/CEP17 ratio",
    "ish_copies_per_cell": "HER2 copies per cell in that ISH",
    "ish_percent_cells_amplified": "% of cells amplified in that ISH",
    "plasma_erbb2_amplified": "most recent plasma (ctDNA) NGS: ERBB2 amplified true | false",
    "plasma_copy_number": "ERBB2 copy number of that plasma NGS (not adjusted for ctDNA fraction)",
    "tissue_ngs_amplified": "most recent tissue NGS: ERBB2 amplified true | false",
    "tissue_cn_ngs": "ERBB2 copy number of that tissue NGS",
    "tissue_cn_qpcr": "most recent tissue ERBB2 copy number by qPCR",
    "apcn": "most recent adjusted plasma copy number (ApCN)",
    "ctdna_fraction": "most recent ctDNA fraction, %",
    "plasma_result": "that most recent plasma (ctDNA) NGS ERBB2 result in words, with its date (e.g. 'plasma ERBB2 amplified 2024-01-01')",
    "result_kinds": f"kinds of HER2 result on file: {', '.join(RESULT_KINDS)}",
    "unusable_results": "number of HER2/RAS results on file that could not be used",
    "her2_on_file": "a HER2 result is on file, scored or not (such a patient is never reported as untested)",
    "ihc_on_file": "an IHC result is on file, scored or not (the laboratory's interpretation or a HER2 report counts)",
    "ish_on_file": "an ISH result is on file, with a ratio, copies only or unscored (an interpretation or report counts)",
    "lab_requests": "what the laboratory is asked for: the lab-request rules that hold for the unscored results",
    "not_used_names": "the HER2-related results on file that are no criterion, each by kind and date (e.g. 'serum HER2 2024-03-01')",
    "not_used_reasons": "why HER2-related results on file are no criterion (codes.yaml not_used_reasons), e.g. erbb2-sequence-variant",
    "observations_available": "the HER2 results could be read from the EHR",
    "metastatic": "metastatic or unresectable disease is recorded (false: a tumour without it)",
    "line": "first (no systemic anticancer drug in the history) | later",
    "history_available": "the medication history could be read from the EHR",
    "history_drugs": "drugs in the medication history",
    "history_classes": "drug classes in the medication history",
    "variant_genes": "genes with a variant present (any specimen)",
    "plasma_variant_genes": "genes with a variant present in plasma",
    "tissue_results": "the IHC/ISH results in words, e.g. 'IHC 2+, ISH ratio <ratio>'",
    "status": "HER2 status decided by the status ladder",
    "status_text": "that status in words (positive, low, not tested ...)",
    "basis": "specimens of the criteria met: tissue, plasma",
    "criteria_met": "codes of the criteria met (the `code` of each criterion)",
    "criteria_met_names": "names of the criteria met, as a clinician reads them (the `name` of each criterion)",
    "criteria_unknown": "codes of the criteria that cannot be applied",
    "therapies": "ids of the therapies shown",
    "order_drugs": "drugs of the draft order being checked",
    "order_high_dose": "that order names a high dose",
    "draft_tests": "HER2 tests among the draft orders: ihc, ish, ngs",
}
# Facts grouped under a name: `ras.wild_type`, `ordered.her2-directed` ...
NAMESPACES: dict[str, str] = {
    "ras": "RAS found by the rule function ras_status: wild_type, mutant, headline, mutant_in_plasma, lines, missing",
    "retest": "the re-test found by the rule function result_after_drug: date, drug_last, amplified",
    "results_predate": "dates found by the rule function results_predate_drug: result_date, drug_start",
    "ordered": "<drug class>: drugs of that class in the draft order being checked",
    "in_use": "<drug class>: drugs of that class in all draft orders or active in the history",
    "draft_orders": "<drug class> or systemic: texts of the draft orders of that class",
    "trial": "the trial being matched: line, given_in_source, note",
    "unscored": "HER2 results on file without a usable score, ratio, specimen or value that no later scored result "
                "replaces: kinds (ihc, ish, interpretation, report, ngs); per kind (unscored.ihc ...) the laboratory's "
                "calls of those results ('not given' when none); calls (the calls given on tissue results); names; "
                "called.<call> (the tissue results with that call, by kind and date); newer (the IHC, interpretation or "
                "report results dated after the most recent scored IHC/ISH, by kind and date) and newer_calls (their "
                "calls); latest_scored (that most recent scored IHC/ISH result, with its date)",
    "therapy": "the therapy being named: title, regimen ...",
    "params": "the warning rule's own lists (warnings.yaml `params`), for its text",
}
# How a card names a fact that is not on file (a criterion or trial that cannot be applied says why).
# Worded for the value, not the result: a result on file without its value is never called missing
# (clinical decision 6.11); the status card names such a result beside the criteria.
MISSING_TEXT: dict[str, str] = {
    "ihc_score": "no HER2 IHC score",
    "ihc_percent_cells": "% of stained cells not reported",
    "ihc_specimen": "specimen type not recorded",
    "ish_ratio": "no ISH ratio",
    "ish_copies_per_cell": "HER2 copies per cell not reported",
    "ish_percent_cells_amplified": "% of cells amplified not reported",
    "plasma_erbb2_amplified": "no usable ERBB2 amplification result from plasma (ctDNA)",
    "tissue_ngs_amplified": "no usable ERBB2 amplification result from tissue NGS",
}
LOCAL_NAMES = {"note"}  # {note}: the text of a caveat's evidence note


# An unscored result is replaced by a scored result of these kinds reported after it (the most recent
# result of each kind is the one used, clinical-rules section 4). The laboratory's interpretation and a
# HER2 report rest on the IHC (the primary test, clinical decision 6.2): a later IHC replaces them.
REPLACED_BY: dict[str, tuple[str, ...]] = {"ihc": ("ihc",), "ish": ("ish",), "interpretation": ("ihc",), "report": ("ihc",),
                                           "immunoassay": ("ihc",), "ngs": ("ngs_tissue", "ngs_plasma", "qpcr")}
UNSCORED_TISSUE = ("ihc", "ish", "interpretation", "report", "immunoassay")
# Unscored results that count as an IHC / ISH on file (an interpretation or report may rest on either).
# A tissue immunoassay with the laboratory's call may have been an IHC coded otherwise (the laboratory is asked).
ON_FILE_AS = {"ihc": ("ihc", "interpretation", "report", "immunoassay"), "ish": ("ish", "interpretation", "report")}
NO_CALL = "not given"
# Unscored results that would replace the most recent scored IHC/ISH if they had a score (6.7, 6.11).
NEWER_KINDS = ("ihc", "interpretation", "report", "immunoassay")
UNSCORED_LABEL = {"ihc": "HER2 IHC", "ish": "HER2 ISH", "interpretation": "HER2 interpretation", "report": "HER2 report",
                  "immunoassay": "HER2 tissue immunoassay", "ngs": "ERBB2 NGS"}


def known(name: str) -> bool:
    """Whether a fact name (possibly dotted) is in the vocabulary."""
    head, dot, _ = name.partition(".")
    return name in VOCABULARY or (head in NAMESPACES and bool(dot)) or name in LOCAL_NAMES


def date_text(when: datetime | None) -> str:
    return when.date().isoformat() if when else "date not recorded"


def tissue_results(view: dict[str, Any]) -> str:
    parts = []
    if view.get("ihc_score"):
        parts.append(f"IHC {view['ihc_score']}")
    if view.get("ish_ratio") is not None:
        parts.append(f"ISH ratio {view['ish_ratio']:g}")
    return ", ".join(parts)


def _recency(when: datetime | None) -> float:
    return when.timestamp() if when else float("-inf")  # an undated result is the oldest


def open_unscored(facts: Facts) -> list[UnscoredResult]:
    """The unscored results that no scored result of a kind replacing them was reported after, most
    recent first: the ones whose missing value is still to be asked for."""
    return [u for u in facts.unscored_of()
            if not any(_recency(r.when) > _recency(u.when) for kind in REPLACED_BY[u.kind] for r in facts.results.get(kind) or [])]


def unscored_name(u: UnscoredResult) -> str:
    """An unscored result in words: kind, date and what it lacks (never its record id)."""
    call = f"the laboratory's call: {u.interpretation}; " if u.interpretation else ""
    return f"{UNSCORED_LABEL[u.kind]} of {date_text(u.when)} ({call}{u.lacks_text})"


def unscored_facts(items: list[UnscoredResult]) -> dict[str, Any]:
    """The `unscored.*` facts of the open unscored results."""
    per_kind = {kind: [u.interpretation or NO_CALL for u in items if u.kind == kind] for kind in REPLACED_BY}
    calls = [u.interpretation for u in items if u.kind in UNSCORED_TISSUE and u.interpretation]
    called = {call: [short_name(u) for u in items if u.kind in UNSCORED_TISSUE and u.interpretation == call]
              for call in dict.fromkeys(calls)}
    return {"kinds": list(dict.fromkeys(u.kind for u in items)), **per_kind, "calls": list(dict.fromkeys(calls)),
            "names": [unscored_name(u) for u in items], "called": called}


# A not-used result in a few words (codes.yaml not_used_reasons keys); an unmapped code by the laboratory's name.
NOT_USED_LABEL = {"serum": "serum HER2", "tissue-immunoassay": "HER2 tissue immunoassay", "cep17-alone": "chromosome 17 count",
                  "germline": "germline ERBB2", "erbb2-sequence-variant": "ERBB2 sequence variant",
                  "erbb2-copy-number-loss": "ERBB2 copy-number loss"}
# The status in words for a patient whose only HER2 results are no criterion (never "not tested", 6.11).
NOT_TESTED_WITH_RESULTS = "no tumour HER2 test usable for the criteria (IHC, ISH, tumour or ctDNA NGS)"


def not_used_name(n: NotUsedResult) -> str:
    return f"{NOT_USED_LABEL.get(n.reason, n.test)} {date_text(n.when)}"


def short_name(u: UnscoredResult) -> str:
    return f"{UNSCORED_LABEL[u.kind]} {date_text(u.when)}"


def scored_name(kind: str, r: Any) -> str:
    value = f"IHC {r.values['score']}" if kind == "ihc" else (
        f"ISH ratio {r.values['ratio']:g}" if "ratio" in r.values else "ISH")
    return f"{value} {date_text(r.when)}"


def last_scored_ihc(facts: Facts) -> str | None:
    """The most recent IHC with a 0-3+ score, in words with its date, when a later IHC has no score."""
    ihcs = sorted(facts.results.get("ihc") or [], key=lambda r: r.sort_key())
    scored = [r for r in ihcs if r.values.get("score") not in (None, "indeterminate")]
    if not ihcs or not scored or scored[-1] is ihcs[-1]:
        return None
    return scored_name("ihc", scored[-1])


def plasma_name(facts: Facts) -> str | None:
    """The most recent plasma ERBB2 result in words, with its date (what a plasma-based status rests on)."""
    r = facts.latest("ngs_plasma")
    if r is None or r.values.get("amplified") is None:
        return None
    return f"plasma ERBB2 {'amplified' if r.values['amplified'] else 'not amplified'} {date_text(r.when)}"


def newer_facts(facts: Facts, items: list[UnscoredResult]) -> dict[str, Any]:
    """The open unscored IHC-like results reported after the most recent scored IHC/ISH (on which the
    status then rests, though it is older), in words, with their calls and that scored result."""
    scored = [(kind, r) for kind in ("ihc", "ish") for r in facts.results.get(kind) or []]
    if not scored:
        return {"newer": [], "newer_calls": [], "latest_scored": None}
    kind, latest = max(scored, key=lambda kr: _recency(kr[1].when))
    newer = [u for u in items if u.kind in NEWER_KINDS and _recency(u.when) > _recency(latest.when)]
    return {"newer": [short_name(u) for u in newer], "newer_calls": [u.interpretation or NO_CALL for u in newer],
            "latest_scored": scored_name(kind, latest)}


def _value(facts: Facts, kind: str, key: str) -> Any:
    result = facts.latest(kind)
    return result.values.get(key) if result else None


def patient_facts(facts: Facts, tumour: str, classes_of: Callable[[Iterable[str]], list[str]]) -> dict[str, Any]:
    """The facts of one patient for one tumour type; the named functions and the assessment add the rest
    (ras.*, results_predate.*, status, basis, criteria_met ...) as they go."""
    ihc = facts.latest("ihc")
    history_drugs = sorted({d for use in facts.history for d in use.drugs})
    view: dict[str, Any] = {
        "tumour": tumour,
        "ihc_score": ihc.values["score"] if ihc else None,
        "ihc_percent_cells": ihc.values.get("percent_cells") if ihc else None,
        "ihc_specimen": ihc.specimen if ihc else None,
        "ihc_date": date_text(ihc.when) if ihc else None,
        "ihc_last_scored": last_scored_ihc(facts),
        "ish_ratio": _value(facts, "ish", "ratio"),
        "ish_copies_per_cell": _value(facts, "ish", "copies_per_cell"),
        "ish_percent_cells_amplified": _value(facts, "ish", "percent_cells_amplified"),
        "plasma_erbb2_amplified": _value(facts, "ngs_plasma", "amplified"),
        "plasma_copy_number": _value(facts, "ngs_plasma", "copy_number"),
        "tissue_ngs_amplified": _value(facts, "ngs_tissue", "amplified"),
        "tissue_cn_ngs": _value(facts, "ngs_tissue", "copy_number"),
        "tissue_cn_qpcr": _value(facts, "qpcr", "copy_number"),
        "apcn": _value(facts, "apcn", "value"),
        "ctdna_fraction": _value(facts, "ctdna_fraction", "percent"),
        "plasma_result": plasma_name(facts),
        "result_kinds": [kind for kind in RESULT_KINDS if facts.latest(kind)],
        "unusable_results": facts.unusable_results,
        "her2_on_file": facts.her2_on_file,
        "not_used_reasons": sorted({n.reason for n in facts.not_used}),
        "not_used_names": [not_used_name(n) for n in facts.not_used],
        "observations_available": facts.observations_available,
        "metastatic": facts.metastatic,
        "line": facts.line,
        "history_available": facts.history_available,
        "history_drugs": history_drugs,
        "history_classes": classes_of(history_drugs),
        "variant_genes": sorted({v.gene for v in facts.variants if v.present}),
        "plasma_variant_genes": sorted({v.gene for v in facts.variants if v.present and v.origin == "plasma"}),
    }
    view["tissue_results"] = tissue_results(view)
    still_open = open_unscored(facts)
    view["unscored"] = {**unscored_facts(still_open), **newer_facts(facts, still_open)}
    view["ihc_on_file"] = ihc is not None or any(u.kind in ON_FILE_AS["ihc"] for u in facts.unscored)
    view["ish_on_file"] = facts.latest("ish") is not None or any(u.kind in ON_FILE_AS["ish"] for u in facts.unscored)
    return view
