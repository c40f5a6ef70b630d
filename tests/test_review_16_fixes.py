"""The molecular pathologist's review of decision 6.11 (results in the shapes laboratories send).

One section per finding, each a table whose rows include the twin that must stay silent; the requests
are the reviewer's probes, rebuilt here with tests/fhir_builders.py. Expected values are the sources'
(ISH ratio >= 2 / > 2, IHC 2+ equivocal "to be confirmed by FISH", the diploid ERBB2 copy number 2) and
the codes of the published guides, written in the test; assertions are on status codes and rule ids.
"""
from __future__ import annotations

import pytest

from tests import fhir_builders as b
from tests.conftest import by_topic, status_ext
from tests.rule_ids import rules
from tests.test_rules_unscored import LOINC, V2, P, created, lab_requests, obs, run, suggested_by

SO = b.SO
CNV = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(SO, "SO:0001019", "copy_number_variation"))
GAIN = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(SO, "SO:0001742", "copy_number_gain"))


def copies(value: float) -> dict:
    return b.component(LOINC, "82155-3", valueQuantity={"value": value, "system": "http://unitsofmeasure.org", "code": "1"})


def erbb2(specimen_code: str, *extra: dict) -> list[dict]:
    spec = b.specimen(P, V2, specimen_code, sid=f"s-{specimen_code.lower()}")
    return [spec, b.gr_variant(P, "ERBB2", True, specimen=b.ref(spec), extra=extra, oid="erbb2", date="2024-03-01")]


def ras_wild_type() -> list[dict]:
    return [b.variant(P, "KRAS", present=False, date="2024-03-01"), b.variant(P, "NRAS", present=False, date="2024-03-01")]


def therapy_rules(cards: list[dict]) -> set[str]:
    return {r for c in by_topic(cards, "her2-therapy") for r in rules(c)}


def trial_ids(cards: list[dict]) -> list[str]:
    return [t for c in by_topic(cards, "her2-trials") for t in c["extension"]["her2cds"].get("trials", [])]


# ---------------------------------------------------------------- 1. ERBB2 copy-number variant "Present"

@pytest.mark.parametrize("tumour, specimen, extra, amplified, asked", [
    # plasma CN 1 / 2 with RAS wild-type: not TRIUMPH-blood, the laboratory is asked (reviewer's probes)
    ("crc", "PLAS", (CNV, copies(1)), False, "crc.lab-request.ngs-amplification"),
    ("crc", "PLAS", (CNV, copies(2)), False, "crc.lab-request.ngs-amplification"),
    ("crc", "PLAS", (CNV,), False, "crc.lab-request.ngs-amplification"),      # no copy number: may be a loss
    ("crc", "PLAS", (CNV, copies(3)), True, None),                             # twin: above the diploid 2
    ("crc", "PLAS", (GAIN,), True, None),                                      # twin: coded as a gain
    ("crc", "TUMOR", (CNV, copies(2)), False, "crc.lab-request.ngs-amplification"),
    ("crc", "TUMOR", (GAIN, copies(2)), False, "crc.lab-request.ngs-amplification"),  # a gain of 2 contradicts itself
    # decision 7.4 (review of main, S4): in tissue only a gain code is amplification, whatever the copy number
    ("crc", "TUMOR", (CNV, copies(8)), False, "crc.lab-request.ngs-amplification"),
    ("crc", "TUMOR", (GAIN, copies(8)), True, None),                            # twin: coded as a gain
    ("gastric", "TUMOR", (CNV, copies(2)), False, "gc.lab-request.ngs-amplification"),
    ("gastric", "TUMOR", (CNV,), False, "gc.lab-request.ngs-amplification"),
    ("gastric", "TUMOR", (GAIN, copies(8)), True, None),
])
def test_1_copy_number_variant_is_amplified_only_as_a_gain_or_above_two(client, tumour, specimen, extra, amplified, asked):
    ras = ras_wild_type() if tumour == "crc" and specimen == "PLAS" else []
    cards = run(client, tumour, *erbb2(specimen, *extra), *ras)
    status = status_ext(cards)
    assert lab_requests(cards) == ({asked} if asked else set())
    if tumour == "crc" and specimen == "PLAS":
        assert ("TRIUMPH-blood" in status["criteriaMet"]) is amplified
        assert ("crc.therapy.pertuzumab-trastuzumab" in therapy_rules(cards)) is amplified
    if tumour == "crc" and specimen == "TUMOR":  # 3T: "gene copy number > 6 or HER2 amplification by NGS"
        assert ("NCT05356897" in trial_ids(cards)) is amplified
    if not amplified:
        assert status["status"] != "positive"
        [ask] = created(cards, "CommunicationRequest")
        assert "2024-03-01" in ask["payload"][0]["contentString"]
        assert suggested_by(cards)[0] == "common.test.ask-laboratory"


