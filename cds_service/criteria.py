"""Evaluate criteria written as data (cards/*.yaml): any-of arms, each all-of conditions.

Three-valued: a condition on a value that is not on file is `unknown` (with its `missing_note`),
unless the data says `if_missing: met` (then met, and its `note` is shown as a caveat).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MET, NOT_MET, UNKNOWN = "met", "not-met", "unknown"
_OPS = {
    "eq": lambda v, ref: v == ref,
    "in": lambda v, ref: v in ref,
    "gt": lambda v, ref: v > ref,
    "ge": lambda v, ref: v >= ref,
    "lt": lambda v, ref: v < ref,
    "le": lambda v, ref: v <= ref,
}


@dataclass
class Outcome:
    """The result of a rule set: met / not-met / unknown, which arm met, caveats and gaps."""

    result: str
    arm: str | None = None
    caveats: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _condition(value: Any, spec: Mapping[str, Any], name: str) -> tuple[str, str | None]:
    if spec.get("absent"):
        return (MET, None) if value is None else (NOT_MET, None)
    if value is None:
        if spec.get("if_missing") == "met":
            return MET, spec.get("note") or f"{name} not on file"
        return UNKNOWN, spec.get("missing_note") or f"{name.replace('_', ' ')} not on file"
    for op, ref in spec.items():
        if op in _OPS:
            try:
                if not _OPS[op](value, ref):
                    return NOT_MET, None
            except TypeError:
                return UNKNOWN, f"{name.replace('_', ' ')} cannot be compared"
    return MET, None


def evaluate_arm(view: Mapping[str, Any], arm: Mapping[str, Any]) -> Outcome:
    """All conditions of one arm."""
    caveats, missing, unknown = [], [], False
    for name, spec in arm["all"].items():
        result, note = _condition(view.get(name), spec, name)
        if result == NOT_MET:
            return Outcome(NOT_MET)
        if result == UNKNOWN:
            unknown = True
            missing.append(note or name)
        elif note:
            caveats.append(note)
    if unknown:
        return Outcome(UNKNOWN, missing=missing)
    return Outcome(MET, arm=arm["label"], caveats=caveats)


def evaluate(view: Mapping[str, Any], arms: list[Mapping[str, Any]]) -> Outcome:
    """Any of the arms: met if one is met, not-met if all are not met, else unknown."""
    missing: list[str] = []
    unknown = False
    for arm in arms:
        outcome = evaluate_arm(view, arm)
        if outcome.result == MET:
            return outcome
        if outcome.result == UNKNOWN:
            unknown = True
            missing += [m for m in outcome.missing if m not in missing]
    return Outcome(UNKNOWN, missing=missing) if unknown else Outcome(NOT_MET)
