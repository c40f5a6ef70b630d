"""The oncologist/pathologist review of main (W1, W2, S2): each finding a table with its silent twin.

Expected values are the sources': ISH HER2/CEP17 ratio >= 2.0 amplified (TRIUMPH Table 1), IHC 0/1+
low expression (ToGA: "IHC of 0 or 1+ despite FISH positivity"); assertions on rule ids and codes.
"""
from __future__ import annotations

import json

import pytest

from tests import fhir_builders as b
from tests.conftest import FIXTURES, status_ext
from tests.rule_ids import rules, status_rules
from tests.test_review_16_fixes import NEG, POS, interpretation
from tests.test_rules_unscored import P, lab_requests, run

GOLDEN = FIXTURES.parent / "tests" / "golden"  # the goldens hold cards (summary, detail) of every fixture


@pytest.mark.parametrize("tumour, results, headline", [
    # W2, decision 6.27: IHC 0 or 1+ with ISH >= 2.0 is headlined "discordant (IHC <score>, ISH amplified)" in both tumours
    ("crc", [b.ihc(P, "0"), b.ish(P, 2.0)], "discordant (IHC 0, ISH amplified)"),
    ("crc", [b.ihc(P, "1+"), b.ish(P, 2.0)], "discordant (IHC 1+, ISH amplified)"),
    ("gastric", [b.ihc(P, "0"), b.ish(P, 2.0)], "discordant (IHC 0, ISH amplified)"),
    ("gastric", [b.ihc(P, "1+"), b.ish(P, 3.0)], "discordant (IHC 1+, ISH amplified)"),
    # twins: ratio below 2.0, or IHC 2+ (concordant with an amplified ISH)
    ("crc", [b.ihc(P, "0"), b.ish(P, 1.99)], None),
    ("crc", [b.ihc(P, "1+"), b.ish(P, 1.99)], None),
    ("crc", [b.ihc(P, "2+", 60), b.ish(P, 2.0)], None),
])
def test_w2_ihc_low_ish_amplified_is_headlined_in_both_tumours(client, tumour, results, headline):
    cards = run(client, tumour, *results)
    ids = status_rules(cards)
    low = {"crc": "crc.contradiction.ihc-low-ish-amplified", "gastric": "gc.contradiction.ihc-low-ish-amplified"}[tumour]
    assert (low in ids) is bool(headline)
    assert ("common.headline.discordant" in ids) is bool(headline)
    assert (headline in cards[0]["summary"]) if headline else ("discordant" not in cards[0]["summary"])


PLASMA_AMPLIFIED = [b.erbb2_cn(P, True, 8, date="2024-01-01"), b.variant(P, "KRAS", present=False, date="2024-01-01"),
                    b.variant(P, "NRAS", present=False, date="2024-01-01")]


@pytest.mark.parametrize("results, names", [
    # W1: the status rests on plasma; the newer tissue call is negative: the plasma result is named with its date
    (PLASMA_AMPLIFIED + [interpretation("2024-06-06", NEG)], "plasma ERBB2 amplified 2024-01-01"),
    # the status rests on tissue: the scored tissue result is named
    ([b.ihc(P, "3+", 80, date="2022-02-01"), interpretation("2024-06-06", NEG)], "IHC 3+ 2022-02-01"),
])
def test_w1_the_result_that_sets_the_status_is_named(client, results, names):
    cards = run(client, "crc", *results)
    assert "common.contradiction.lab-call-negative-criteria-met" in status_rules(cards)
    assert f"discordant, {names} vs laboratory negative" in cards[0]["summary"]
    assert f"while {names} meets" in cards[0]["detail"]
    therapy = [c for c in cards if "common.therapy-note.newer-result-disagrees" in rules(c)]
    assert therapy and all(f"against {names}." in c["detail"] for c in therapy)
    assert not any("None" in c["summary"] + c.get("detail", "") for c in cards)


