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
    "crc-ihc3-positive": ("positive", ["HERACLES", "TRIUMPH-tissue", "harmonized-10pct"], 5, {"NCT04704661"}, 0),
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
    # issue #15
    "crc-ihc1-ish-amplified": ("positive", ["TRIUMPH-tissue"], 4, {"NCT04704661"}, 0),  # no T-DXd card (6.1)
    "crc-ihc0-ish-amplified": ("positive", ["TRIUMPH-tissue"], 4, {"NCT03929666"}, 0),
    "crc-ish-only": ("indeterminate", [], 0, set(), 1),  # 6.2: IHC suggested
    "crc-discordant-ihc-over-time": ("low", [], 0, {"NCT04704661"}, 0),
    "crc-tissue-negative-plasma-positive": ("positive", ["TRIUMPH-blood"], 1, {"NCT05193292"}, 0),
    "crc-ihc3-below-threshold": ("indeterminate", [], 0, {"NCT03929666"}, 1),
    "gastric-retest-plasma-amplified": ("positive", ["ToGA"], 2, {"NCT04499924"}, 0),  # 6.5: no re-test asked again
    "gastric-retest-plasma-not-amplified": ("positive", ["ToGA"], 2, {"NCT04499924"}, 1),
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


# ---------------------------------------------------------------- issue #15, card by card (HTTP level)
@pytest.mark.parametrize("name, summary_start, not_offered", [
    ("crc-discordant-ihc-over-time", "HER2-low (colorectal), discordant: IHC 1+", {"NCT05350917"}),  # 6.6, 6.7
    ("crc-tissue-negative-plasma-positive", "HER2-positive (colorectal), discordant, plasma only: TRIUMPH blood met", set()),
    ("crc-ras-mutant", "HER2-positive (colorectal), RAS-mutant (KRAS p.Gly12Asp, plasma, clonality 80%): ", set()),  # 6.10
    ("crc-ihc3-positive", "HER2-positive (colorectal): HERACLES, TRIUMPH tissue, harmonized 10% criterion met", {"NCT05253651"}),
    ("gastric-after-trastuzumab", "HER2-positive (gastric/GEJ): ToGA met", {"NCT03615326", "NCT04082364", "NCT03409848"}),
    ("gastric-retest-plasma-not-amplified", "HER2-positive (gastric/GEJ), discordant: ToGA met", {"NCT03615326"}),
])
def test_issue_15_status_headline_and_trials_not_offered(client, name, summary_start, not_offered):
    cards = call(client, load_request(name))[1]["cards"]
    assert by_topic(cards, "her2-status")[0]["summary"].startswith(summary_start)
    trials = by_topic(cards, "her2-trials")[0]
    section = trials["detail"].split("**Not offered**")[1].split("\n\n")[0] if not_offered else ""
    assert {n for n in not_offered if n in section} == not_offered
    assert not not_offered & set(trials["extension"]["her2cds"]["trials"])


@pytest.mark.parametrize("name, therapy_summaries, testing", [
    ("crc-ihc1-ish-amplified", ["Option: Pertuzumab + trastuzumab", "Option: Trastuzumab + lapatinib", "Option: Tucatinib + trastuzumab",
                                "Option: Pertuzumab + trastuzumab emtansine (T-DM1): weak evidence"], []),
    ("crc-ish-only", [], ["ISH without IHC: order HER2 IHC"]),
    ("crc-ihc3-below-threshold", [], ["IHC 3+ below the cell-fraction threshold: order ISH"]),
    ("gastric-retest-plasma-amplified", ["Option: Trastuzumab deruxtecan (T-DXd) after a trastuzumab-containing regimen",
                                         "Option: Disitamab vedotin (RC48) after a trastuzumab-containing regimen"], []),
    ("gastric-retest-plasma-not-amplified", ["Option: Trastuzumab deruxtecan (T-DXd) after a trastuzumab-containing regimen",
                                             "Option: Disitamab vedotin (RC48) after a trastuzumab-containing regimen"],
     ["Plasma ERBB2 after trastuzumab not amplified: re-test tumour tissue"]),
])
def test_issue_15_therapy_and_testing_cards(client, name, therapy_summaries, testing):
    cards = call(client, load_request(name))[1]["cards"]
    assert [c["summary"] for c in by_topic(cards, "her2-therapy")] == therapy_summaries
    assert [c["summary"] for c in by_topic(cards, "her2-testing")] == testing


@pytest.mark.parametrize("name", ["gastric-ihc3", "gastric-after-trastuzumab", "crc-ihc3-positive"])
def test_issue_15_safety_notes_on_therapy_cards(client, name):
    for card in by_topic(call(client, load_request(name))[1]["cards"], "her2-therapy"):
        regimen = card["extension"]["her2cds"]["regimen"]
        assert ("myelosuppression" in card["detail"]) is (regimen == ["trastuzumab deruxtecan"])
        assert ("pneumonitis and colitis" in card["detail"]) is (regimen == ["pembrolizumab", "trastuzumab"])


@pytest.mark.parametrize("name", sorted(p.stem for p in (FIXTURES / "requests").glob("*.json")))
def test_issue_15_card_text_names_no_internal_id(client, name):
    """Decision 6.10: criterion names, drugs and result dates, never record ids or internal codes (the
    data-quality notes of the fact layer too name their result by test and date)."""
    for card in call(client, load_request(name))[1]["cards"]:
        text = "\n".join([card["summary"], card["detail"], *(s["label"] for s in card.get("suggestions", []))])
        assert [w for w in ("Observation/", "DiagnosticReport/", "MedicationRequest/", "harmonized-10pct", "TRIUMPH-tissue",
                            "TRIUMPH-blood",
                            "HER2 criterion: -", "clinical rules decision") if w in text] == []
