"""Golden snapshot: every fixture and every synthetic case gives exactly the committed cards.

A deliberate change of behaviour regenerates the snapshot with `python -m tests.golden_cases`
(read the diff before committing it).
"""
from __future__ import annotations

import json

import pytest

from tests import golden_cases

REGENERATE = "a deliberate change? regenerate with `python -m tests.golden_cases` and review the diff"


@pytest.fixture(scope="module")
def current():
    return golden_cases.snapshot()


def _committed(name):
    return json.loads((golden_cases.GOLDEN / f"{name}.json").read_text(encoding="utf-8"))


def _differences(expected: dict, actual: dict) -> list[str]:
    names = sorted(set(expected) | set(actual))
    return [n for n in names if expected.get(n) != actual.get(n)]


def test_fixture_cards_are_the_golden_ones(current):
    diff = _differences(_committed("fixtures"), current["fixtures"])
    assert not diff, f"cards changed for fixtures {diff[:10]}: {REGENERATE}"


def test_synthetic_case_cards_are_the_golden_ones(current):
    diff = _differences(golden_cases.expand(_committed("scenarios")), current["scenarios"])
    assert not diff, f"cards changed for {len(diff)} synthetic cases, e.g. {diff[:10]}: {REGENERATE}"


def test_rule_ids_of_every_card_are_the_golden_ones(current):
    diff = _differences(_committed("rules"), current["rules"])
    assert not diff, f"rule ids changed for {len(diff)} cases, e.g. {diff[:10]}: {REGENERATE}"
