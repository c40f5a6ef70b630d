"""Facts + knowledge -> assessment per tumour type: status, criteria, therapies, trials, tests.

Pure functions: no I/O, no Flask, no FHIR JSON. Every clinical decision is a rule of the knowledge
files (cards/*.yaml) applied by the rule book; this module walks the rule lists in order and
records, for every card it prepares, the ids of the rules that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .facts import Facts, NotUsedResult, Result, UnscoredResult
from .knowledge import Knowledge
from .rules.book import Evaluation, RuleBook
from .rules.conditions import MET, NOT_MET, UNKNOWN, Outcome
from .rules.vocabulary import NOT_TESTED_WITH_RESULTS, RESULT_KINDS, open_unscored, patient_facts
from .trial_registry import OPEN_STATUSES

BASIS_ORDER = ("tissue", "plasma")
COMPARISON = {"ge": ("≥", "<"), "gt": (">", "≤")}


@dataclass
class CriterionResult:
    id: str  # the criterion's code (extension.her2cds.criteriaMet)
    outcome: Outcome
    rule: str  # its rule id
    name: str  # the name a clinician reads


@dataclass
class TrialMatch:
    trial: dict
    arm: str | None
    notes: list[str]
    registry: dict | None = None  # the overlay's entry when a registry refresh is in use
    rules: list[str] = field(default_factory=list)  # trial-note rules shown beside it


@dataclass
class LabRequest:
    """What the laboratory is asked for one HER2 result on file that lacks its value (lab-request rule)."""

    result: UnscoredResult
    ask: str
    why: str
    rule: dict


@dataclass
class TestDue:
    suggestion_id: str
    detail: str
    rules: list[str] = field(default_factory=list)
    warning: str | None = None  # an order hook's test card: its warning code (extension.her2cds.warning)
    safety: list[dict] = field(default_factory=list)  # an order hook's test card: the draft drugs' safety statements
    requests: list[LabRequest] = field(default_factory=list)  # an ask-laboratory suggestion: what to ask
    tumour: str | None = None  # the tumour type it is due for: its card cites that type's source


@dataclass
class TherapyOption:
    therapy: dict
    lead: list[str]  # statements right under the title
    notes: list[str]  # "for this patient"
    rules: list[str]
    safety: list[dict] = field(default_factory=list)  # safety statements for its drugs


@dataclass
class Assessment:
    """Everything the cards say about one tumour type."""

    tumour_type: str
    status: str
    basis: list[str]
    criteria: list[CriterionResult]
    results: list[tuple[str, Result]]
    headline: list[str] = field(default_factory=list)  # named in the status card's summary after the status
    findings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    contradictions: list[str] = field(default_factory=list)
    copy_number: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # evidence note rule ids to show
    therapies: list[TherapyOption] = field(default_factory=list)
    therapy_gaps: list[str] = field(default_factory=list)
    trials: list[TrialMatch] = field(default_factory=list)
    trials_unassessable: list[tuple[dict, list[str]]] = field(default_factory=list)
    trials_closed: list[tuple[dict, str | None]] = field(default_factory=list)  # matching, but not open per registry
    trials_not_offered: list[tuple[dict, str]] = field(default_factory=list)  # matching, but outside the described population
    trial_rules: list[str] = field(default_factory=list)
    overlay: Any = None
    tests: list[TestDue] = field(default_factory=list)
    unscored: list[UnscoredResult] = field(default_factory=list)  # HER2 results on file without a usable value
    open_unscored: list[UnscoredResult] = field(default_factory=list)  # those no later scored result replaces
    not_used: list[NotUsedResult] = field(default_factory=list)  # HER2 tests that are no criterion
    lab_requests: list[LabRequest] = field(default_factory=list)
    ras: dict[str, Any] | None = None  # what the RAS rule function found (colorectal)
    view: dict[str, Any] = field(default_factory=dict)
    status_rules: list[str] = field(default_factory=list)  # rule ids behind the status card
    evaluation: Evaluation | None = None

    @property
    def met(self) -> list[str]:
        return [c.id for c in self.criteria if c.outcome.result == MET]

    @property
    def met_names(self) -> list[str]:
        return [c.name for c in self.criteria if c.outcome.result == MET]

    @property
    def not_met(self) -> list[str]:
        return [c.id for c in self.criteria if c.outcome.result == NOT_MET]

    @property
    def unknown(self) -> list[str]:
        return [c.id for c in self.criteria if c.outcome.result == UNKNOWN]

    def produced(self, ev: Evaluation, rule: dict) -> None:
        """Count a fired rule (and the rules it relied on) among the status card's rules."""
        self.status_rules += [r for r in ev.produced_by(rule) if r not in self.status_rules]


