"""Colorectal rules, table-driven, with every threshold edge (clinical-rules.md section 2 and 5)."""
from __future__ import annotations

import pytest

from tests import fhir_builders as b
from tests.conftest import by_topic, call, status_ext

P = "p1"


def crc_request(*results, history=(), **kw):
    resources = [b.patient(P), b.crc(P), b.liver_mets(P), *results, *history]
    return b.hook_request("patient-view", P, resources, **kw)


def run(client, *results, history=()):
    code, body = call(client, crc_request(*results, history=history))
    assert code == 200, body
    return body["cards"]


def crit(ext):
    return set(ext["criteriaMet"]), set(ext["criteriaNotMet"]), set(ext.get("criteriaUnknown", []))


@pytest.mark.parametrize("ratio, status, heracles, triumph", [
    (1.99, "low", False, False),
    (2.0, "positive", False, True),
    (2.01, "positive", True, True),
])
def test_ish_ratio_edges_with_ihc_2plus(client, ratio, status, heracles, triumph):
    ext = status_ext(run(client, b.ihc(P, "2+", 60), b.ish(P, ratio, amplified_pct=80)))
    met, not_met, _ = crit(ext)
    assert ext["status"] == status
    assert ("HERACLES" in met) is heracles and ("HERACLES" in not_met) is (not heracles)
    assert ("TRIUMPH-tissue" in met) is triumph and ("TRIUMPH-tissue" in not_met) is (not triumph)


def test_triumph_without_heracles_is_said(client):
    cards = run(client, b.ihc(P, "1+"), b.ish(P, 2.3))
    ext = status_ext(cards)
    assert ext["status"] == "positive" and ext["basis"] == ["tissue"]
    assert "TRIUMPH-tissue" in ext["criteriaMet"] and "HERACLES" in ext["criteriaNotMet"]
    assert "TRIUMPH-tissue: **met** — ISH HER2/CEP17 ratio ≥ 2.0" in cards[0]["detail"]
    assert "HERACLES: not met" in cards[0]["detail"]


@pytest.mark.parametrize("percent, specimen, heracles, triumph, harmonized, status", [
    (10, "Colon resection specimen", "not", "unknown", "met", "positive"),  # ISH could still qualify
    (10, "Colon biopsy", "not", "met", "met", "positive"),
    (10, None, "not", "unknown", "met", "positive"),
    (11, "Colon resection specimen", "not", "met", "met", "positive"),
    (50, "Colon resection specimen", "not", "met", "met", "positive"),
    (51, "Colon resection specimen", "met", "met", "met", "positive"),
    (9, None, "not", "unknown", "not", "indeterminate"),
    (None, "Colon biopsy", "unknown", "met", "unknown", "positive"),
])
def test_ihc_3plus_cell_fraction_edges(client, percent, specimen, heracles, triumph, harmonized, status):
    cards = run(client, b.ihc(P, "3+", percent, specimen=specimen))
    ext = status_ext(cards)
    met, not_met, unknown = crit(ext)
    expect = {"met": met, "not": not_met, "unknown": unknown}
    assert "HERACLES" in expect[heracles]
    assert "TRIUMPH-tissue" in expect[triumph]
    assert "harmonized-10pct" in expect[harmonized]
    assert ext["status"] == status
    if triumph == "unknown" and specimen is None:
        assert "TRIUMPH counts IHC 3+ in any % of cells on a biopsy but > 10% on a surgical specimen" in cards[0]["detail"]
    if status == "indeterminate":
        assert [c for c in by_topic(cards, "her2-testing") if "reflex ISH" in c["summary"]]


def _plasma(*variants, amplified=True):
    return [b.erbb2_cn(P, amplified, copy_number=20), *variants]


@pytest.mark.parametrize("rc, blood_met", [(30, True), (31, False)])
def test_relative_clonality_edge(client, rc, blood_met):
    ext = status_ext(run(client, *_plasma(b.variant(P, "KRAS", "p.G12D", rc=rc), b.variant(P, "NRAS", present=False))))
    assert ("TRIUMPH-blood" in ext["criteriaMet"]) is blood_met
    assert ext["status"] == ("positive" if blood_met else "indeterminate")


