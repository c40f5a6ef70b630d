"""The condition language of the rules in cards/*.yaml, evaluated three-valued.

A condition is a mapping; every entry must hold (all-of):

    ihc_score: {eq: "3+"}            a test on one fact (see VOCABULARY); ops below
    all: [cond, ...]                 every one holds (or one mapping)
    any: [cond, ...]                 at least one holds; each may carry a `label` (an "arm")
    not: cond                        negation
    rule: <rule id>                  another rule holds (a criterion, definition, note, warning ...)
    unknown: cond                    holds when `cond` cannot be decided
    undecided: "<reason>"            is unknown, with that reason (a case the source gives no rule for)

Results are met / not-met / unknown. A test on a fact that is not on file is unknown (with its
`missing_note`), unless it says `if_missing: met` (then met, its `note` shown as a caveat) or
`if_missing: not-met`; `absent: true` / `present: true` test the presence itself. An all-of is
not-met as soon as one part is, an any-of is met as soon as one arm is.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .vocabulary import MISSING_TEXT

MET, NOT_MET, UNKNOWN = "met", "not-met", "unknown"


def _contains(value: Any, ref: Any) -> bool:
    return ref in value


def _intersects(value: Any, ref: Any) -> bool:
    return bool(set(value) & set(ref))


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda v, ref: v == ref,
    "ne": lambda v, ref: v != ref,
    "in": lambda v, ref: v in ref,
    "not_in": lambda v, ref: v not in ref,
    "gt": lambda v, ref: v > ref,
    "ge": lambda v, ref: v >= ref,
    "lt": lambda v, ref: v < ref,
    "le": lambda v, ref: v <= ref,
    "contains": _contains,
    "not_contains": lambda v, ref: not _contains(v, ref),
    "intersects": _intersects,
    "disjoint": lambda v, ref: not _intersects(v, ref),
    "empty": lambda v, ref: (len(v) == 0) == ref,
    "count_ge": lambda v, ref: len(v) >= ref,
}
SPEC_KEYS = set(OPS) | {"absent", "present", "if_missing", "note", "missing_note"}
COMBINATORS = {"all", "any", "not", "rule", "unknown", "undecided"}
ANNOTATIONS = {"label", "source", "sources"}


@dataclass(slots=True)
class Outcome:
    """A condition's result: which arm met, caveats (if_missing: met), what is missing, rules used."""

    result: str
    arm: str | None = None
    caveats: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)  # ids of referenced rules that held

    @property
    def met(self) -> bool:
        return self.result == MET


Lookup = Callable[[str], Any]
RuleOutcome = Callable[[str], Outcome]


def _readable(name: str) -> str:
    return name.replace("_", " ")


def check_fact(name: str, value: Any, spec: Mapping[str, Any]) -> Outcome:
    """One test on one fact."""
    if spec.get("absent"):
        return Outcome(MET if value is None else NOT_MET)
    if spec.get("present"):
        return Outcome(MET if value is not None else NOT_MET)
    if value is None:
        if spec.get("if_missing") == "met":
            return Outcome(MET, caveats=[spec.get("note") or f"{name} not on file"])
        if spec.get("if_missing") == "not-met":
            return Outcome(NOT_MET)
        return Outcome(UNKNOWN, missing=[spec.get("missing_note") or MISSING_TEXT.get(name) or f"{_readable(name)} not on file"])
    for op, ref in spec.items():
        if op in OPS:
            try:
                if not OPS[op](value, ref):
                    return Outcome(NOT_MET)
            except TypeError:
                return Outcome(UNKNOWN, missing=[f"{_readable(name)} cannot be compared"])
    return Outcome(MET)


def all_of(parts: list[Outcome]) -> Outcome:
    """Met when every part is; not met as soon as one is not (whatever is unknown); else unknown."""
    unknown = []
    for part in parts:  # a loop, not any() and a comprehension: this runs for every condition of every rule
        if part.result == NOT_MET:
            return Outcome(NOT_MET)
        if part.result == UNKNOWN:
            unknown.append(part)
    if unknown:
        return Outcome(UNKNOWN, missing=[m for part in unknown for m in part.missing])
    return Outcome(MET, arm=next((part.arm for part in parts if part.arm), None),
                   caveats=[c for part in parts for c in part.caveats], via=[v for part in parts for v in part.via])


def evaluate(condition: Mapping[str, Any] | None, lookup: Lookup, rule_outcome: RuleOutcome) -> Outcome:
    """Evaluate a condition against facts (`lookup`) and other rules (`rule_outcome`)."""
    if not condition:
        return Outcome(MET)
    parts = []
    for key, value in condition.items():
        if key in ANNOTATIONS:
            continue
        if key == "all":
            items = value if isinstance(value, list) else [value]
            parts.append(all_of([evaluate(c, lookup, rule_outcome) for c in items]))
        elif key == "any":
            parts.append(any_of(value, lookup, rule_outcome))
        elif key == "not":
            inner = evaluate(value, lookup, rule_outcome)
            parts.append(inner if inner.result == UNKNOWN else Outcome(NOT_MET if inner.met else MET))
        elif key == "unknown":
            parts.append(Outcome(MET if evaluate(value, lookup, rule_outcome).result == UNKNOWN else NOT_MET))
        elif key == "rule":
            parts.append(rule_outcome(value))
        elif key == "undecided":
            parts.append(Outcome(UNKNOWN, missing=[value]))
        else:
            parts.append(check_fact(key, lookup(key), value))
    outcome = all_of(parts)
    if outcome.met and condition.get("label"):
        outcome.arm = condition["label"]
    return outcome


def any_of(arms: list[Mapping[str, Any]], lookup: Lookup, rule_outcome: RuleOutcome) -> Outcome:
    """Met by the first arm that is met; unknown if none is met and one is unknown (missing pieces once)."""
    unknown: list[Outcome] = []
    for arm in arms:
        outcome = evaluate(arm, lookup, rule_outcome)
        if outcome.met:
            return outcome
        if outcome.result == UNKNOWN:
            unknown.append(outcome)
    if not unknown:
        return Outcome(NOT_MET)
    return Outcome(UNKNOWN, missing=list(dict.fromkeys(m for outcome in unknown for m in outcome.missing)))


def _entries(condition: Any) -> list[tuple[str, Any]]:
    """Every (key, value) entry of a condition, nested ones included."""
    if isinstance(condition, list):
        return [entry for item in condition for entry in _entries(item)]
    if not isinstance(condition, Mapping):
        return []
    found = list(condition.items())
    for key, value in condition.items():
        if key in ("all", "any", "not", "unknown"):
            found += _entries(value)
    return found


def variables(condition: Any) -> set[str]:
    """Every fact name a condition tests (to check them against the vocabulary at load)."""
    return {key for key, _ in _entries(condition) if key not in COMBINATORS and key not in ANNOTATIONS}


def rule_references(condition: Any) -> set[str]:
    """Every rule id a condition refers to."""
    return {value for key, value in _entries(condition) if key == "rule"}