def _texts(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("summary", "detail", "label", "title", "description") and isinstance(value, str):
                yield value
            else:
                yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def test_w1_no_card_of_any_fixture_or_golden_says_none(client):
    from tests.conftest import call, load_request
    names = sorted(p.stem for p in (FIXTURES / "requests").glob("*.json"))
    assert names
    for name in names:
        code, body = call(client, load_request(name))
        assert not any("None" in t for t in _texts(body)), name
    for golden in GOLDEN.glob("*.json"):
        assert not any("None" in t for t in _texts(json.loads(golden.read_text()))), golden.name


GASTRIC_ORDERS = [b.draft_order(P, "trastuzumab", mid="d2"), b.draft_order(P, "cisplatin", mid="d4")]
CRC_PT = [b.draft_order(P, "pertuzumab", mid="d1"), b.draft_order(P, "trastuzumab", mid="d2")]
CRC_TDXD = [b.draft_order(P, "trastuzumab deruxtecan", mid="d3")]
IHC3 = b.ihc(P, "3+", 80, date="2022-02-01")


@pytest.mark.parametrize("tumour, results, orders, warned", [
    # S2: a newer negative laboratory call behind an older positive: the HER2 order is warned of
    ("crc", [IHC3, interpretation("2024-06-06", NEG)], CRC_PT, True),
    ("crc", [IHC3, interpretation("2024-06-06", NEG)], CRC_TDXD, True),
    ("gastric", [b.ihc(P, "3+", date="2022-02-01"), interpretation("2024-06-06", NEG)], GASTRIC_ORDERS, True),
    ("crc", PLASMA_AMPLIFIED + [interpretation("2024-06-06", NEG)], CRC_PT, True),
    # twins: no newer disagreeing call (or the call predates the scored result, which replaces it)
    ("crc", [IHC3], CRC_PT, False),
    ("gastric", [b.ihc(P, "3+", date="2022-02-01")], GASTRIC_ORDERS, False),
    ("crc", [interpretation("2021-06-06", NEG), IHC3], CRC_PT, False),
])
def test_s2_order_after_a_newer_disagreeing_call_is_warned(client, tumour, results, orders, warned):
    cards = run(client, tumour, *results, hook="order-sign", orders=orders)
    hits = [c for c in cards if "common.warning.her2-drug-newer-result-disagrees" in rules(c)]
    assert bool(hits) is warned
    if warned:
        assert hits[0]["extension"]["her2cds"]["warning"] == "her2-drug-without-positive"
        assert "2024-06-06" in hits[0]["detail"] and "None" not in hits[0]["detail"]


@pytest.mark.parametrize("tumour, results, status, discordant", [
    # S1 (decisions 6.7, 6.11, 6.32): a positive call newer than IHC 0 is no firm negative, in both tumours
    ("gastric", [b.ihc(P, "0", date="2023-01-01"), interpretation("2024-02-01", POS)], "indeterminate", True),
    ("crc", [b.ihc(P, "0", date="2023-01-01"), interpretation("2024-02-01", POS)], "indeterminate", True),
    ("gastric", [b.ihc(P, "1+", date="2023-01-01"), interpretation("2024-02-01", POS)], "indeterminate", True),
    # twins: the call predates the IHC (replaced by it), or the newer call agrees with a positive status
    ("gastric", [interpretation("2022-02-01", POS), b.ihc(P, "0", date="2023-01-01")], "negative", False),
    ("gastric", [b.ihc(P, "3+", date="2023-01-01"), interpretation("2024-02-01", POS)], "positive", False),
    ("gastric", [b.ihc(P, "0", date="2023-01-01")], "negative", False),
])
def test_s1_a_newer_positive_call_behind_ihc_low_is_discordant_and_asked(client, tumour, results, status, discordant):
    cards = run(client, tumour, *results)
    ids = status_rules(cards)
    assert status_ext(cards)["status"] == status
    assert ("common.contradiction.newer-call-positive" in ids) is discordant
    assert ("common.headline.discordant" in ids) is discordant
    assert "gc.contradiction.lab-call-positive-toga-not-met" not in ids
    if discordant:
        assert "2023-01-01 vs laboratory positive HER2 interpretation 2024-02-01" in cards[0]["summary"]
        assert lab_requests(cards) & {"gc.lab-request.newer-call", "crc.lab-request.ratio-behind-positive-call"}
    if tumour == "gastric":
        assert ("gc.lab-request.newer-call" in lab_requests(cards)) is discordant


@pytest.mark.parametrize("tumour, results, headline", [
    # S3 (decisions 6.7, 7.1, 6.33): a newer indeterminate IHC behind IHC 3+ names both, with their dates
    ("crc", [IHC3, b.ihc(P, "indeterminate", date="2024-06-06")], True),
    ("gastric", [b.ihc(P, "3+", date="2022-02-01"), b.ihc(P, "indeterminate", date="2024-06-06")], True),
    # an indeterminate IHC alone: the action card, no discordance
    ("crc", [b.ihc(P, "indeterminate", date="2024-06-06")], False),
    ("gastric", [b.ihc(P, "indeterminate", date="2024-06-06")], False),
])
def test_s3_an_indeterminate_ihc_is_named_and_acted_on(client, tumour, results, headline):
    cards = run(client, tumour, *results)
    ids = status_rules(cards)
    scope = {"crc": "crc", "gastric": "gc"}[tumour]
    assert status_ext(cards)["status"] == "indeterminate"
    assert ("common.headline.newer-ihc-indeterminate" in ids) is headline
    assert ("common.contradiction.newer-ihc-indeterminate" in ids) is headline
    assert ("common.headline.discordant" in ids) is headline
    if headline:
        assert "IHC 3+ 2022-02-01 vs newer IHC indeterminate 2024-06-06" in cards[0]["summary"]
    assert any(f"{scope}.test.ihc-indeterminate" in rules(c) for c in cards)
    if tumour == "gastric":  # decision 6.18: ToGA cannot be applied to an IHC the laboratory could not score
        assert "ToGA" in status_ext(cards)["criteriaUnknown"]
        assert "ToGA" not in status_ext(cards).get("criteriaNotMet", [])


@pytest.mark.parametrize("tumour, results", [
    # twins: a scored most recent IHC gets no indeterminate card or headline
    ("crc", [b.ihc(P, "indeterminate", date="2022-02-01"), b.ihc(P, "3+", 80, date="2024-06-06")]),
    ("gastric", [b.ihc(P, "0", date="2024-06-06")]),
])
def test_s3_twin_a_scored_latest_ihc_is_silent(client, tumour, results):
    cards = run(client, tumour, *results)
    assert not any(".test.ihc-indeterminate" in r for c in cards for r in rules(c))
    assert "common.headline.newer-ihc-indeterminate" not in status_rules(cards)


SO_GAIN, SO_CNV = ("SO:0001742", "copy_number_gain"), ("SO:0001019", "copy_number_variation")


def _erbb2_cn(change, copy_number, origin):
    o = b.erbb2_cn(P, True, copy_number, origin=origin, date="2024-04-01")
    if change:
        o["component"][1]["valueCodeableConcept"] = b.cc(b.SO, *change)
    else:
        del o["component"][1]
    return o


@pytest.mark.parametrize("change, copy_number, origin, amplified", [
    # S4 (decision 7.4): tissue "Present" without a gain code is no amplification whatever the copy number
    (SO_CNV, 2.5, "tissue", False),
    (SO_CNV, 3, "tissue", False),
    (SO_CNV, 8, "tissue", False),
    (None, 6, "tissue", False),
    # twins: a tissue gain code is amplification; plasma keeps "any copy number above 2"
    (SO_GAIN, None, "tissue", True),
    (SO_GAIN, 3, "tissue", True),
    (SO_CNV, 2.5, "plasma", True),
    (None, 6, "plasma", True),
])
def test_s4_tissue_copy_number_variant_needs_a_gain_code(client, change, copy_number, origin, amplified):
    cards = run(client, "crc", _erbb2_cn(change, copy_number, origin))
    ext = status_ext(cards)
    asked = "crc.lab-request.ngs-amplification" in lab_requests(cards)
    assert asked is not amplified
    if origin == "tissue":
        assert ("Tissue NGS: ERBB2 amplified" in cards[0]["summary"]) is amplified
    assert ext["status"] in ("indeterminate", "positive")


@pytest.mark.parametrize("results, on_file", [
    # W3: a plasma ERBB2 result on file without a usable value is never called "not known to be from plasma"
    ([_erbb2_cn(SO_CNV, 2, "plasma")], True),
    ([b.ihc(P, "1+")], False),  # twin: no plasma result at all
])
def test_w3_triumph_blood_reason_does_not_deny_a_plasma_result_on_file(client, results, on_file):
    cards = run(client, "crc", *results)
    detail = cards[0]["detail"]
    assert "known to be from plasma" not in detail
    assert "TRIUMPH blood: cannot be applied — no usable ERBB2 amplification result from plasma (ctDNA)" in detail
    assert ("crc.lab-request.ngs-amplification" in lab_requests(cards)) is on_file