@pytest.mark.parametrize("gene, hgvs, mutant", [
    ("KRAS", "p.Gly12Asp", True), ("KRAS", "G13D", True), ("KRAS", "p.A59T", True), ("KRAS", "p.Gln61His", True),
    ("KRAS", "p.K117N", True), ("KRAS", "p.A146T", True), ("NRAS", "p.Q61K", True), ("NRAS", "p.G12C", True),
    ("KRAS", "p.L19F", False), ("NRAS", "p.T50I", False),
])
def test_each_ras_codon_counts_and_others_do_not(client, gene, hgvs, mutant):
    other = "NRAS" if gene == "KRAS" else "KRAS"
    cards = run(client, *_plasma(b.variant(P, gene, hgvs, rc=90), b.variant(P, other, present=False)))
    ext = status_ext(cards)
    assert ("TRIUMPH-blood" in ext["criteriaMet"]) is (not mutant)
    if not mutant:
        assert "is outside the TRIUMPH list" in cards[0]["detail"]


@pytest.mark.parametrize("vaf, mutant", [(3.0, False), (3.1, True)])
def test_relative_clonality_computed_from_vaf_in_the_same_sample(client, vaf, mutant):
    cards = run(client, *_plasma(b.variant(P, "KRAS", "p.G12V", vaf=vaf), b.variant(P, "PIK3CA", "p.E545K", vaf=10.0),
                                 b.variant(P, "NRAS", present=False)))
    ext = status_ext(cards)
    assert ("TRIUMPH-blood" in ext["criteriaNotMet"]) is mutant
    assert f"relative clonality {vaf * 10:.0f}%" in cards[0]["detail"]


def test_no_ras_result_means_blood_criterion_cannot_be_applied(client):
    cards = run(client, *_plasma())
    ext = status_ext(cards)
    assert "TRIUMPH-blood" in ext["criteriaUnknown"]
    assert "no RAS status: the blood criterion cannot be applied" in cards[0]["detail"]


def test_tissue_kras_mutation_makes_patient_ras_mutant(client):
    cards = run(client, *_plasma(b.variant(P, "KRAS", "p.G12D", origin="tissue"), b.variant(P, "NRAS", present=False)))
    assert "TRIUMPH-blood" in status_ext(cards)["criteriaNotMet"]


CUTS = [("apcn", 16.7, "TRIUMPH"), ("apcn", 25.82, "HERACLES"), ("apcn", 30.9, "DESTINY-CRC01"),
        ("ngs", 68.7, "TRIUMPH"), ("qpcr", 9.45, "HERACLES")]


@pytest.mark.parametrize("kind, cut, trial", CUTS)
@pytest.mark.parametrize("delta, side", [(-0.01, "<"), (0.0, "≥"), (0.01, "≥")])
def test_copy_number_against_each_cutoff_of_the_same_kind(client, kind, cut, trial, delta, side):
    value = round(cut + delta, 2)
    result = {"apcn": lambda: b.apcn(P, value),
              "ngs": lambda: b.erbb2_cn(P, True, value, origin="tissue"),
              "qpcr": lambda: b.local_value(P, "erbb2-cn-qpcr", value, origin="tissue")}[kind]()
    detail = run(client, b.ihc(P, "3+", 80), result)[0]["detail"]
    line = next(item for item in detail.splitlines() if f" {side} {cut:g} ({trial}" in item)
    assert f"{value:g} {side} {cut:g}" in line
    assert ("higher group" in line) is (side == "≥")
    other_kinds = {"apcn": ["68.7", "9.45"], "ngs": ["16.7", "25.82", "9.45"], "qpcr": ["16.7", "68.7"]}[kind]
    assert not any(f"{side} {o} (" in detail or f"< {o} (" in detail or f"≥ {o} (" in detail for o in other_kinds)