# ---------------------------------------------------------------- 2. a newer result without score behind an older scored one

NEG, POS, PRESENT = ("LA6577-6", "Negative"), ("LA6576-8", "Positive"), ("LA9633-4", "Present")


def interpretation(date: str, answer: tuple[str, str]) -> dict:
    return obs("48676-1", "HER2 [Interpretation] in Tissue", date, oid=f"interp-{date}", valueCodeableConcept=b.loinc(*answer))


def stain_present(date: str) -> dict:
    return obs("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain", date, oid=f"stain-{date}",
               valueCodeableConcept=b.loinc(*PRESENT))


def ihc3(tumour: str, date: str) -> dict:
    return b.ihc(P, "3+", 80.0, date=date) if tumour == "crc" else b.ihc(P, "3+", date=date)


DISCORDANT = {"common.contradiction.lab-call-negative-criteria-met", "common.headline.discordant", "common.headline.lab-call-negative"}
NEWER = {"common.contradiction.newer-result-without-score", "common.headline.newer-result-without-score"}


@pytest.mark.parametrize("tumour", ["crc", "gastric"])
@pytest.mark.parametrize("later, status_rules, therapy_note, lab, in_summary", [
    # the reviewer's probe: IHC 3+ 2022-02-01, then the laboratory's "Negative" 2024-06-06 without a score
    (lambda: interpretation("2024-06-06", NEG), DISCORDANT, "common.therapy-note.newer-result-disagrees",
     "{p}.lab-request.newer-call", ["discordant", "IHC 3+ 2022-02-01", "negative", "2024-06-06"]),
    # an IHC of the same kind without a score, newer than the scored one (finding 8)
    (lambda: stain_present("2024-06-06"), NEWER, "common.therapy-note.newer-result-without-score",
     "{p}.lab-request.ihc-score", ["newer HER2 IHC 2024-06-06 has no score"]),
    # twins: the newer call agrees; the call or the unscored IHC predates the scored IHC
    (lambda: interpretation("2024-06-06", POS), set(), None, None, []),
    (lambda: interpretation("2021-06-06", NEG), set(), None, None, []),
    (lambda: stain_present("2021-06-06"), set(), None, None, []),
])
def test_2_a_newer_result_without_score_is_not_hidden_behind_an_older_positive(
        client, tumour, later, status_rules, therapy_note, lab, in_summary):
    cards = run(client, tumour, ihc3(tumour, "2022-02-01"), later())
    status = status_ext(cards)
    assert status["status"] == "positive"
    assert set(status["rules"]) & (DISCORDANT | NEWER) == status_rules
    therapies = by_topic(cards, "her2-therapy")
    assert therapies and all((therapy_note in rules(c)) is (therapy_note is not None) for c in therapies)
    prefix = "crc" if tumour == "crc" else "gc"
    assert lab_requests(cards) == ({lab.format(p=prefix)} if lab else set())
    summary = cards[0]["summary"]
    assert all(words in summary for words in in_summary), summary


# ---------------------------------------------------------------- 3. results on file that are no criterion

def serum(date: str = "2024-03-01") -> dict:
    return obs("32996-1", "HER2 [Mass/volume] in Serum", date, oid=f"serum-{date}", valueQuantity={"value": 25, "unit": "ng/mL"})


def germline(date: str = "2024-03-02") -> dict:
    source = b.component(LOINC, "48002-0", valueCodeableConcept=b.loinc("LA6683-2", "Germline"))
    return b.gr_variant(P, "ERBB2", True, specimen="Blood", extra=(GAIN, copies(12), source), oid="germline", date=date)


def immunoassay_units(date: str = "2024-03-03") -> dict:
    return obs("72382-5", "HER2 [Units/volume] in Tissue by Immunoassay", date, oid="ia", valueQuantity={"value": 20, "unit": "IU/mL"})


NOT_TESTED_WORDS = ("HER2 not tested", "not tested**", "no result")  # "No HER2 IHC or ISH" is true and lists them