def assess_tumour(tumour: str, facts: Facts, knowledge: Knowledge, overlay: Any = None) -> Assessment:
    """Apply the rule lists of one tumour type to the patient's facts."""
    book = knowledge.rules
    view = patient_facts(facts, tumour, book.classes_of)
    ev = Evaluation(book, tumour, view, facts)
    for definition in book.derivations():
        ev.outcome(definition["id"])  # facts the named functions derive (RAS, dates), for the rules below
    criteria = [CriterionResult(c["code"], ev.outcome(c["id"]), c["id"], c["name"]) for c in book.criteria(tumour)]
    met = [c for c in criteria if c.outcome.result == MET]
    rules_by_id = book.rules
    view["criteria_met"] = [c.id for c in met]
    view["criteria_met_names"] = [c.name for c in met]
    view["criteria_unknown"] = [c.id for c in criteria if c.outcome.result == UNKNOWN]
    view["basis"] = sorted({rules_by_id[c.rule]["basis"] for c in met}, key=BASIS_ORDER.index)
    status_rule = ev.first(book.status_ladder(tumour))
    assert status_rule is not None  # the ladder ends with a rule that always holds (checked at load)
    view["status"] = status_rule["status"]
    view["status_text"] = status_rule["status"].replace("-", " ")
    if view["status"] == "not-tested" and facts.not_used:  # other HER2 results are on file (decision 6.11)
        view["status_text"] = NOT_TESTED_WITH_RESULTS
    results = [(kind, r) for kind in RESULT_KINDS if (r := facts.latest(kind)) is not None]
    a = Assessment(tumour, view["status"], list(view["basis"]), criteria, results, ras=view.get("ras"), view=view,
                   evaluation=ev, overlay=overlay, unscored=facts.unscored_of(), open_unscored=open_unscored(facts),
                   not_used=list(facts.not_used))
    a.lab_requests = lab_requests(ev, book, a.open_unscored)
    view["lab_requests"] = [r.ask for r in a.lab_requests]
    a.produced(ev, status_rule)
    a.status_rules += [c.rule for c in met]
    a.status_rules += [rule_id for rule_id, derived in ev.derived.items() if derived.shown]
    _statements(a, ev, book, facts)
    a.copy_number = _copy_number_lines(a, ev, book, knowledge)
    _therapies(a, ev, book)  # before the notes: a note may concern the therapy cards shown
    for note in ev.fired(book.of("evidence-notes", "notes")):
        a.notes.append(note["id"])
        a.produced(ev, note)
    a.tests = [test_due(a, ev, rule) for rule in ev.fired(book.of("testing", "rules"))]
    _trials(a, ev, book)
    return a


def lab_requests(ev: Evaluation, book: RuleBook, results: list[UnscoredResult]) -> list[LabRequest]:
    """For each unscored result, the first lab-request rule that concerns it and holds (cards/testing.yaml)."""
    out: list[LabRequest] = []
    for rule in ev.fired(book.of("testing", "laboratory")):
        for u in results:
            if u.kind in rule["results"] and u.lacks in (rule["lacks"] or [u.lacks]) and all(r.result is not u for r in out):
                out.append(LabRequest(u, ev.text(rule["ask"]), ev.text(rule["why"]), rule))
    return out