def test_negative_plasma_with_low_ctdna_is_not_called_negative(client):
    cards = run(client, b.erbb2_cn(P, False), b.ctdna_fraction(P, 0.4))
    ext = status_ext(cards)
    assert ext["status"] == "indeterminate"
    [test] = by_topic(cards, "her2-testing")
    assert test["summary"] == "Plasma ERBB2 negative: test tumour tissue"
    assert "ctDNA fraction 0.4%" in test["detail"]
    assert "sensitivity 82%, specificity 83%" in cards[0]["detail"]
    assert [a["resource"]["code"]["coding"][0]["code"] for s in test["suggestions"] for a in s["actions"]] == ["18474-7", "49683-6"]


def test_ihc_2plus_without_ish_is_equivocal_with_reflex_ish(client):
    cards = run(client, b.ihc(P, "2+", 40))
    assert status_ext(cards)["status"] == "equivocal"
    [test] = by_topic(cards, "her2-testing")
    action = test["suggestions"][0]["actions"][0]
    assert action["type"] == "create" and action["resource"]["code"]["coding"][0]["code"] == "49683-6"
    assert action["resource"]["subject"] == {"reference": f"Patient/{P}"}
    assert test["selectionBehavior"] == "any"


def test_entered_in_error_result_is_ignored_and_said(client):
    cards = run(client, b.ihc(P, "3+", 90, status="entered-in-error", oid="bad"), b.ihc(P, "0", oid="good"))
    assert status_ext(cards)["status"] == "negative"
    assert "Observation/bad ignored: status 'entered-in-error'" in cards[0]["detail"]


def test_most_recent_result_of_a_kind_wins(client):
    cards = run(client, b.ihc(P, "3+", 90, date="2022-01-01"), b.ihc(P, "1+", date="2024-06-01"))
    assert status_ext(cards)["status"] == "low"
    assert "2 IHC results on file; the most recent (2024-06-01) is used." in cards[0]["detail"]


def test_result_older_than_her2_treatment_is_flagged_stale(client):
    cards = run(client, b.ihc(P, "3+", 90, date="2022-01-01"),
                history=[b.medication(P, "trastuzumab", "224905", date="2023-01-01")])
    assert "Possibly stale: the IHC result (2022-01-01) predates HER2-directed treatment started 2023-01-01." in cards[0]["detail"]


def test_tissue_negative_plasma_positive_is_stated(client):
    cards = run(client, b.ihc(P, "0"), b.ish(P, 1.1), *_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)))
    ext = status_ext(cards)
    assert ext["status"] == "positive" and ext["basis"] == ["plasma"] and ext["criteriaMet"] == ["TRIUMPH-blood"]
    assert "Tissue results do not meet a tissue criterion, but plasma shows ERBB2 amplification (TRIUMPH-blood met)." in cards[0]["detail"]
    assert [c["extension"]["her2cds"]["regimen"] for c in by_topic(cards, "her2-therapy")] == [["pertuzumab", "trastuzumab"]]


def test_ihc_3plus_with_negative_ish_is_a_contradiction(client):
    cards = run(client, b.ihc(P, "3+", 80), b.ish(P, 1.2))
    assert status_ext(cards)["status"] == "positive"
    assert "IHC 3+ but ISH ratio 1.2 (not amplified)" in cards[0]["detail"]


def test_her2_low_gets_no_tdxd_card_but_ihc_1_3_trials(client):
    cards = run(client, b.ihc(P, "1+"))
    assert status_ext(cards)["status"] == "low"
    assert by_topic(cards, "her2-therapy") == []
    assert "No objective response to T-DXd was seen in HER2-low mCRC" in cards[0]["detail"]
    trials = by_topic(cards, "her2-trials")[0]["extension"]["her2cds"]["trials"]
    assert "NCT04704661" in trials and "NCT05333809" not in trials


