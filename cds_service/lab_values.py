"""Laboratory values as sent: quantities and units, ratios, HER2 IHC scores written as text, and
the laboratory's own interpretation. Nothing is converted, completed or guessed: what cannot be
read is returned with the reason (docs/input-codes.md, cards/codes.yaml).
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .fhir_read import codings, concept_texts

RATIO_UNITS = {None, "{ratio}", "ratio", "1", "{Ratio}"}
COPY_UNITS = {None, "1", "{copies}", "{copies}/{cell}", "/{cell}", "{copies/cell}", "{copy number}", "{CopyNumber}",
              "{copies}/{nucleus}", "{copies}/nucleus", "/{nucleus}", "{signals}/{nucleus}", "{#}/{nucleus}"}

Reader = Callable[[Any], tuple[float | None, str | None]]


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (bools, text, NaN, infinities, overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        result = float(value)
    except (OverflowError, ValueError):
        return None
    return result if math.isfinite(result) else None


def unit_of(q: dict) -> Any:
    unit = q.get("code") if q.get("code") is not None else q.get("unit")
    return unit.strip() if isinstance(unit, str) else unit


def quantity(q: Any, allowed_units: set[str | None]) -> tuple[float | None, str | None]:
    """(value, problem). A unit outside `allowed_units` is a problem, never converted; a bound
    ("<2.0", comparator) is not a value."""
    if not isinstance(q, dict):
        return None, "no value"
    value = number(q.get("value"))
    if value is None:
        return None, "value is not a number"
    if q.get("comparator"):
        return None, f"value given as a bound ({q['comparator']}{value:g}), not a value"
    unit = unit_of(q)
    if unit not in allowed_units:
        return None, f"unit {unit!r} not understood"
    return value, None


def percent_value(q: Any, fraction_allowed: bool) -> tuple[float | None, str | None]:
    """A percentage from `%`, or from a 0-1 fraction with unit `1` where the contract allows it."""
    value, problem = quantity(q, {"%", "1", None} if fraction_allowed else {"%"})
    if value is None:
        return None, problem
    if unit_of(q) in ("1", None):
        if not 0 <= value <= 1:
            return None, f"fraction {value} outside 0-1"
        value *= 100
    if not 0 <= value <= 100:
        return None, f"percentage {value} outside 0-100"
    return value, None


def percent_reader(fraction_allowed: bool) -> Reader:
    return lambda q: percent_value(q, fraction_allowed=fraction_allowed)


def copies_reader(q: Any) -> tuple[float | None, str | None]:
    return quantity(q, COPY_UNITS)


def ratio_value(node: dict) -> tuple[float | None, str | None, str | None]:
    """(ratio, problem, lacks) from valueQuantity or valueRatio of an Observation or component.

    `lacks` names what the result lacks for the criteria: "value", "ratio-unit", "ratio-copies" (a copy
    count sent as the ratio) or "ratio-bound".
    """
    if isinstance(node.get("valueQuantity"), dict):
        q = node["valueQuantity"]
        value, problem = quantity(q, RATIO_UNITS)
        if value is None:
            lacks = "ratio-bound" if q.get("comparator") else "ratio-unit" if problem and problem.startswith("unit") else "value"
            unit = f"{q.get('unit') or ''} {q.get('code') or ''}".lower()
            if lacks == "ratio-unit" and "cop" in unit:  # "copies", "copies/cell": a count, not HER2/CEP17
                lacks = "ratio-copies"
            return None, problem, lacks
    elif isinstance(node.get("valueRatio"), dict):
        num = number((node["valueRatio"].get("numerator") or {}).get("value"))
        den = number((node["valueRatio"].get("denominator") or {}).get("value"))
        if num is None or not den:
            return None, "ratio not readable", "value"
        value = num / den
    else:
        return None, "no ratio value", "value"
    if value < 0:
        return None, "negative ratio", "value"
    return value, None, None


def value_text(node: dict) -> str | None:
    """The value of an Observation or component as the laboratory sent it, for display."""
    if isinstance(node.get("valueString"), str):
        return node["valueString"]
    concept = node.get("valueCodeableConcept")
    if isinstance(concept, dict):
        texts = concept_texts(concept)
        if texts:
            return texts[0]
        codes = [c["code"] for c in codings(concept) if "code" in c]
        return codes[0] if codes else None
    q = node.get("valueQuantity")
    if isinstance(q, dict) and number(q.get("value")) is not None:
        unit = unit_of(q)
        return f"{q.get('comparator') or ''}{number(q['value']):g}" + (f" {unit}" if unit else "")
    ratio = node.get("valueRatio")
    if isinstance(ratio, dict):
        num, den = (number((ratio.get(k) or {}).get("value")) for k in ("numerator", "denominator"))
        return f"{num:g}/{den:g}" if num is not None and den is not None else None
    for key in ("valueInteger", "valueBoolean"):
        if key in node and node[key] is not None:
            return str(node[key])
    return None


# ---------------------------------------------------------------- IHC scores written as text

_PLUS = str.maketrans({"＋": "+", "⁺": "+"})
_HER2 = re.compile(r"\bher[\s-]*2(?:\s*/\s*neu)?\b")
_ERBB2 = re.compile(r"\bc-?erb-?b-?2\b")
_PERCENT_CLAUSE = re.compile(r"\bin\s+(\d+(?:\.\d+)?)\s*%\s+of\s+(?:the\s+)?(?:invasive\s+)?(?:tumou?r\s+)?cells\b")
_TOKEN = re.compile(r"(?P<score>[0-3])\s*\+(?![+\d])|(?P<num>\d+(?:\.\d+)?%?)|(?P<word>[a-z][a-z0-9]*(?:[-/][a-z0-9]+)*)|(?P<other>\S)")


@dataclass(frozen=True)
class IhcText:
    """What a free-text IHC value says: the score, or why none can be read (`problem`)."""

    score: str | None  # "0" | "1+" | "2+" | "3+" | "indeterminate" | None
    problem: str | None = None  # None | "no-score" | "ambiguous" | "conflict"
    percent_cells: float | None = None


class IhcTextReader:
    """Reads an IHC score from text only when the text is unambiguous (codes.yaml `ihc_text`).

    Accepted: exactly one score (0, 1+, 2+, 3+; a bare 0-3 counts) among filler words ("HER2",
    "IHC", "score") and wording that agrees with it ("positive (3+)", "Negative (Score 1+)",
    "2+ equivocal", "IHC 1+ (low)"), optionally "in N% of (tumour) cells". Anything else
    ("1+/3", "+++", "2+ to 3+", "positive (1+)") gives no score and says why.
    """

    def __init__(self, config: dict) -> None:
        self.filler = set(config["filler"])
        self.wording = {word: set(scores) for word, scores in config["wording"].items()}

    def read(self, text: str) -> IhcText:
        t = _ERBB2.sub(" erbb2 ", _HER2.sub(" her2 ", text.translate(_PLUS).lower()))
        percent = None
        clause = _PERCENT_CLAUSE.search(t)
        if clause:
            percent = float(clause.group(1))
            t = t[:clause.start()] + " " + t[clause.end():]
        t = re.sub(r"[():;,\[\]]", " ", t)
        scores: set[str] = set()
        words: set[str] = set()
        unknown = plus_marks = False
        for match in _TOKEN.finditer(t):
            kind, token = match.lastgroup, match.group(0)
            if kind == "score":
                scores.add("0" if match.group("score") == "0" else f"{match.group('score')}+")
            elif kind == "num" and re.fullmatch(r"[0-3]", token):
                scores.add("0" if token == "0" else f"{token}+")
            elif kind == "word" and (token in self.wording or token == "indeterminate"):
                words.add(token)
            elif token not in self.filler:
                unknown = True
                plus_marks = plus_marks or token == "+"
        if percent is not None and not 0 <= percent <= 100:
            unknown = True
        if not scores and not plus_marks:
            if words == {"indeterminate"} and not unknown:
                return IhcText("indeterminate")
            return IhcText(None, "no-score")
        if unknown or len(scores) != 1:
            return IhcText(None, "ambiguous")
        score = scores.pop()
        if "indeterminate" in words or any(score not in self.wording[w] for w in words if w in self.wording):
            return IhcText(None, "conflict")
        return IhcText(score, None, percent)


# ---------------------------------------------------------------- the laboratory's own call


class Interpreter:
    """The laboratory's call (positive / negative / equivocal / indeterminate) and presence
    answers, from codes (codes.yaml `interpretation_codes`, `presence_answers`) or words."""

    def __init__(self, codes: dict) -> None:
        systems = codes["systems"]
        self.loinc = systems["loinc"]
        system_of = {"loinc": self.loinc, "snomed": systems["snomed"], "v3": systems["v3_interpretation"]}
        self.calls = {(system_of[s], code): call
                      for call, by_system in codes["interpretation_codes"].items()
                      for s, code_list in by_system.items() for code in code_list}
        self.presence = {(system_of[s], code): present
                         for s, answers in codes["presence_answers"].items() for code, present in answers.items()}
        words = codes["interpretation_words"]
        # negative phrases first: "not amplified" must not read as "amplified"
        self.words = [(call, re.compile(rf"(?<![a-z]){re.escape(w)}(?![a-z])"))
                      for call in ("negative", "equivocal", "indeterminate", "positive") for w in words[call]]

    def _key(self, coding: dict) -> tuple[str | None, str | None]:
        """(system, code); a LOINC answer code (LA...) sent without its system is still LOINC's."""
        code = coding.get("code")
        system = coding.get("system") or (self.loinc if isinstance(code, str) and code.startswith("LA") else None)
        return system, code

    def coded_call(self, concept: Any) -> str | None:
        found = {self.calls[self._key(c)] for c in codings(concept) if self._key(c) in self.calls}
        return found.pop() if len(found) == 1 else None

    def present(self, concept: Any) -> bool | None:
        found = {self.presence[self._key(c)] for c in codings(concept) if self._key(c) in self.presence}
        return found.pop() if len(found) == 1 else None

    def text_call(self, text: str | None) -> str | None:
        if not text:
            return None
        remaining = f" {text.lower()} "
        found = set()
        for call, pattern in self.words:
            if pattern.search(remaining):
                found.add(call)
                remaining = pattern.sub(" ", remaining)
        return found.pop() if len(found) == 1 else None

    def call(self, node: dict, presence_means_positive: bool = False) -> str | None:
        """The call stated by a value (coded or text) or by Observation.interpretation."""
        concept = node.get("valueCodeableConcept")
        calls = {self.coded_call(concept), self.text_call(node.get("valueString"))}
        for text in concept_texts(concept):
            calls.add(self.text_call(text))
        if presence_means_positive:
            present = self.present(concept)
            if present is not None:
                calls.add("positive" if present else "negative")
        for item in node.get("interpretation") or []:
            calls.add(self.coded_call(item))
            for text in concept_texts(item):
                calls.add(self.text_call(text))
        calls.discard(None)
        return calls.pop() if len(calls) == 1 else None