def test_due(a: Assessment, ev: Evaluation, rule: dict) -> TestDue:
    """A testing card due by a rule; an ask-laboratory suggestion carries the assessment's lab requests."""
    due = TestDue(rule["suggestion"], ev.text(rule["detail"]), ev.produced_by(rule), tumour=a.tumour_type)
    if ev.book.suggestions[rule["suggestion"]]["laboratory"]:
        due.requests = list(a.lab_requests)
        due.rules += [r.rule["id"] for r in a.lab_requests if r.rule["id"] not in due.rules]
    return due


def _statements(a: Assessment, ev: Evaluation, book: RuleBook, facts: Facts) -> None:
    """Contradictions, missing pieces and findings of the status card (each list holds every scope:
    the evaluation keeps each rule to its tumour type)."""
    for rule in ev.fired(book.of("statements", "contradictions")):
        a.contradictions += ev.derived[rule["id"]].lines if rule.get("function") else [ev.text(rule["text"])]
        a.produced(ev, rule)
    for rule in ev.fired(book.of("statements", "missing")):
        a.missing.append(ev.text(rule["text"]))
        a.produced(ev, rule)
    findings = book.of("statements", "findings")
    for after_data_notes in (False, True):
        for rule in (r for r in findings if r["after_data_notes"] == after_data_notes):
            if ev.fires(rule):
                a.findings += ev.derived[rule["id"]].lines if rule.get("function") else [ev.text(rule["text"])]
                a.produced(ev, rule)
        if not after_data_notes:
            a.findings += facts.notes
    for rule in ev.fired(book.of("statements", "headline")):
        a.headline.append(ev.text(rule["text"]))
        a.produced(ev, rule)


def _copy_number_lines(a: Assessment, ev: Evaluation, book: RuleBook, knowledge: Knowledge) -> list[str]:
    """The patient's copy number against each cut-off of the same measurement."""
    cutoffs = book.of("copy-number-cutoffs", "cutoffs", a.tumour_type)
    lines = []
    for key, measurement in knowledge.cutoffs["measurements"].items():
        value = ev.lookup(measurement["fact"])
        if value is None:
            continue
        for cut in (c for c in cutoffs if c["measurement"] == key):
            higher, lower = COMPARISON[cut["higher_group"]]
            in_higher = ev.holds({measurement["fact"]: {cut["higher_group"]: cut["cutoff"]}})
            side, group = (higher, "higher") if in_higher else (lower, "lower")
            lines.append(f"{measurement['label']} {value:g} {side} {cut['cutoff']:g} ({cut['trial']}: {group} group; {cut['result']})")
            a.status_rules.append(cut["id"])
    for rule in ev.fired(book.of("copy-number-cutoffs", "notes")):
        lines.append(ev.text(rule["text"]))
        a.produced(ev, rule)
    return lines


def _applies(caveat: dict, therapy: dict) -> bool:
    if caveat.get("therapies") is not None:
        return therapy["id"] in caveat["therapies"]
    return all(therapy.get(k) == v for k, v in (caveat.get("applies_to") or {}).items())


def _therapies(a: Assessment, ev: Evaluation, book: RuleBook) -> None:
    """Therapy cards whose rule holds, their caveats, and the therapies not shown with the reason."""
    therapies = book.of("therapies", "therapies", a.tumour_type)
    caveats = book.of("therapies", "caveats")
    shown = ev.fired(therapies)
    for therapy in shown:
        option = TherapyOption(therapy, [], [], ev.produced_by(therapy))
        for caveat in caveats:
            if _applies(caveat, therapy) and ev.fires(caveat):
                quoted = [n for n in caveat["notes"] if ev.fires(book.rules[n])]
                text = ev.text(caveat["text"], note=" ".join(book.rules[n]["text"] for n in quoted))
                (option.lead if caveat["placement"] == "lead" else option.notes).append(text)
                option.rules += [r for r in ev.produced_by(caveat) + quoted if r not in option.rules]
        option.safety = book.safety_for(therapy["regimen"], a.tumour_type)
        option.rules += [s["id"] for s in option.safety]
        a.therapies.append(option)
    a.view["therapies"] = [t["id"] for t in shown]
    for gap in ev.fired(book.of("therapies", "gaps")):
        if gap["each_therapy_not_shown"]:
            shown_ids = {t["id"] for t in shown}
            a.therapy_gaps += [ev.text(gap["text"], therapy=t) for t in therapies if t["id"] not in shown_ids]
        else:
            a.therapy_gaps.append(ev.text(gap["text"]))
        a.produced(ev, gap)


