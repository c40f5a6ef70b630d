"""Reading the rule ids (extension.her2cds.rules) off cards, for the rule tests."""
from __future__ import annotations

from tests.conftest import by_topic


def rules(card: dict) -> list[str]:
    return card["extension"]["her2cds"]["rules"]


def status_rules(cards: list[dict], tumour: str | None = None) -> list[str]:
    """The rule ids of the (one) status card, for one tumour type when both are on file."""
    found = [c for c in by_topic(cards, "her2-status") if tumour is None or c["extension"]["her2cds"]["tumorType"] == tumour]
    assert len(found) == 1, found
    return rules(found[0])


def all_rules(cards: list[dict], topic: str | None = None) -> set[str]:
    return {r for c in cards if topic is None or c["source"]["topic"]["code"] == topic for r in rules(c)}


def status_rule(cards: list[dict], tumour: str | None = None) -> str:
    """The status-ladder rule that decided the status."""
    [rule] = [r for r in status_rules(cards, tumour) if ".status." in r]
    return rule
