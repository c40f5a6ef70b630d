"""`her2-cds feedback report`: what clinicians did with the cards, per rule and knowledge version.

From the stored audit (every issued card with the ids of the rules that produced it) and the
CDS Hooks feedback: cards issued, accepted, overridden (with the override reasons and their
counts) and without an answer. A card counts once per rule it names; the latest feedback on a
card is its answer. This is what a CDS governance committee reviews.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .storage import Store

NO_REASON = "(no reason given)"


@dataclass
class RuleTally:
    rule: str
    knowledge_version: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: Counter = field(default_factory=Counter)
    reason_labels: dict[str, str] = field(default_factory=dict)

    @property
    def no_answer(self) -> int:
        return self.issued - self.accepted - self.overridden

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "knowledgeVersion": self.knowledge_version, "issued": self.issued,
                "accepted": self.accepted, "overridden": self.overridden,
                "overrideReasons": [{"code": code, "display": self.reason_labels.get(code), "count": count}
                                    for code, count in self.reasons.most_common()],
                "noAnswer": self.no_answer}


def _reason(override: Any) -> tuple[str, str | None]:
    """(code, display) of a stored overrideReason ({"reason": Coding, "userComment": ...})."""
    coding = override.get("reason") if isinstance(override, dict) else None
    if isinstance(coding, dict) and isinstance(coding.get("code"), str):
        return coding["code"], coding.get("display") if isinstance(coding.get("display"), str) else None
    return NO_REASON, None


def tally(store: Store) -> tuple[list[RuleTally], int]:
    """Per (rule id, knowledge version) counts, sorted; and the number of cards stored without rule ids."""
    tallies: dict[tuple[str, str], RuleTally] = {}
    without_rules = 0
    for version, rules, feedback in store.card_outcomes():
        if not rules:
            without_rules += 1
            continue
        for rule in dict.fromkeys(rules):
            t = tallies.setdefault((rule, version), RuleTally(rule, version))
            t.issued += 1
            if feedback is None:
                continue
            if feedback.outcome == "accepted":
                t.accepted += 1
            else:
                t.overridden += 1
                code, display = _reason(feedback.override_reason)
                t.reasons[code] += 1
                if display:
                    t.reason_labels[code] = display
    return [tallies[k] for k in sorted(tallies, key=lambda k: (k[1], k[0]))], without_rules


def render_json(tallies: list[RuleTally], without_rules: int) -> str:
    return json.dumps({"generatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                       "rules": [t.as_json() for t in tallies], "cardsWithoutRuleIds": without_rules},
                      indent=2, ensure_ascii=False)


def render_markdown(tallies: list[RuleTally], without_rules: int) -> str:
    lines = ["# HER2 CDS feedback report", "",
             f"Generated {datetime.now(UTC).isoformat(timespec='seconds')}. One row per rule and knowledge version: "
             "cards that named the rule, and what the clinician answered (latest feedback per card).", ""]
    version = None
    for t in tallies:
        if t.knowledge_version != version:
            version = t.knowledge_version
            lines += [f"## Knowledge version {version}", "",
                      "| rule | issued | accepted | overridden | override reasons | no answer |", "|---|---|---|---|---|---|"]
        reasons = "; ".join(f"{code} × {count}" for code, count in t.reasons.most_common()) or "–"
        lines.append(f"| `{t.rule}` | {t.issued} | {t.accepted} | {t.overridden} | {reasons} | {t.no_answer} |")
    if not tallies:
        lines.append("No cards with rule ids are stored yet.")
    if without_rules:
        lines += ["", f"{without_rules} card(s) issued before rule ids were recorded are not counted."]
    return "\n".join(lines) + "\n"
