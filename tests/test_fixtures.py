"""Committed fixtures are what tests/make_fixtures.py writes, and each gives its expected cards."""
from __future__ import annotations

import pytest

from tests import make_fixtures
from tests.conftest import FIXTURES, by_topic, call, load_request, status_ext


def test_committed_fixtures_match_the_generator():
    expected = make_fixtures.build_all()
    for path, content in expected.items():
        assert path.is_file(), f"{path} missing: run python -m tests.make_fixtures"
        assert path.read_text(encoding="utf-8") == make_fixtures.dump(content), f"{path.name} is stale"
    committed = set((FIXTURES / "patients").glob("*.json")) | set((FIXTURES / "requests").glob("*.json"))
    assert committed == set(expected)


# name -> (status, criteriaMet, therapy regimens, trial ids subset, testing card count)
PATIENT_VIEW = {
    "crc-ihc3-positive": ("positive", ["HERACLES", "TRIUMPH-tissue", "harmonized-10pct"], 5, {"NCT05253651", "NCT04704661"}, 0),
    "crc-ihc2-ish-positive": ("positive", ["HERACLES", "TRIUMPH-tissue"], 5, {"NCT04380012", "NCT05193292"}, 0),
    "crc-plasma-amplified": ("positive", ["TRIUMPH-blood"], 1, {"NCT05193292", "NCT05356897"}, 0),
    "crc-her2-negative": ("negative", [], 0, set(), 0),
    "crc-her2-low": ("low", [], 0, {"NCT04704661"}, 0),
    "crc-plasma-negative-low-shedding": ("indeterminate", [], 0, set(), 1),
    "crc-ras-mutant": ("positive", ["HERACLES", "TRIUMPH-tissue", "harmonized-10pct"], 5, {"NCT04704661"}, 0),
    "gastric-ihc3": ("positive", ["ToGA"], 2, {"NCT03615326", "NCT03929666"}, 0),
    "gastric-ihc2-no-ish": ("equivocal", [], 0, set(), 1),
    "gastric-after-trastuzumab": ("positive", ["ToGA"], 2, {"NCT04499924"}, 1),
    "crc-tissue-copy-number": ("positive", ["HERACLES", "TRIUMPH-tissue", "harmonized-10pct"], 5, {"NCT05356897"}, 0),
    "crc-no-her2-test": ("not-tested", [], 0, set(), 1),
    "crc-ihc2-no-ish": ("equivocal", [], 0, {"NCT05333809"}, 1),
    "gastric-plasma-only": ("indeterminate", [], 0, set(), 1),  # a HER2 result on file is never "not tested" (6.11)
    "gastric-ihc1-ish-positive": ("low", [], 0, {"NCT03929666"}, 0),
    "gastric-no-her2-test": ("not-tested", [], 0, set(), 1),
}


@pytest.mark.parametrize("name", sorted(PATIENT_VIEW))
def test_patient_view_fixture(client, name):
    status, met, n_therapies, trials, n_tests = PATIENT_VIEW[name]
    code, body = call(client, load_request(name))
    assert code == 200
    cards = body["cards"]
    ext = status_ext(cards)
    assert ext["status"] == status
    assert ext["criteriaMet"] == met
    assert len(by_topic(cards, "her2-therapy")) == n_therapies
    trial_cards = by_topic(cards, "her2-trials")
    offered = set(trial_cards[0]["extension"]["her2cds"]["trials"]) if trial_cards else set()
    assert trials <= offered
    assert not offered & {"NCT03365882", "NCT04744831", "NCT04460456"}
    assert len(by_topic(cards, "her2-testing")) == n_tests
    for card in cards:
        assert len(card["summary"]) < 140 and card["uuid"] and card["detail"]


@pytest.mark.parametrize("name, phrase", [("lung-cancer", "Malignant neoplasm of upper lobe, lung"), ("no-diagnosis", "No diagnosis")])
def test_out_of_scope_fixtures(client, name, phrase):
    code, body = call(client, load_request(name))
    assert code == 200
    [card] = body["cards"]
    assert card["source"]["topic"]["code"] == "out-of-scope" and card["indicator"] == "info"
    assert phrase in card["detail"]