@pytest.mark.parametrize("tumour, results, named", [
    ("gastric", lambda: [serum(), germline(), immunoassay_units()],
     ["serum HER2 2024-03-01", "germline ERBB2 2024-03-02", "HER2 tissue immunoassay 2024-03-03"]),
    ("crc", lambda: [serum()], ["serum HER2 2024-03-01"]),
    ("gastric", lambda: [germline()], ["germline ERBB2 2024-03-02"]),
])
def test_3_results_that_are_no_criterion_are_all_named_never_not_tested(client, tumour, results, named):
    cards = run(client, tumour, *results())
    status = status_ext(cards)
    assert status["status"] == "not-tested"  # the code: no criterion test on file; the words say what is
    summary, testing = cards[0]["summary"], by_topic(cards, "her2-testing")
    assert summary.startswith("No tumour HER2 test usable for the criteria")
    assert named[0] in summary  # the summary (< 140 characters) starts the list, the testing card has every one
    assert testing and all(name in testing[0]["detail"] for name in named)
    for card in cards:
        assert not any(words in card["summary"] + card["detail"] for words in NOT_TESTED_WORDS), card["summary"]


def test_3_silent_twin_nothing_on_file_is_not_tested(client):
    cards = run(client, "gastric")
    assert cards[0]["summary"].startswith("HER2 not tested")
    assert "On file but not usable" not in by_topic(cards, "her2-testing")[0]["detail"]


# ---------------------------------------------------------------- 4. a tissue immunoassay with the laboratory's call

def immunoassay_call(answer: tuple[str, str], date: str = "2024-02-01") -> dict:
    return obs("72383-3", "HER2 [Presence] in Tissue by Immunoassay", date, oid="ia-call", valueCodeableConcept=b.loinc(*answer))


@pytest.mark.parametrize("tumour, lab, hook, orders", [
    ("crc", "crc.lab-request.immunoassay", "patient-view", None),
    ("gastric", "gc.lab-request.immunoassay", "patient-view", None),
    ("gastric", "gc.lab-request.immunoassay", "order-sign", [b.draft_order(P, "oxaliplatin", "32592", mid="ox")]),
])
def test_4_a_tissue_immunoassay_positive_is_shown_and_asked_not_retested(client, tumour, lab, hook, orders):
    cards = run(client, tumour, immunoassay_call(POS), hook=hook, orders=orders)
    status = status_ext(cards)
    assert status["status"] == "indeterminate" and status["criteriaMet"] == []  # a call meets no criterion
    assert "the laboratory's own call: **positive**" in cards[0]["detail"] and "2024-02-01" in cards[0]["detail"]
    assert lab_requests(cards) == {lab}
    assert created(cards, "ServiceRequest") == []  # the laboratory is asked, no new IHC/ISH ordered
    [ask] = created(cards, "CommunicationRequest")
    assert "immunohistochemistry" in ask["payload"][0]["contentString"]
    for card in cards:  # integrator guidance stays in docs/input-codes.md
        assert "18474-7" not in card["detail"] and "map IHC" not in card["detail"]


def test_4_silent_twin_a_quantitative_tissue_immunoassay_stays_not_used(client):
    cards = run(client, "gastric", immunoassay_units())
    assert lab_requests(cards) == set() and "**On file, not used**" in cards[0]["detail"]
    assert "map IHC results" not in cards[0]["detail"]


# ---------------------------------------------------------------- 6. citations of the tumour type the card is for

FISH_AMPLIFIED = ("31150-6", "ERBB2 gene duplication [Presence] in Tissue by FISH")
REVIEW = {"crc": "(colorectal review)", "gastric": "(gastric review)"}


@pytest.mark.parametrize("tumour", ["crc", "gastric"])
@pytest.mark.parametrize("results", [
    lambda: erbb2("TUMOR", CNV, copies(2)),                                          # the reviewer's gc-tissue-ngs-cn2
    lambda: [obs(*FISH_AMPLIFIED, "2024-02-05", oid="fish", valueString="Amplified")],  # gc-fish-amplified-only
    lambda: [b.ihc(P, "2+", 40.0), interpretation("2024-02-06", POS)],               # gc-ihc2-interp-positive
    lambda: [b.ihc(P, "2+", 40.0)],                                                  # twin: reflex ISH, a shared suggestion
])
def test_6_testing_cards_cite_the_source_of_their_tumour_type(client, tumour, results):
    cards = run(client, tumour, *results())
    testing = by_topic(cards, "her2-testing")
    assert testing
    other = REVIEW["gastric" if tumour == "crc" else "crc"]
    for card in testing:
        [sources] = [line for line in card["detail"].splitlines() if line.startswith("Sources: ")]
        assert REVIEW[tumour] in sources and other not in sources, sources
        assert REVIEW[tumour] in card["source"]["label"]


# ---------------------------------------------------------------- 9. a HER2 drug ordered on the laboratory's positive call

TRASTUZUMAB = [b.draft_order(P, "trastuzumab", mid="tz")]
CALL_WARNING, NO_POSITIVE = "common.warning.her2-drug-lab-call-without-score", "common.warning.her2-drug-without-positive"


