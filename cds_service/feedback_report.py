"""`her2-cds feedback report`: what clinicians did with the cards, per rule and knowledge version.

From the stored audit (every issued card with the ids of the rules that produced it) and the
CDS Hooks feedback: cards issued, accepted, overridden (with the override reasons and their
counts) and without an answer. A card counts once per rule it names; the latest feedback on a
card is its answer. This is what a CDS governance committee reviews.

Override reasons: CDS Hooks lets the EHR offer its own reasons besides the card's, so feedback with
a reason the card did not offer is stored as sent and counted here as `other`, with the codes given.
Knowledge versions are shown as `<date>+<hash>`, the form of the cards and /healthz.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .knowledge import Knowledge
from .storage import Store

NO_REASON = "(no reason given)"
OTHER = "other"
OTHER_DISPLAY = "a reason the card did not offer (the EHR's own)"
OFFERED_SYSTEM = "urn:her2-cds:override-reason"  # the system of the reasons warning cards offer (card_builder.py)


@dataclass
class RuleTally:
    rule: str
    knowledge_version: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: Counter = field(default_factory=Counter)
    reason_labels: dict[str, str] = field(default_factory=dict)
    other_reasons: Counter = field(default_factory=Counter)  # "system|code" of the reasons counted as other

    @property
    def no_answer(self) -> int:
        return self.issued - self.accepted - self.overridden

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "knowledgeVersion": self.knowledge_version, "issued": self.issued,
                "accepted": self.accepted, "overridden": self.overridden,
                "overrideReasons": [{"code": code, "display": self.reason_labels.get(code), "count": count}
                                    | ({"given": sorted(self.other_reasons)} if code == OTHER else {})
                                    for code, count in self.reasons.most_common()],
                "noAnswer": self.no_answer}


def _reason(override: Any, offered: set[str] | None) -> tuple[str, str | None, str | None]:
    """(code, display, the coding as given when counted as other) of a stored overrideReason
    ({"reason": Coding, "userComment": ...}); `offered`: the codes the cards offer (None: any)."""
    coding = override.get("reason") if isinstance(override, dict) else None
    if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
        return NO_REASON, None, None
    if offered is not None and (coding.get("system") != OFFERED_SYSTEM or coding["code"] not in offered):
        return OTHER, OTHER_DISPLAY, f"{coding.get('system', '')}|{coding['code']}"
    return coding["code"], coding.get("display") if isinstance(coding.get("display"), str) else None, None


def tally(store: Store, knowledge: Knowledge | None = None) -> tuple[list[RuleTally], int]:
    """Per (rule id, knowledge version) counts, sorted; and the number of cards stored without rule ids.
    With `knowledge`, reasons its cards do not offer count as `other`, and the version stored as a
    bare hash by earlier releases is shown with its date when it is this knowledge's."""
    tallies: dict[tuple[str, str], RuleTally] = {}
    without_rules = 0
    offered = {r["code"] for r in knowledge.raw["warnings"]["override_reasons"]} if knowledge else None
    for version, rules, feedback in store.card_outcomes():
        if not rules:
            without_rules += 1
            continue
        if knowledge and version == knowledge.version:
            version = knowledge.version_label
        for rule in dict.fromkeys(rules):
            t = tallies.setdefault((rule, version), RuleTally(rule, version))
            t.issued += 1
            if feedback is None:
                continue
            if feedback.outcome == "accepted":
                t.accepted += 1
            else:
                t.overridden += 1
                code, display, given = _reason(feedback.override_reason, offered)
                t.reasons[code] += 1
                if display:
                    t.reason_labels[code] = display
                if given:
                    t.other_reasons[given] += 1
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
        reasons = "; ".join(f"{code}{_given(t) if code == OTHER else ''} × {count}"
                            for code, count in t.reasons.most_common()) or "–"
        lines.append(f"| `{t.rule}` | {t.issued} | {t.accepted} | {t.overridden} | {reasons} | {t.no_answer} |")
    if not tallies:
        lines.append("No cards with rule ids are stored yet.")
    if without_rules:
        lines += ["", f"{without_rules} card(s) issued before rule ids were recorded are not counted."]
    return "\n".join(lines) + "\n"


def _given(t: RuleTally) -> str:
    escaped = (given.replace("|", "\\|") for given in sorted(t.other_reasons))  # a pipe would end the table cell
    return " (" + ", ".join(f"`{given}`" for given in escaped) + ")"
