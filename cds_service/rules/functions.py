"""Named rule functions: the few conditions that cannot be written as data.

Each is registered by name in FUNCTIONS; a knowledge rule names it (`function: ras_status`) with its
parameters and citation, so the clinical figures stay in the YAML. A function returns the rule's
outcome (met / not-met / unknown), facts it adds for other rules and templates, and lines for the
card (findings).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .conditions import MET, NOT_MET, UNKNOWN
from .vocabulary import RESULT_KINDS, date_text

if TYPE_CHECKING:
    from ..facts import Facts, Result, Variant
    from .book import Evaluation


@dataclass
class Derived:
    """What a rule function found."""

    result: str
    facts: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    shown: bool = False  # what it found is shown on the status card (the rule produced that card)


PERCENT = 100  # relative clonality is a percentage ("... × 100")
RuleFunction = Callable[..., Derived]


# ---------------------------------------------------------------- RAS for the blood criterion

def _sample_key(v: Variant) -> Any:
    return v.specimen_key or (v.when.isoformat() if v.when else None)


def relative_clonality(variant: Variant, variants: list[Variant]) -> float | None:
    """Reported RC, else % cfDNA of the mutation / highest % cfDNA in the same plasma sample, in %."""
    if variant.reported_rc is not None:
        return variant.reported_rc
    if variant.vaf is None:
        return None
    key = _sample_key(variant)
    peers = [
        v.vaf for v in variants if v.present and v.vaf is not None and v.origin == "plasma" and key is not None and _sample_key(v) == key
    ]
    top = max(peers, default=None)
    return variant.vaf / top * PERCENT if top else None


def _worse(state: bool | None, found: bool | None) -> bool | None:
    """Combine what is known of a gene: mutant (False) over unknown (None) over wild-type (True)."""
    if state is False or found is False:
        return False
    return None if state is None or found is None else True


def ras_status(ev: Evaluation, genes: list[str], codons: list[int], relative_clonality_max_percent: float, trial: str) -> Derived:
    """RAS wild-type (met), mutant (not met) or incomplete (unknown), with what was found (results named
    by their date, never by a record id; `headline`: the mutations in a few words for the summary)."""
    facts: Facts = ev.patient
    codon_set, limit = set(codons), relative_clonality_max_percent
    mutant: list[str] = []
    headline: list[str] = []
    lines: list[str] = []
    missing: list[str] = []
    in_plasma = False
    wild_by_gene: dict[str, bool | None] = {}  # True wild-type, False mutant, None cannot be told
    for gene in genes:
        found = [v for v in facts.variants if v.gene == gene]
        if not found:
            missing.append(f"no {gene} result")
        state: bool | None = True if found else None
        for v in found:
            when = date_text(v.when)
            if not v.present:
                lines.append(f"{gene} wild-type ({v.origin or 'origin unknown'}, {when})")
                continue
            change = v.hgvs or "(change not given)"
            where = f"{gene} {change}"
            if v.codon is None or v.codon not in codon_set:
                lines.append(f"{where}: codon {v.codon if v.codon else 'not given'} is outside the {trial} list ({when})")
                if v.codon is None:
                    state = _worse(state, None)
                continue
            if v.origin == "tissue":
                mutant.append(f"{where} in tissue on {when}")
                headline.append(f"{where}, tissue")
                state = False
            elif v.origin == "plasma":
                rc = relative_clonality(v, facts.variants)
                if rc is None:
                    lines.append(f"{where} in plasma: relative clonality cannot be computed (no allele fractions) ({when})")
                    state = _worse(state, None)
                elif rc > limit:
                    mutant.append(f"{where} in plasma on {when}, relative clonality {rc:.0f}% (> {limit:g}%)")
                    headline.append(f"{where}, plasma, clonality {rc:.0f}%")
                    in_plasma = True
                    state = False
                else:
                    lines.append(f"{where} in plasma, relative clonality {rc:.0f}% "
                                 f"(≤ {limit:g}%: counts as wild-type for {trial}) ({when})")
            else:
                lines.append(f"{where}: specimen (tissue or plasma) cannot be told; not used ({when})")
                state = _worse(state, None)
        wild_by_gene[gene] = state
    states = list(wild_by_gene.values())
    wild_type = False if False in states else (True if all(s is True for s in states) else None)
    result = {True: MET, False: NOT_MET, None: UNKNOWN}[wild_type]
    ras = {"wild_type": wild_type, "mutant": mutant, "headline": headline, "mutant_in_plasma": in_plasma, "lines": lines,
           "missing": missing}
    return Derived(result, {"ras": ras}, shown=bool(lines or mutant))


# ---------------------------------------------------------------- dates against drugs

def _first_start(facts: Facts, drugs: list[str]) -> tuple[bool, datetime | None]:
    """(drug on file, earliest start) of the history records with one of `drugs`."""
    uses = [u for u in facts.history if set(u.drugs) & set(drugs)]
    starts = [u.start for u in uses if u.start]
    return bool(uses), (min(starts) if starts else None)


def results_predate_drug(ev: Evaluation, drugs: list[str], result_kinds: list[str]) -> Derived:
    """The most recent result of these kinds is older than the first of these drugs (unknown: no start date)."""
    facts: Facts = ev.patient
    on_file, start = _first_start(facts, drugs)
    results = [r for r in (facts.latest(kind) for kind in result_kinds) if r is not None]
    if not on_file or not results:
        return Derived(NOT_MET)
    if start is None:
        return Derived(UNKNOWN)
    latest = max((r.when for r in results if r.when), default=None)
    if latest and latest < start:
        return Derived(MET, {"results_predate": {"result_date": date_text(latest), "drug_start": date_text(start)}})
    return Derived(NOT_MET)


def result_after_drug(ev: Evaluation, drugs: list[str], result_kind: str) -> Derived:
    """The most recent result of this kind is dated after the last of these drugs on file (a re-test);
    provides `retest.*`. Unknown when the drug or the result has no date."""
    facts: Facts = ev.patient
    uses = [u for u in facts.history if set(u.drugs) & set(drugs)]
    result = facts.latest(result_kind)
    if not uses or result is None:
        return Derived(NOT_MET)
    starts = [u.start for u in uses if u.start]
    if not starts or result.when is None:
        return Derived(UNKNOWN)
    last = max(starts)
    if result.when <= last:
        return Derived(NOT_MET)
    retest = {"date": date_text(result.when), "drug_last": date_text(last), "amplified": result.values.get("amplified")}
    return Derived(MET, {"retest": retest})


def courses_ended(ev: Evaluation, drugs: list[str], ended_statuses: list[str]) -> Derived:
    """Every history record with one of these drugs has one of the ended statuses."""
    uses = [u for u in ev.patient.history if set(u.drugs) & set(drugs)]
    return Derived(MET if uses and all(u.status in ended_statuses for u in uses) else NOT_MET)


KIND_NAMES = {"ihc": "IHC", "ish": "ISH", "ngs_tissue": "tissue NGS", "qpcr": "tissue qPCR", "ngs_plasma": "plasma NGS",
              "apcn": "ApCN", "ctdna_fraction": "ctDNA fraction"}


def result_recency(ev: Evaluation, stale_after_drug_class: str, stale_result_kinds: list[str]) -> Derived:
    """Say which result of each kind is used when there are several; flag results older than the drug class."""
    facts: Facts = ev.patient
    drugs = [d for d, classes in ev.book.drug_classes.items() if stale_after_drug_class in classes]
    _, start = _first_start(facts, drugs)
    lines = []
    for kind in RESULT_KINDS:
        latest = facts.latest(kind)
        if latest is None:
            continue
        if facts.count(kind) > 1:
            lines.append(f"{facts.count(kind)} {KIND_NAMES[kind]} results on file; the most recent ({date_text(latest.when)}) is used.")
        if start and latest.when and latest.when < start and kind in stale_result_kinds:
            lines.append(f"Possibly stale: the {KIND_NAMES[kind]} result ({date_text(latest.when)}) "
                         f"predates HER2-directed treatment started {date_text(start)}.")
    return Derived(MET if lines else NOT_MET, lines=lines, shown=bool(lines))


# ---------------------------------------------------------------- results of one kind over time

def _call(kind: str, result: Result, ihc_calls: dict[str, str], ish_ratio_amplified: float) -> tuple[str, str] | None:
    """(the call, the result in words) by which results of one kind are compared; None: no call."""
    values = result.values
    if kind == "ihc":
        call = ihc_calls.get(values.get("score"))
        return (call, f"IHC {values['score']}") if call else None
    if kind == "ish":
        if values.get("ratio") is None:
            return None
        amplified = values["ratio"] >= ish_ratio_amplified
        return ("amplified" if amplified else "not amplified", f"ISH ratio {values['ratio']:g}")
    if values.get("amplified") is None:
        return None
    words = "ERBB2 amplified" if values["amplified"] else "no ERBB2 amplification"
    return ("amplified" if values["amplified"] else "not amplified", f"{KIND_NAMES[kind]}: {words}")


def discordant_results(ev: Evaluation, kinds: list[str], ihc_calls: dict[str, str], ish_ratio_amplified: float) -> Derived:
    """An earlier result of a kind whose call differs from the most recent one (which still sets the status)."""
    facts: Facts = ev.patient
    lines = []
    for kind in kinds:
        results = sorted(facts.results.get(kind) or [], key=lambda r: r.sort_key())
        if len(results) <= 1:
            continue
        latest = _call(kind, results[-1], ihc_calls, ish_ratio_amplified)
        if latest is None:
            continue
        earlier = [(r, c) for r in results[:-1] if (c := _call(kind, r, ihc_calls, ish_ratio_amplified)) and c[0] != latest[0]]
        if earlier:
            named = "; ".join(f"{words} ({date_text(r.when)})" for r, (_, words) in earlier)
            lines.append(f"Discordant {KIND_NAMES[kind]} results: {named} disagrees with the most recent, "
                         f"{latest[1]} ({date_text(results[-1].when)}), which sets the status.")
    return Derived(MET if lines else NOT_MET, lines=lines, shown=bool(lines))


# The registry a knowledge rule's `function:` names (plain functions: no decorator to hide them).
FUNCTIONS: dict[str, RuleFunction] = {f.__name__: f for f in (
    ras_status, results_predate_drug, result_after_drug, courses_ended, result_recency, discordant_results)}