@pytest.mark.parametrize("tumour", ["crc", "gastric"])
@pytest.mark.parametrize("results, warning", [
    (lambda: [interpretation("2024-05-01", POS)], CALL_WARNING),        # the reviewer's gc-interp-positive-trastuzumab-sign
    (lambda: [immunoassay_call(POS, "2024-05-01")], CALL_WARNING),      # a call on a tissue immunoassay
    (lambda: [interpretation("2024-05-01", NEG)], NO_POSITIVE),         # twins: a negative call, no call at all
    (lambda: [stain_present("2024-05-01")], NO_POSITIVE),
])
def test_9_the_warning_names_the_laboratorys_positive_call_and_asks_for_the_score(client, tumour, results, warning):
    cards = run(client, tumour, *results(), hook="order-sign", orders=TRASTUZUMAB)
    [card] = [c for c in by_topic(cards, "order-warning") if c["extension"]["her2cds"]["warning"] == "her2-drug-without-positive"]
    assert rules(card)[0] == warning and {CALL_WARNING, NO_POSITIVE} - {warning} & set(rules(card)) == set()
    assert "2024-05-01" in card["detail"]
    assert created([card], "CommunicationRequest") and not created([card], "ServiceRequest")
    if warning == CALL_WARNING:
        assert "without a HER2-positive result on file" not in card["summary"] + card["detail"]
        assert "the laboratory calls HER2 positive" in card["detail"]


# ---------------------------------------------------------------- 10. an IHC the laboratory calls equivocal, without a score

def stain_text(text: str, date: str = "2024-02-01") -> dict:
    return obs("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain", date, oid=f"stain-text-{date}", valueString=text)


@pytest.mark.parametrize("tumour, prefix", [("crc", "crc"), ("gastric", "gc")])
@pytest.mark.parametrize("results, lab, reflex", [
    (lambda: [stain_text("Equivocal")], "equivocal-ihc", True),                           # the reviewer's gc-ihc-text-equivocal-only
    (lambda: [stain_text("Equivocal"), b.ish(P, 1.5, date="2024-02-05")], "ihc-score", False),  # a ratio on file: the score only
    (lambda: [stain_text("Positive")], "ihc-score", False),                              # twin: another call
    (lambda: [stain_present("2024-02-01")], "ihc-score", False),                         # twin: no call
])
def test_10_equivocal_without_score_asks_for_score_and_ratio_and_offers_reflex_ish(client, tumour, prefix, results, lab, reflex):
    cards = run(client, tumour, *results())
    assert lab_requests(cards) == {f"{prefix}.lab-request.{lab}"}
    assert (f"{prefix}.test.reflex-ish-equivocal-call" in suggested_by(cards)) is reflex
    ordered = {r["code"]["coding"][0]["code"] for r in created(cards, "ServiceRequest")}
    assert ("49683-6" in ordered) is reflex and "18474-7" not in ordered  # ISH offered, the IHC never repeated


# ---------------------------------------------------------------- 11. what a result lacks, in words; only what could change the outcome

ISH_RATIO = ("49683-6", "ERBB2 gene copy number/Chromosome 17 copy number in Tissue by FISH")


@pytest.mark.parametrize("quantity, lacks", [
    ({"value": 2.6, "unit": "copies"}, "a copy count (unit 'copies'), not a HER2/CEP17 ratio"),  # the reviewer's probe
    ({"value": 2.6, "unit": "mg"}, "ratio without a usable unit"),                             # twin: another unit
])
def test_11_an_ish_ratio_sent_as_copies_says_it_is_no_ratio(client, quantity, lacks):
    cards = run(client, "crc", b.ihc(P, "2+", 40.0), obs(*ISH_RATIO, "2024-02-05", oid="ish-copies", valueQuantity=quantity))
    assert f"HER2 ISH 2024-02-05 ({lacks}" in cards[0]["summary"][:100] + cards[0]["detail"] or lacks in cards[0]["detail"]
    assert "without a value" not in cards[0]["summary"]
    assert lab_requests(cards) == {"crc.lab-request.ish-ratio"}


@pytest.mark.parametrize("results, plasma_missing", [
    (lambda: [b.ihc(P, "3+", 80.0)], False),   # positive by tissue: a plasma result would not change the outcome
    (lambda: [b.ihc(P, "1+", 80.0)], True),    # twin: not positive, plasma ERBB2 could meet TRIUMPH blood
])
def test_11_missing_lists_plasma_only_where_it_could_change_the_outcome(client, results, plasma_missing):
    status = status_ext(run(client, "crc", *results()))
    assert ("crc.missing.plasma" in status["rules"]) is plasma_missing