def _offered(trial: dict, offered_classes: list[str], overlay: Any) -> tuple[bool, dict | None, str | None]:
    """Whether a trial may be offered: by the registry overlay when present, else by the source."""
    if overlay is None:
        return trial["status_class"] in offered_classes, None, None
    entry = overlay.trials.get(trial["nct"])
    if entry is None:
        why = "not found in the registry" if trial["nct"] in overlay.missing else "no registry status in the overlay"
        return False, None, why
    if entry.get("overallStatus") in OPEN_STATUSES:
        return True, entry, None
    return False, entry, f"registry status {entry.get('overallStatus')} on {overlay.date}"


def _trials(a: Assessment, ev: Evaluation, book: RuleBook) -> None:
    """Offered trials whose HER2 criterion the patient meets; those that cannot be assessed; closed ones."""
    offer = ev.first(book.of("trials", "offer"))
    if offer is None:
        return
    notes = book.of("trials", "trial_notes")
    exclusions = book.of("trials", "exclusions")
    for trial in book.of("trials", "trials"):
        offered, registry, closed_reason = _offered(trial, offer["offered_status_classes"], a.overlay)
        if not offered and (a.overlay is None or trial["status_class"] not in offer["offered_status_classes"]):
            continue  # never offered by the source, and not open in the registry either
        outcome = ev.outcome(trial["id"])
        local = ev.child({"trial": {"line": trial["line"], "given_in_source": trial["her2"]["given_in_source"],
                                    "note": trial["her2"]["note"]}})
        if outcome.result == MET:
            excluded = local.first([x for x in exclusions if x.get("trials") is None or trial["id"] in x["trials"]])
            if excluded is not None:  # outside the population the source describes, or not decidable from the results
                if not excluded["unassessable"]:
                    a.trials_not_offered.append((trial, local.text(excluded["text"])))
                elif offered:
                    a.trials_unassessable.append((trial, [local.text(excluded["text"])]))
                else:
                    continue
                a.trial_rules += [r for r in [trial["id"], *local.produced_by(excluded)] if r not in a.trial_rules]
                continue
        if not offered:
            if outcome.result == MET:
                a.trials_closed.append((trial, closed_reason))
            continue
        if outcome.result == UNKNOWN:
            a.trials_unassessable.append((trial, outcome.missing))
            continue
        if outcome.result != MET:
            continue
        fired = local.fired(notes)
        arm = local.text(outcome.arm)  # an arm's label may name facts (clinical decision 6.28)
        a.trials.append(TrialMatch(trial, arm, [local.text(n["text"]) for n in fired], registry, [n["id"] for n in fired]))
    if a.trials or a.trials_closed or a.trials_not_offered:
        excluded = a.trial_rules
        a.trial_rules = [offer["id"]] + [m.trial["id"] for m in a.trials] + [t["id"] for t, _ in a.trials_closed]
        a.trial_rules += [r for m in a.trials for r in m.rules if r not in a.trial_rules]
        a.trial_rules += [r for r in excluded if r not in a.trial_rules]


def assess(facts: Facts, knowledge: Knowledge, overlay: Any = None) -> list[Assessment]:
    """One assessment per tumour type on file (colorectal first); `overlay`: registry trial status."""
    return [assess_tumour(tumour, facts, knowledge, overlay) for tumour in ("colorectal", "gastric") if tumour in facts.tumour_types]