def test_active_not_recruiting_trials_are_never_offered(client):
    cards = run(client, b.ihc(P, "2+", 80), b.ish(P, 3.0, amplified_pct=90))
    trials = by_topic(cards, "her2-trials")[0]
    ids = trials["extension"]["her2cds"]["trials"]
    assert {"NCT03365882", "NCT04744831", "NCT04460456"}.isdisjoint(ids)
    assert {"NCT04380012", "NCT05333809", "NCT05356897"} <= set(ids)
    assert [item["url"] for item in trials["links"]] == [f"https://clinicaltrials.gov/study/{n}" for n in ids]
    assert all(item["type"] == "absolute" for item in trials["links"])
    assert "as reported in Yoshikawa & Nakamura, Cancers 2023;15:183 (colorectal review), Dec 2022; check the registry" in trials["detail"]


def test_trial_with_unknown_cell_fraction_is_listed_as_unassessable(client):
    cards = run(client, b.ihc(P, "3+", None, specimen="Colon biopsy"))
    trials = by_topic(cards, "her2-trials")[0]
    assert "NCT04380012" not in trials["extension"]["her2cds"]["trials"]
    assert "NCT04380012" in trials["detail"].split("Could not be assessed")[1]


def test_first_line_names_mountaineer_03(client):
    cards = run(client, b.ihc(P, "3+", 80))
    for card in by_topic(cards, "her2-therapy"):
        assert "MOUNTAINEER-03" in card["detail"]
    tdxd = next(c for c in by_topic(cards, "her2-therapy") if c["extension"]["her2cds"]["regimen"] == ["trastuzumab deruxtecan"])
    assert "Interstitial lung disease developed in 10%" in tdxd["detail"]


def test_plasma_only_positive_offers_only_the_plasma_backed_regimen(client):
    cards = run(client, *_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)))
    assert [c["extension"]["her2cds"]["regimen"] for c in by_topic(cards, "her2-therapy")] == [["pertuzumab", "trastuzumab"]]
    assert "positive by plasma only" in cards[0]["detail"]


@pytest.mark.parametrize("value, unit", [(5, "mg"), (150, "%")])
def test_unknown_unit_or_impossible_value_is_unusable_not_converted(client, value, unit):
    cards = run(client, b.ihc(P, "0"), b.local_value(P, "ctdna-fraction", value, unit=unit, oid="frac"))
    assert "Observation/frac: ctdna-fraction unusable" in cards[0]["detail"]
    assert "ctDNA fraction" not in cards[0]["detail"].split("**Criteria**")[0]


def test_specimen_resource_decides_plasma_origin(client):
    spec = {"resourceType": "Specimen", "id": "s1", "type": b.cc(b.SNOMED, "119361006", "Plasma specimen"),
            "subject": {"reference": f"Patient/{P}"}}
    obs = b.erbb2_cn(P, True, 15)
    obs["specimen"] = {"reference": "Specimen/s1"}
    cards = run(client, spec, obs, b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False))
    assert status_ext(cards)["criteriaMet"] == ["TRIUMPH-blood"]


def test_genomic_result_of_unknown_origin_is_not_used(client):
    obs = b.erbb2_cn(P, True, 15)
    obs["specimen"] = {"display": "sample 7"}
    cards = run(client, obs)
    assert status_ext(cards)["status"] == "indeterminate"
    assert "specimen (tissue or plasma) cannot be told; not used" in cards[0]["detail"]


@pytest.mark.parametrize("value", [{"valueString": "score 3+"}, {"valueInteger": 3}, {"valueCodeableConcept": {"text": "3+"}}])
def test_ihc_value_forms(client, value):
    obs = b.ihc(P, "3+", 80)
    del obs["valueCodeableConcept"]
    obs.update(value)
    assert status_ext(run(client, obs))["status"] == "positive"


def test_invalid_fhir_observation_is_reported_not_used(client):
    obs = b.ihc(P, "3+", 80, oid="broken")
    obs["effectiveDateTime"] = "last tuesday"
    cards = run(client, obs)
    assert status_ext(cards)["status"] == "indeterminate"
    assert "Observation/broken is not valid FHIR R4" in cards[0]["detail"]


def test_observation_of_another_patient_is_not_used(client):
    other = b.ihc("someone-else", "3+", 90)
    cards = run(client, other)
    assert status_ext(cards)["status"] == "not-tested"
    assert "belongs to another patient" in cards[0]["detail"]
