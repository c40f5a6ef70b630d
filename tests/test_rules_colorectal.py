"""Colorectal rules, table-driven, with every threshold edge (the colorectal review; docs/clinical-decisions.md section 5)."""
from __future__ import annotations

import pytest

from tests import fhir_builders as b
from tests.conftest import by_topic, call, status_ext
from tests.rule_ids import rules, status_rule, status_rules

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
    assert "TRIUMPH tissue: **met** — ISH HER2/CEP17 ratio ≥ 2.0" in cards[0]["detail"]  # the criterion's name
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
    if status == "indeterminate":  # decision 6.10: the reflex-ISH card names IHC 3+, not "IHC 2+"
        assert [c["summary"] for c in by_topic(cards, "her2-testing")] == ["IHC 3+ below the cell-fraction threshold: order ISH"]


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
    # named by test and date, never by record id (decision 6.10)
    assert "HER2 Ag [Presence] in Tissue by Immune stain of 2024-03-01 ignored: status 'entered-in-error'" in cards[0]["detail"]
    assert "Observation/bad" not in cards[0]["detail"]


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
    assert "Tissue results do not meet a tissue criterion, but plasma shows ERBB2 amplification (TRIUMPH blood met)." in cards[0]["detail"]
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


def test_first_line_names_mountaineer_03_once(client):
    cards = run(client, b.ihc(P, "3+", 80))
    assert "crc.note.first-line-mountaineer-03" in status_rules(cards)
    assert [c for c in cards if "MOUNTAINEER-03 (tucatinib" in c["detail"]] == [cards[0]]  # once per response (decision 6.10)
    tdxd = next(c for c in by_topic(cards, "her2-therapy") if c["extension"]["her2cds"]["regimen"] == ["trastuzumab deruxtecan"])
    assert "interstitial lung disease developed in 10%" in tdxd["detail"] and "myelosuppression" in tdxd["detail"]


def test_plasma_only_positive_offers_only_the_plasma_backed_regimen(client):
    cards = run(client, *_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)))
    assert [c["extension"]["her2cds"]["regimen"] for c in by_topic(cards, "her2-therapy")] == [["pertuzumab", "trastuzumab"]]
    assert "positive by plasma only" in cards[0]["detail"]


@pytest.mark.parametrize("value, unit", [(5, "mg"), (150, "%")])
def test_unknown_unit_or_impossible_value_is_unusable_not_converted(client, value, unit):
    cards = run(client, b.ihc(P, "0"), b.local_value(P, "ctdna-fraction", value, unit=unit, oid="frac"))
    assert "ctdna-fraction of 2024-04-01: ctdna-fraction unusable" in cards[0]["detail"]
    assert "Observation/frac" not in cards[0]["detail"]
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
    assert "no specimen type (tissue or plasma)" in cards[0]["detail"]  # named on file, never "no plasma result"
    assert "no plasma (ctDNA) ERBB2 result" not in cards[0]["detail"]
    assert "crc.lab-request.ngs-specimen" in rules(by_topic(cards, "her2-testing")[0])


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
    assert "HER2 Ag [Presence] in Tissue by Immune stain of unknown date is not valid FHIR R4" in cards[0]["detail"]
    assert "Observation/broken" not in cards[0]["detail"]


def test_observation_of_another_patient_is_not_used(client):
    other = b.ihc("someone-else", "3+", 90)
    cards = run(client, other)
    assert status_ext(cards)["status"] == "not-tested"
    assert "belongs to another patient" in cards[0]["detail"]


# ---------------------------------------------------------------- rule by rule (seed figures written here)
# Expected values are the source's: ISH positive at ratio >= 2.0 (TRIUMPH Table 1), HERACLES > 2 in
# > 50% of cells, TRIUMPH IHC 3+ > 10% on a surgical specimen, harmonized >= 10%, RC <= 30%.

@pytest.mark.parametrize("score, ratio, status_rule_id, contradiction", [
    ("0", 1.99, "crc.status.negative", None),
    ("0", 2.0, "crc.status.positive", "crc.contradiction.ihc-low-ish-amplified"),
    ("0", 2.01, "crc.status.positive", "crc.contradiction.ihc-low-ish-amplified"),
    ("1+", 1.99, "crc.status.low", None),
    ("1+", 2.0, "crc.status.positive", "crc.contradiction.ihc-low-ish-amplified"),
    ("2+", 1.99, "crc.status.low", None),
    ("2+", 2.0, "crc.status.positive", None),
    ("3+", 1.99, "crc.status.positive", "crc.contradiction.ihc3-ish-negative"),
    ("3+", 2.0, "crc.status.positive", None),
])
def test_ish_ratio_edges_for_every_ihc_score(client, score, ratio, status_rule_id, contradiction):
    cards = run(client, b.ihc(P, score, 60), b.ish(P, ratio))
    ids = status_rules(cards)
    assert status_rule(cards) == status_rule_id
    contradictions = {r for r in ids if ".contradiction." in r}
    assert contradictions == ({contradiction} if contradiction else set())
    assert ("crc.criterion.triumph-tissue" in ids) is (ratio >= 2.0 or score == "3+")


@pytest.mark.parametrize("amplified_pct, heracles", [(50, "not-met"), (51, "met"), (None, "unknown")])  # decision 6.18
def test_heracles_fish_cell_fraction_edge(client, amplified_pct, heracles):
    ext = status_ext(run(client, b.ihc(P, "2+", 60), b.ish(P, 2.5, amplified_pct=amplified_pct)))
    assert ("HERACLES" in ext["criteriaMet"]) is (heracles == "met")
    assert ("HERACLES" in ext["criteriaUnknown"]) is (heracles == "unknown")


@pytest.mark.parametrize("make, rule_id", [
    (lambda: [b.ihc(P, "3+", 60)], "crc.status.positive"),
    (lambda: [b.ihc(P, "indeterminate")], "crc.status.ihc-indeterminate"),
    (lambda: [b.ihc(P, "2+", 40)], "crc.status.equivocal"),
    (lambda: [b.ihc(P, "1+")], "crc.status.low"),
    (lambda: [b.ihc(P, "3+", 9, specimen=None)], "crc.status.ihc3-unassessable"),
    (lambda: [b.ihc(P, "0")], "crc.status.negative"),
    (lambda: [b.ish(P, 1.2)], "crc.status.ish-without-ihc"),  # decision 6.2: never negative without IHC
    (lambda: [b.erbb2_cn(P, True, 12)], "crc.status.no-tissue-result"),
    (lambda: [b.local_value(P, "erbb2-cn-qpcr", 12, origin="tissue")], "crc.status.no-tissue-result"),
    (lambda: [b.local_value(P, "ctdna-fraction", 5, unit="mg")], "crc.status.no-tissue-result"),
    (lambda: [], "crc.status.not-tested"),
])
def test_status_ladder_rule(client, make, rule_id):
    assert status_rule(run(client, *make())) == rule_id


def test_unreadable_results_are_never_not_tested(client):
    request = crc_request()
    del request["prefetch"]["her2Observations"]
    code, body = call(client, request)
    assert code == 200
    assert status_rule(body["cards"]) == "crc.status.results-unreadable"
    assert "common.missing.results-unreadable" in status_rules(body["cards"])
    assert by_topic(body["cards"], "her2-testing") == []


@pytest.mark.parametrize("history, note", [
    (lambda: [b.medication(P, "cetuximab", "318341")], True),
    (lambda: [b.medication(P, "Vectibix")], True),  # panitumumab
    (lambda: [b.medication(P, "panitumumab", "263034")], True),
    (lambda: [b.medication(P, "FOLFOX")], False),
])
def test_post_anti_egfr_note_for_each_anti_egfr_antibody(client, history, note):
    cards = run(client, b.ihc(P, "2+", 40), history=history())
    assert ("crc.note.acquired-after-anti-egfr" in status_rules(cards)) is note


@pytest.mark.parametrize("results, present, absent", [
    ([b.ihc(P, "1+")], {"crc.note.her2-low-tdxd"}, {"crc.note.ihc3-better-response"}),
    ([b.ihc(P, "3+", 60)], {"crc.note.ihc3-better-response"}, {"crc.note.her2-low-tdxd", "crc.note.triumph-coalterations"}),
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5)], {"crc.note.ihc3-better-response"}, set()),
    ([b.ihc(P, "1+"), b.ish(P, 2.5)], set(), {"crc.note.ihc3-better-response"}),  # positive by ISH, IHC 1+
    ([b.ihc(P, "3+", 60), b.variant(P, "KRAS", "p.G12D", rc=31), b.variant(P, "NRAS", present=False)],
     {"crc.note.ras-mutant-dual-blockade", "crc.note.ras-cooccurrence", "crc.note.ras-high-clonality-heracles",
      "crc.note.triumph-coalterations", "crc.note.tdxd-ras-pik3ca"}, set()),
    ([b.ihc(P, "3+", 60), b.variant(P, "KRAS", "p.G12D", rc=30), b.variant(P, "NRAS", present=False)],
     {"crc.note.triumph-coalterations", "crc.note.tdxd-ras-pik3ca"},
     {"crc.note.ras-mutant-dual-blockade", "crc.note.ras-cooccurrence", "crc.note.ras-high-clonality-heracles"}),
    ([b.ihc(P, "3+", 60), b.variant(P, "KRAS", "p.G12D", origin="tissue"), b.variant(P, "NRAS", present=False, origin="tissue")],
     {"crc.note.ras-mutant-dual-blockade", "crc.note.ras-cooccurrence"},
     {"crc.note.ras-high-clonality-heracles", "crc.note.tdxd-ras-pik3ca"}),
    ([b.ihc(P, "3+", 60), b.variant(P, "BRAF", "p.V600E", origin="tissue")], {"crc.note.triumph-coalterations"}, set()),
    ([b.ihc(P, "0"), b.variant(P, "BRAF", "p.V600E", origin="tissue")], set(), {"crc.note.triumph-coalterations"}),
    ([b.ihc(P, "3+", 60), b.variant(P, "PIK3CA", "p.E545K", vaf=10)], {"crc.note.tdxd-ras-pik3ca"}, set()),
    ([b.ihc(P, "3+", 60), b.variant(P, "PIK3CA", "p.E545K", origin="tissue")], set(), {"crc.note.tdxd-ras-pik3ca"}),
    ([b.erbb2_cn(P, False)], {"crc.note.ctdna-false-negative", "crc.note.ctdna-low-shedding"}, set()),
    ([b.erbb2_cn(P, True, 12)], set(), {"crc.note.ctdna-false-negative", "crc.note.ctdna-low-shedding"}),
])
def test_evidence_notes_fire_and_their_twins_do_not(client, results, present, absent):
    ids = set(status_rules(run(client, *results)))
    assert present <= ids and not absent & ids


def test_w2_twin_unreadable_history_excludes_no_trial_for_previously_treated_patients(client):
    request = crc_request(b.ihc(P, "3+", 80))
    for key in ("medicationRequests", "medicationStatements"):  # the history could not be read
        del request["prefetch"][key]
    code, body = call(client, request)
    assert code == 200
    [card] = by_topic(body["cards"], "her2-trials")
    assert "common.trial-exclusion.previously-treated-in-first-line" not in rules(card)


@pytest.mark.parametrize("results, missing", [
    ([], {"crc.missing.ihc", "crc.missing.ish", "crc.missing.plasma"}),
    ([b.ihc(P, "2+", 40)], {"crc.missing.ish", "crc.missing.plasma"}),
    ([b.ihc(P, "3+", 60)], set()),  # positive by tissue: plasma would not change the outcome (review of 6.11, item 11)
    ([b.ihc(P, "3+", 60), b.erbb2_cn(P, True, 12)], {"crc.missing.ras-status"}),
    ([b.ihc(P, "3+", 60), b.erbb2_cn(P, True, 12), b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)], set()),
])
def test_missing_pieces(client, results, missing):
    assert {r for r in status_rules(run(client, *results)) if ".missing." in r} == missing


def test_non_metastatic_crc_says_the_criteria_concern_metastatic_disease(client):
    code, body = call(client, b.hook_request("patient-view", P, [b.patient(P), b.crc(P), b.ihc(P, "3+", 60)]))
    assert "crc.missing.not-metastatic" in status_rules(body["cards"])


@pytest.mark.parametrize("results, contradiction", [
    ([b.ihc(P, "0"), b.erbb2_cn(P, True, 12)], "crc.contradiction.tissue-negative-plasma-amplified"),
    ([b.ihc(P, "3+", 60), b.erbb2_cn(P, False)], "crc.contradiction.tissue-positive-plasma-negative"),
    ([b.ihc(P, "3+", 60), b.erbb2_cn(P, False, origin="tissue")], "crc.contradiction.tissue-ngs-not-amplified"),
    ([b.ihc(P, "0"), b.erbb2_cn(P, True, 30, origin="tissue")], "crc.contradiction.tissue-ngs-amplified"),
])
def test_contradictions_between_specimens(client, results, contradiction):
    assert contradiction in status_rules(run(client, *results))


@pytest.mark.parametrize("results, tests", [
    ([b.ihc(P, "2+", 40)], ["crc.test.reflex-ish"]),
    ([b.ihc(P, "3+", 9, specimen=None)], ["crc.test.reflex-ish-ihc3-unassessable"]),
    ([b.erbb2_cn(P, False)], ["crc.test.tissue-after-negative-plasma"]),
    ([], ["crc.test.tissue-test"]),
    ([b.erbb2_cn(P, True, 12), b.variant(P, "KRAS", "p.G12D", rc=31), b.variant(P, "NRAS", present=False)], ["crc.test.tissue-test"]),
    ([b.erbb2_cn(P, True, 12), b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)], []),
    ([b.ihc(P, "0")], []),
])
def test_test_suggestion_rules(client, results, tests):
    cards = run(client, *results)
    assert [rules(c)[0] for c in by_topic(cards, "her2-testing")] == tests


@pytest.mark.parametrize("kind, value, rule_id", [
    ("qpcr", 9.45, "crc.cutoff.heracles-tissue-qpcr"), ("ngs", 68.7, "crc.cutoff.triumph-tissue-ngs"),
    ("apcn", 16.7, "crc.cutoff.triumph-plasma-apcn"), ("apcn", 25.82, "crc.cutoff.heracles-plasma-apcn"),
    ("apcn", 30.9, "crc.cutoff.destiny-crc01-plasma-apcn"),
])
def test_cutoff_rules_on_the_status_card(client, kind, value, rule_id):
    result = {"apcn": lambda: b.apcn(P, value), "ngs": lambda: b.erbb2_cn(P, True, value, origin="tissue"),
              "qpcr": lambda: b.local_value(P, "erbb2-cn-qpcr", value, origin="tissue")}[kind]()
    ids = status_rules(run(client, b.ihc(P, "3+", 80), result))
    apcn = {"crc.cutoff.triumph-plasma-apcn", "crc.cutoff.heracles-plasma-apcn", "crc.cutoff.destiny-crc01-plasma-apcn"}
    assert rule_id in ids
    assert {r for r in ids if ".cutoff." in r} == (apcn if kind == "apcn" else {rule_id})  # same measurement only


def test_therapy_rules_and_their_caveats(client):
    cards = run(client, b.ihc(P, "3+", 80), b.variant(P, "KRAS", "p.G12D", rc=31), b.variant(P, "NRAS", present=False))
    by_regimen = {tuple(c["extension"]["her2cds"]["regimen"]): rules(c) for c in by_topic(cards, "her2-therapy")}
    assert by_regimen[("pertuzumab", "trastuzumab")][0] == "crc.therapy.pertuzumab-trastuzumab"
    dual = [("pertuzumab", "trastuzumab"), ("lapatinib", "trastuzumab"), ("trastuzumab", "tucatinib"),
            ("pertuzumab", "trastuzumab emtansine")]
    for regimen in dual:
        assert "crc.therapy-note.ras-mutant" in by_regimen[regimen]
    tdxd = by_regimen[("trastuzumab deruxtecan",)]
    assert "crc.therapy-note.ras-mutant" not in tdxd
    assert {"crc.therapy-note.tdxd-ras-pik3ca", "common.safety.tdxd-ild"} <= set(tdxd)
    assert "crc.therapy-note.weak-evidence" in by_regimen[("pertuzumab", "trastuzumab emtansine")]
    assert all("crc.therapy-note.weak-evidence" not in ids for regimen, ids in by_regimen.items()
               if regimen != ("pertuzumab", "trastuzumab emtansine"))


def test_later_line_gets_no_first_line_note(client):
    cards = run(client, b.ihc(P, "3+", 80), history=[b.medication(P, "FOLFOX")])
    assert "crc.note.first-line-mountaineer-03" not in status_rules(cards) and by_topic(cards, "her2-therapy")


def test_plasma_only_positive_names_the_therapies_not_shown(client):
    cards = run(client, *_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)))
    assert "crc.therapy-gap.plasma-only" in status_rules(cards)
    assert cards[0]["detail"].count("positive by plasma only") == 4
    assert "- Trastuzumab + lapatinib — not shown, as this patient is positive by plasma only and the only " \
           "ctDNA-selected cohort in the source is TRIUMPH's (pertuzumab + trastuzumab)" in cards[0]["detail"]


@pytest.mark.parametrize("results, listed", [
    ([b.ihc(P, "2+", 60), b.ish(P, 2.0)], False),  # NCT05356897: ratio > 2.2
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5)], True),
    ([b.ihc(P, "2+", 60), b.ish(P, 1.5, copies=6.5)], True),  # or gene copy number > 6
    ([b.ihc(P, "2+", 60), b.ish(P, 1.5, copies=5)], False),
])
def test_nct05356897_ratio_and_copy_number_cut_offs(client, results, listed):
    trials = by_topic(run(client, *results), "her2-trials")
    assert ("NCT05356897" in (trials[0]["extension"]["her2cds"]["trials"] if trials else [])) is listed


@pytest.mark.parametrize("results, listed", [
    ([b.ihc(P, "3+", 50)], False),  # NCT04380012: IHC 3+ or 2+ in more than 50% ..., ratio >= 2.0
    ([b.ihc(P, "3+", 51)], True),
    ([b.ihc(P, "2+", 60), b.ish(P, 1.99)], False),
    ([b.ihc(P, "2+", 60), b.ish(P, 2.0)], True),
])
def test_nct04380012_cell_fraction_and_ratio(client, results, listed):
    trials = by_topic(run(client, *results), "her2-trials")
    assert ("NCT04380012" in (trials[0]["extension"]["her2cds"]["trials"] if trials else [])) is listed


def test_trial_card_names_the_offer_rule_each_trial_and_its_notes(client):
    cards = run(client, b.ihc(P, "3+", 80))
    ids = rules(by_topic(cards, "her2-trials")[0])
    assert ids[0] == "common.trial-offer.source-status"
    assert {"crc.trial.nct05253651", "common.trial.nct03929666", "common.trial-note.first-line",
            "common.trial-note.criterion-not-given", "common.trial-exclusion.previously-treated-in-first-line",
            "common.trial-note.criterion-interpreted"} <= set(ids)
    assert not {"crc.trial.nct03365882", "crc.trial.nct04744831", "crc.trial.nct04460456"} & set(ids)


@pytest.mark.parametrize("results, listed", [
    ([b.ihc(P, "2+", 40), b.ish(P, 2.5)], False),  # NCT04380012: IHC 2+ must be in more than 50% of cells
    ([b.ihc(P, "2+", 50), b.ish(P, 2.5)], False),
    ([b.ihc(P, "2+", 51), b.ish(P, 2.5)], True),
])
def test_nct04380012_ihc_2plus_cell_fraction(client, results, listed):
    trials = by_topic(run(client, *results), "her2-trials")
    assert ("NCT04380012" in trials[0]["extension"]["her2cds"]["trials"]) is listed


def _client_with_registry(tmp, trials, missing=()):
    """The service with a registry overlay stored in its database (refreshed now)."""
    from datetime import UTC, datetime

    from cds_service.app import create_app
    from cds_service.knowledge import load_knowledge
    from cds_service.settings import Settings
    from cds_service.storage import Store

    url = f"sqlite:///{tmp}/db.sqlite3"
    Store(url).save_trial_overlay(datetime.now(UTC), "test", load_knowledge().version, trials, list(missing))
    return create_app(Settings.from_env({"DATABASE_URL": url})).test_client()


@pytest.fixture(scope="module")
def registry_client(tmp_path_factory, knowledge):
    """The service with a registry overlay that lists every trial as recruiting."""
    return _client_with_registry(tmp_path_factory.mktemp("overlay"), {t["nct"]: {"overallStatus": "RECRUITING"} for t in knowledge.trials})


@pytest.mark.parametrize("ratio, listed", [(1.99, False), (2.0, True)])
def test_trials_the_source_lists_as_closed_keep_their_own_ratio_when_the_registry_reopens_them(registry_client, ratio, listed):
    # S1613 (NCT03365882) and DESTINY-CRC02 (NCT04744831): "IHC 3+ or IHC 2+ and ISH ... ratio >= 2.0" (Table 3)
    trials = by_topic(run(registry_client, b.ihc(P, "2+", 60), b.ish(P, ratio)), "her2-trials")[0]
    offered = set(trials["extension"]["her2cds"]["trials"])
    assert {"NCT03365882", "NCT04744831"} <= offered if listed else not {"NCT03365882", "NCT04744831"} & offered


def test_the_status_card_names_what_is_missing_and_the_results_used(client):
    cards = run(client, b.ihc(P, "0"))
    assert cards[0]["summary"] == "HER2-negative (colorectal): IHC 0, biopsy specimen"
    detail = cards[0]["detail"]
    assert "- no plasma (ctDNA) ERBB2 result" in detail and "- IHC 0, biopsy specimen — 2024-03-01" in detail
    untested = run(client)[0]["detail"]
    assert "- no HER2 IHC result\n- no ISH result\n- no plasma (ctDNA) ERBB2 result" in untested


def test_ihc_3plus_below_every_cut_off_with_negative_ish_is_negative(client):
    cards = run(client, b.ihc(P, "3+", 5, specimen="Colon resection specimen"), b.ish(P, 1.2))
    assert status_rule(cards) == "crc.status.negative"


def test_tissue_and_plasma_basis_in_that_order(client):
    ext = status_ext(run(client, b.ihc(P, "3+", 80), *_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False))))
    assert ext["basis"] == ["tissue", "plasma"]


def test_copy_number_lower_group_and_unadjusted_plasma_copy_number(client):
    cards = run(client, b.ihc(P, "3+", 80), b.apcn(P, 10), b.erbb2_cn(P, True, copy_number=20))
    detail = cards[0]["detail"]
    assert "adjusted plasma copy number (ApCN) 10 < 16.7 (TRIUMPH: lower group;" in detail
    assert "Plasma copy number 20 is not adjusted for ctDNA fraction" in detail
    assert "crc.finding.plasma-cn-not-adjusted" in status_rules(cards)


def test_therapy_caveats_are_placed_and_quote_their_note(client):
    cards = run(client, b.ihc(P, "3+", 80), b.variant(P, "PIK3CA", "p.E545K", vaf=10))
    by_regimen = {tuple(c["extension"]["her2cds"]["regimen"]): c["detail"] for c in by_topic(cards, "her2-therapy")}
    weak = by_regimen[("pertuzumab", "trastuzumab emtansine")]
    assert weak.index("Weak evidence: the lowest response rate") < weak.index("**Evidence**")
    tdxd = by_regimen[("trastuzumab deruxtecan",)]
    patient = tdxd.split("**For this patient**")[1]
    assert "- In DESTINY-CRC01 (exploratory), T-DXd responses were seen with or without plasma RAS or PIK3CA mutations." in patient


@pytest.fixture(scope="module")
def mixed_registry_client(tmp_path_factory):
    """A registry overlay: MOUNTAINEER-03 completed, S1613 recruiting, SBT6050 completed, BDC-1001 unknown."""
    trials = {"NCT05253651": {"overallStatus": "COMPLETED"}, "NCT03365882": {"overallStatus": "RECRUITING"},
              "NCT04460456": {"overallStatus": "COMPLETED"}, "NCT04704661": {"overallStatus": "RECRUITING"}}
    return _client_with_registry(tmp_path_factory.mktemp("overlay-mixed"), trials, missing=["NCT04278144"])


def test_registry_statuses_decide_what_is_offered_and_closed_trials_are_named(mixed_registry_client):
    [card] = by_topic(run(mixed_registry_client, b.ihc(P, "3+", 80)), "her2-trials")
    assert card["extension"]["her2cds"]["trials"] == ["NCT03365882", "NCT04704661"]
    ids = rules(card)
    assert {"crc.trial.nct05253651", "crc.trial.nct04278144"} <= set(ids) and "crc.trial.nct04460456" not in ids
    closed = card["detail"].split("**Matching but not open in the registry:**")[1]
    assert "NCT05253651 MOUNTAINEER-03: registry status COMPLETED on" in closed
    assert "NCT04278144 BDC-1001 ± nivolumab: not found in the registry" in closed
    assert "NCT04460456" not in card["detail"]  # closed in the source and in the registry
    assert ("HER2 criterion: IHC 3+ or IHC 2+ and ISH with HER2/CEP17 ratio ≥ 2.0 — met by IHC 3+. "
            "Status: registry status on") in card["detail"]


# ---------------------------------------------------------------- issue #15 (clinical-rules.md section 6)
# Seed figures written here: DESTINY-CRC01's HER2-positive population is IHC 3+ or IHC 2+ with ISH >= 2.0
# (HER2-low "IHC 2+ and FISH-negative or IHC 1+", no objective response); HERACLES enrolled "IHC3+ or
# IHC2+ with a HER2/CEP17 ratio >= 2 by FISH"; TRIUMPH tissue: "IHC3+ or FISH-positive (ratio >= 2.0)".

def regimens(cards):
    return [c["extension"]["her2cds"]["regimen"] for c in by_topic(cards, "her2-therapy")]


TDXD = ["trastuzumab deruxtecan"]


@pytest.mark.parametrize("results, status, tdxd_card, gap, heracles_note", [
    ([b.ihc(P, "3+", 80)], "positive", True, False, False),
    ([b.ihc(P, "3+", 80), b.ish(P, 1.2)], "positive", True, False, False),  # IHC 3+ alone is in the population
    ([b.ihc(P, "2+", 60), b.ish(P, 2.0)], "positive", True, False, False),
    ([b.ihc(P, "2+", 60), b.ish(P, 1.99)], "low", False, False, False),  # HER2-low: the low note says why
    ([b.ihc(P, "1+"), b.ish(P, 2.0)], "positive", False, True, True),  # positive by TRIUMPH tissue, HER2-low by IHC
    ([b.ihc(P, "1+"), b.ish(P, 3.5)], "positive", False, True, True),
    ([b.ihc(P, "0"), b.ish(P, 2.0)], "positive", False, True, True),
    ([b.ish(P, 2.3)], "positive", False, True, True),  # no IHC: the population cannot be told
    ([b.ihc(P, "indeterminate"), b.ish(P, 2.3)], "positive", False, True, True),
])
def test_6_1_tdxd_card_needs_destiny_crc01_population(client, results, status, tdxd_card, gap, heracles_note):
    cards = run(client, *results)
    ids = status_rules(cards)
    assert status_ext(cards)["status"] == status
    assert (TDXD in regimens(cards)) is tdxd_card
    assert ("crc.therapy-gap.tdxd-outside-responders" in ids) is gap
    lapatinib = [rules(c) for c in by_topic(cards, "her2-therapy") if rules(c)[0] == "crc.therapy.trastuzumab-lapatinib"]
    assert any("crc.therapy-note.outside-heracles-population" in r for r in lapatinib) is heracles_note
    if status == "positive":  # the other tissue regimens stay (TRIUMPH enrolled FISH-positive patients)
        assert ["pertuzumab", "trastuzumab"] in regimens(cards)


@pytest.mark.parametrize("results, reason", [
    ([b.ihc(P, "1+"), b.ish(P, 2.3)], "the IHC is 1+ (ISH ratio 2.3): DESTINY-CRC01 calls IHC 1+ HER2-low, with no objective response"),
    ([b.ihc(P, "0"), b.ish(P, 2.5)], "the IHC is 0 (ISH ratio 2.5): the source reports no T-DXd result for IHC 0"),
    ([b.ish(P, 2.3)], "no HER2 IHC result is on file (ISH ratio 2.3)"),
    ([b.ihc(P, "indeterminate"), b.ish(P, 2.3)], "the IHC could not be scored (ISH ratio 2.3)"),
])
def test_6_1_the_card_set_says_why_tdxd_is_not_shown(client, results, reason):
    detail = run(client, *results)[0]["detail"]
    shown = detail.split("**Therapy cards not shown**")[1]
    assert f"- Trastuzumab deruxtecan (T-DXd): not shown, as {reason}" in shown
    assert "The HER2 status stays positive by TRIUMPH tissue." in shown


@pytest.mark.parametrize("results, status_rule_id, tests", [
    ([b.ish(P, 1.2)], "crc.status.ish-without-ihc", ["crc.test.ihc-after-ish"]),
    ([b.ish(P, 1.99)], "crc.status.ish-without-ihc", ["crc.test.ihc-after-ish"]),
    ([b.ish(P, 2.0)], "crc.status.positive", ["crc.test.ihc-after-ish"]),  # positive stays; IHC still asked (T-DXd)
    ([b.ihc(P, "0"), b.ish(P, 1.2)], "crc.status.negative", []),  # twin: with IHC, negative is negative
    ([b.ihc(P, "3+", 80), b.ish(P, 1.2)], "crc.status.positive", []),
])
def test_6_2_ish_without_ihc_is_never_negative(client, results, status_rule_id, tests):
    cards = run(client, *results)
    assert status_rule(cards) == status_rule_id
    testing = by_topic(cards, "her2-testing")
    assert [rules(c)[0] for c in testing] == tests
    if tests:
        assert [a["resource"]["code"]["coding"][0]["code"] for s in testing[0]["suggestions"] for a in s["actions"]] == ["18474-7"]


@pytest.mark.parametrize("results, trial_in, excluded", [
    ([b.ihc(P, "3+", 80)], True, False),  # first line: MOUNTAINEER-03 (first-line trial) offered
    ([b.ihc(P, "3+", 80), b.medication(P, "FOLFOX", date="2023-01-10")], False, True),
    ([b.ihc(P, "3+", 80), b.medication(P, "cetuximab", "318341", date="2023-01-10")], False, True),
])
def test_6_6_first_line_trial_not_offered_after_systemic_therapy(client, results, trial_in, excluded):
    [card] = by_topic(run(client, *results), "her2-trials")
    assert ("NCT05253651" in card["extension"]["her2cds"]["trials"]) is trial_in
    assert ("common.trial-exclusion.first-line-after-systemic-therapy" in rules(card)) is excluded
    not_offered = card["detail"].split("**Not offered**")[1] if excluded else ""
    assert ("- NCT05253651 MOUNTAINEER-03: a first-line trial, and systemic therapy for the advanced disease is on file"
            in not_offered) is excluded


@pytest.mark.parametrize("results, offered", [
    ([b.ihc(P, "1+")], False),  # HER2-low without an ERBB2 mutation: outside "HER2-positive or Mutated"
    ([b.ihc(P, "2+", 60), b.ish(P, 1.4)], False),
    ([b.ihc(P, "1+"), b.ish(P, 2.3)], True),  # HER2-positive by TRIUMPH tissue
    ([b.ihc(P, "1+"), b.variant(P, "ERBB2", "p.Ser310Phe", origin="tissue")], True),  # an ERBB2 mutation result is on file
])
def test_6_6_trial_population_her2_positive_or_mutated(client, results, offered):
    [card] = by_topic(run(client, *results, history=[b.medication(P, "FOLFOX")]), "her2-trials")
    assert ("NCT05350917" in card["extension"]["her2cds"]["trials"]) is offered
    assert ("crc.trial-exclusion.nct05350917-population" in rules(card)) is (not offered)
    if not offered:
        reason = "NCT05350917 Tislelizumab + disitamab vedotin + pyrotinib: its population is HER2-positive or ERBB2-mutated"
        assert reason in card["detail"]


@pytest.mark.parametrize("results, discordant, status", [
    ([b.ihc(P, "3+", 90, date="2022-01-01"), b.ihc(P, "1+", date="2024-06-01")], True, "low"),  # most recent sets the status
    ([b.ihc(P, "1+", date="2022-01-01"), b.ihc(P, "3+", 90, date="2024-06-01")], True, "positive"),
    ([b.ihc(P, "2+", 40, date="2022-01-01"), b.ihc(P, "3+", 90, date="2024-06-01")], True, "positive"),
    ([b.ihc(P, "0", date="2022-01-01"), b.ihc(P, "1+", date="2024-06-01")], False, "low"),  # both negative IHC (TRIUMPH)
    ([b.ihc(P, "3+", 60, date="2022-01-01"), b.ihc(P, "3+", 90, date="2024-06-01")], False, "positive"),
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5, date="2022-01-01"), b.ish(P, 1.99, date="2024-06-01")], True, "low"),
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5, date="2022-01-01"), b.ish(P, 2.0, date="2024-06-01")], False, "positive"),
    ([b.ihc(P, "0"), b.erbb2_cn(P, True, 20, date="2022-01-01"), b.erbb2_cn(P, False, date="2024-06-01")], True, "negative"),
])
def test_6_7_discordance_over_time_is_in_the_headline(client, results, discordant, status):
    _assert_discordant(run(client, *results), "common.contradiction.discordant-over-time", discordant, status, ", discordant")


def _assert_discordant(cards, contradiction, discordant, status, headline):
    """The status unchanged; the contradiction stated and named in the headline exactly when `discordant`."""
    ids = status_rules(cards)
    assert status_ext(cards)["status"] == status
    assert (contradiction in ids) is discordant
    assert ("common.headline.discordant" in ids) is discordant
    assert (headline in cards[0]["summary"]) is discordant


def test_6_7_discordant_detail_names_both_results_with_dates(client):
    cards = run(client, b.ihc(P, "3+", 90, date="2022-01-01"), b.ihc(P, "1+", date="2024-06-01"))
    assert cards[0]["summary"].startswith("HER2-low (colorectal), discordant: IHC 1+")
    assert ("- Discordant IHC results: IHC 3+ (2022-01-01) disagrees with the most recent, IHC 1+ (2024-06-01), "
            "which sets the status.") in cards[0]["detail"]


@pytest.mark.parametrize("results, discordant", [
    ([b.ihc(P, "0"), *_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False))], True),
    ([b.ihc(P, "3+", 60), b.erbb2_cn(P, False)], True),
    ([b.ihc(P, "3+", 60), b.erbb2_cn(P, True, 20)], False),  # twin: concordant
    ([b.ihc(P, "0"), b.erbb2_cn(P, False)], False),
])
def test_6_7_tissue_and_plasma_disagreeing_is_in_the_headline(client, results, discordant):
    cards = run(client, *results)
    assert ("common.headline.discordant" in status_rules(cards)) is discordant


def test_6_8_tdxd_card_carries_ild_and_myelosuppression(client):
    cards = run(client, b.ihc(P, "3+", 80))
    by_regimen = {tuple(c["extension"]["her2cds"]["regimen"]): c for c in by_topic(cards, "her2-therapy")}
    tdxd = by_regimen[("trastuzumab deruxtecan",)]
    assert "common.safety.tdxd-ild" in rules(tdxd)
    safety = tdxd["detail"].split("**Safety**")[1]
    assert "Interstitial lung disease and myelosuppression" in safety and "developed in 10%" in safety
    assert all("common.safety.tdxd-ild" not in rules(c) for r, c in by_regimen.items() if r != ("trastuzumab deruxtecan",))


@pytest.mark.parametrize("results, headline", [
    ([b.ihc(P, "3+", 80), b.variant(P, "KRAS", "p.G12D", rc=31), b.variant(P, "NRAS", present=False)],
     "HER2-positive (colorectal), RAS-mutant (KRAS p.G12D, plasma, clonality 31%): "),
    ([b.ihc(P, "3+", 80), b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", "p.Q61K", origin="tissue")],
     "HER2-positive (colorectal), RAS-mutant (NRAS p.Q61K, tissue): "),
    ([b.ihc(P, "3+", 80), b.variant(P, "KRAS", "p.G12D", rc=30), b.variant(P, "NRAS", present=False)],
     "HER2-positive (colorectal): "),  # twin: relative clonality 30% counts as wild-type
    ([*_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False))], "HER2-positive (colorectal), plasma only: "),
])
def test_6_10_headline_names_ras_mutation_and_plasma_only_basis(client, results, headline):
    assert run(client, *results)[0]["summary"].startswith(headline)


def test_6_10_card_text_names_criteria_and_results_without_record_ids(client):
    cards = run(client, b.ihc(P, "3+", 80, oid="ihc-1"), b.variant(P, "KRAS", present=False, oid="k-1"),
                b.variant(P, "NRAS", present=False, oid="n-1"))
    text = "\n".join(c["summary"] + c["detail"] for c in cards)
    assert "harmonized 10% criterion: **met**" in cards[0]["detail"]
    assert "- IHC 3+ in 80% of tumour cells, biopsy specimen — 2024-03-01" in cards[0]["detail"]
    assert [s for s in ("Observation/", "harmonized-10pct", "TRIUMPH-tissue", "TRIUMPH-blood", "HER2 criterion: -") if s in text] == []
    trials = by_topic(cards, "her2-trials")[0]["detail"]
    assert "**NCT04278144** BDC-1001 ± nivolumab (phase I/II): BDC-1001 ± nivolumab. HER2 criterion: not given in the source" in trials


@pytest.mark.parametrize("results, named", [
    ([b.ihc(P, "0"), b.variant(P, "KRAS", "p.G12D", origin="tissue")], False),  # HER2-negative: RAS decides nothing here
    ([b.ihc(P, "0"), b.erbb2_cn(P, True, 12), b.variant(P, "KRAS", "p.G12D", rc=31)], True),  # it makes the blood criterion fail
])
def test_6_10_ras_headline_only_where_ras_decides_something(client, results, named):
    assert ("crc.headline.ras-mutant" in status_rules(run(client, *results))) is named


@pytest.mark.parametrize("ras, heracles_in_caveat", [
    ([b.variant(P, "KRAS", "p.G12D", rc=31), b.variant(P, "NRAS", present=False)], True),  # plasma, high clonality
    ([b.variant(P, "KRAS", "p.G12D", origin="tissue"), b.variant(P, "NRAS", present=False, origin="tissue")], False),
])
def test_6_10_ras_caveat_quotes_each_note_that_holds_and_the_status_card_states_it_once(client, ras, heracles_in_caveat):
    cards = run(client, b.ihc(P, "3+", 80), *ras)
    heracles = "the three patients with high-clonality plasma RAS mutations showed no tumour response"
    assert cards[0]["detail"].count(heracles) == (1 if heracles_in_caveat else 0)
    lapatinib = next(c for c in by_topic(cards, "her2-therapy") if rules(c)[0] == "crc.therapy.trastuzumab-lapatinib")
    caveat = lapatinib["detail"].split("**For this patient**")[1]
    assert "1 of 13 (8%) in MyPathway" in caveat and (heracles in caveat) is heracles_in_caveat
    assert ("crc.note.ras-high-clonality-heracles" in rules(lapatinib)) is heracles_in_caveat


# ---------------------------------------------------------------- clinician review of the cards (W2-W4)
LATER = [b.medication(P, "FOLFOX", date="2023-01-10")]
NCT05350917 = "NCT05350917 Tislelizumab + disitamab vedotin + pyrotinib"


@pytest.mark.parametrize("results, history, offered", [
    # W2: NCT05350917 "... Advanced Colorectal Cancer Who Failed Standard Therapy" (Table 3)
    ([b.ihc(P, "3+", 80)], [], False),
    ([b.ihc(P, "3+", 80)], LATER, True),  # twin: systemic therapy on file
])
def test_w2_trial_for_previously_treated_patients_not_offered_in_first_line(client, results, history, offered):
    [card] = by_topic(run(client, *results, history=history), "her2-trials")
    assert ("NCT05350917" in card["extension"]["her2cds"]["trials"]) is offered
    assert ("common.trial-exclusion.previously-treated-in-first-line" in rules(card)) is (not offered)
    assert ("common.trial-note.previously-treated" in rules(card)) is offered
    if not offered:
        not_offered = card["detail"].split("**Not offered**")[1]
        assert f"- {NCT05350917}: a trial for previously treated patients; no systemic therapy is on file" in not_offered


@pytest.mark.parametrize("results, missing", [
    # W3: "HER2-positive or Mutated": IHC 2+ without ISH, or an unscored IHC, cannot decide HER2-positive
    ([b.ihc(P, "2+", 40)], "without an ISH result"),
    ([b.ihc(P, "3+", 9, specimen=None)], "without an ISH result"),  # indeterminate: below TRIUMPH's cell fraction
])
def test_w3_nct05350917_cannot_be_assessed_without_the_result_that_decides_her2_positive(client, results, missing):
    [card] = by_topic(run(client, *results, history=LATER), "her2-trials")
    assert "NCT05350917" not in card["extension"]["her2cds"]["trials"]
    assert "crc.trial-exclusion.nct05350917-undecided" in rules(card)
    unassessable = card["detail"].split("**Could not be assessed**")[1]
    assert f"- {NCT05350917}: its population is HER2-positive or ERBB2-mutated colorectal cancer; " \
               f"HER2-positive cannot be decided {missing}" in unassessable


@pytest.mark.parametrize("results", [
    [b.ihc(P, "2+", 40), b.variant(P, "ERBB2", "p.Ser310Phe", origin="tissue")],  # twin: a mutation result is on file
    [b.ihc(P, "2+", 60), b.ish(P, 2.0)],  # twin: ISH decides (positive)
])
def test_w3_twins_nct05350917_offered(client, results):
    [card] = by_topic(run(client, *results, history=LATER), "her2-trials")
    assert "NCT05350917" in card["extension"]["her2cds"]["trials"]
    assert "crc.trial-exclusion.nct05350917-undecided" not in rules(card)


EXPRESSING_TITLES = ["NCT04278144", "NCT03821233", "NCT04513223", "NCT04660929"]


@pytest.mark.parametrize("results, expressing", [
    # W4: titles "HER2-Expressing", "HER2-Positive Cancers" (HER2 high), "HER2 Expressing", "HER2-Overexpressing"
    ([b.ihc(P, "0"), b.ish(P, 2.5)], False),  # positive by TRIUMPH tissue (ISH >= 2.0), IHC 0
    ([b.ihc(P, "0"), b.erbb2_cn(P, True, 20), b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)], False),
    ([b.ihc(P, "3+", 80)], True),  # twin: expressing
    ([b.ihc(P, "1+"), b.ish(P, 2.5)], True),  # twin: IHC 1+ expresses HER2
])
def test_w4_ihc0_is_not_offered_trials_for_her2_expressing_tumours(client, results, expressing):
    [card] = by_topic(run(client, *results, history=LATER), "her2-trials")
    offered = card["extension"]["her2cds"]["trials"]
    if expressing:
        assert set(EXPRESSING_TITLES) & set(offered) and "crc.trial-exclusion.ihc0-not-expressing" not in rules(card)
    else:
        assert not set(EXPRESSING_TITLES) & set(offered)
        assert "crc.trial-exclusion.ihc0-not-expressing" in rules(card)
        not_offered = card["detail"].split("**Not offered**")[1]
        assert not_offered.count("IHC 0: not HER2-expressing") == len([n for n in EXPRESSING_TITLES if n in not_offered])
        assert "NCT04660929" in not_offered


# ---------------------------------------------------------------- clinician review of the cards (W5, M8)
def criterion_line(cards, name):
    [line] = [x for x in cards[0]["detail"].splitlines() if x.startswith(f"- {name}: ")]
    return line


def outcome(cards, code):
    """met / unknown / not-met of one criterion on the status card."""
    ext = status_ext(cards)
    return "met" if code in ext["criteriaMet"] else "unknown" if code in ext["criteriaUnknown"] else "not-met"


@pytest.mark.parametrize("results, harmonized, why", [
    # W5: the harmonized criteria integrate IHC and FISH; the source states only the IHC 3+ >= 10% cut-off
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5)], "unknown", "no rule for an ISH result"),
    ([b.ihc(P, "1+"), b.ish(P, 2.0)], "unknown", "no rule for an ISH result"),
    ([b.ish(P, 2.3)], "unknown", "no rule for an ISH result"),  # no IHC at all
    ([b.ihc(P, "2+", 40)], "unknown", "IHC 2+ without ISH"),
    ([b.ihc(P, "indeterminate")], "unknown", "the IHC could not be scored"),
    ([b.ihc(P, "indeterminate"), b.ish(P, 2.0)], "unknown", "the IHC could not be scored"),
    # twins: the source's own cut-off decides
    ([b.ihc(P, "3+", 10)], "met", None),
    ([b.ihc(P, "3+", 9, specimen="Colon resection specimen")], "not-met", None),
    ([b.ihc(P, "0")], "not-met", None),
    ([b.ihc(P, "1+"), b.ish(P, 1.99)], "not-met", None),
    ([b.ihc(P, "2+", 60), b.ish(P, 1.5)], "not-met", None),
])
def test_w5_harmonized_criterion_cannot_be_applied_where_the_source_gives_no_rule(client, results, harmonized, why):
    cards = run(client, *results)
    assert outcome(cards, "harmonized-10pct") == harmonized
    if why:
        line = criterion_line(cards, "harmonized 10% criterion")
        assert why in line
        assert ("the IHC could not be scored" in line) is (why == "the IHC could not be scored")


@pytest.mark.parametrize("results, heracles, why", [
    ([b.ihc(P, "indeterminate")], "unknown", "the IHC could not be scored"),
    ([b.ihc(P, "indeterminate"), b.ish(P, 2.5)], "unknown", "the IHC could not be scored"),
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5)], "unknown", "% of cells amplified is not reported"),
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5, amplified_pct=51)], "met", None),  # twin
    ([b.ihc(P, "0")], "not-met", None),  # twin
])
def test_w5_heracles_cannot_be_applied_without_a_score_or_the_cell_fraction(client, results, heracles, why):
    cards = run(client, *results)
    assert outcome(cards, "HERACLES") == heracles
    if why:
        assert why in criterion_line(cards, "HERACLES")


@pytest.mark.parametrize("ihc, arm", [
    # M8: TRIUMPH Table 1: biopsy "irrespective of percentage", surgical "within >10% of tumor cells"
    (b.ihc(P, "3+", None, specimen="Colon biopsy"), "IHC 3+ on a biopsy specimen (Table 1: irrespective of the % of tumour cells)"),
    (b.ihc(P, "3+", 5, specimen="Colon biopsy"), "IHC 3+ on a biopsy specimen (Table 1: irrespective of the % of tumour cells)"),
    (b.ihc(P, "3+", 11, specimen="Colon resection specimen"), "IHC 3+ in > 10% of tumour cells"),
    (b.ihc(P, "3+", 11, specimen=None), "IHC 3+ in > 10% of tumour cells"),
    (b.ihc(P, "3+", None, specimen="Colon resection specimen"),
     "IHC 3+ as called by the laboratory, % of tumour cells not reported (Table 1: > 10% on a surgical specimen)"),
    (b.ihc(P, "3+", None, specimen=None),
     "IHC 3+ as called by the laboratory, % of tumour cells not reported (Table 1: > 10% on a surgical specimen)"),
])
def test_m8_triumph_tissue_line_states_only_what_is_on_file(client, ihc, arm):
    line = criterion_line(run(client, ihc), "TRIUMPH tissue")
    assert line.startswith(f"- TRIUMPH tissue: **met** — {arm}")
    if "in > 10%" not in arm:
        assert "in > 10% of tumour cells" not in line


@pytest.mark.parametrize("ihc", [b.ihc(P, "3+", 10, specimen="Colon resection specimen"), b.ihc(P, "3+", 9, specimen=None)])
def test_m8_twins_triumph_tissue_not_met_at_or_below_ten_percent_on_surgery(client, ihc):
    assert "TRIUMPH-tissue" not in status_ext(run(client, ihc))["criteriaMet"]


@pytest.mark.parametrize("results, triumph", [
    # M9 (decision 6.2): IHC 0 or 1+ alone is not met by TRIUMPH tissue; ISH settles IHC 2+ only
    ([b.ihc(P, "1+")], "not-met"),
    ([b.ihc(P, "0")], "not-met"),
    ([b.ihc(P, "2+", 40)], "unknown"),  # twin: IHC 2+ needs ISH
    ([b.ihc(P, "1+"), b.ish(P, 2.0)], "met"),  # twin: ISH on file decides
    ([b.erbb2_cn(P, False)], "unknown"),  # twin: no IHC at all
])
def test_m9_triumph_tissue_for_ihc_0_or_1_alone_is_not_met(client, results, triumph):
    assert outcome(run(client, *results), "TRIUMPH-tissue") == triumph


@pytest.mark.parametrize("value, cut, group", [
    # M4, N5 (decision 6.29): CRC §5: "median in those with versus those without favorable factors, tissue-based,
    # 6.2 versus 2.2 months HR = 0.28": the favourable group is CN above the cut-off AND no concurrent alteration
    (68.69, "< 68.7", "lower"),
    (68.7, "≥ 68.7", "higher"),
])
def test_m4_n5_copy_number_line_states_the_groups_as_the_seed_does(client, value, cut, group):
    cards = run(client, b.ihc(P, "3+", 60), b.erbb2_cn(P, True, value, origin="tissue"))
    [line] = [x for x in cards[0]["detail"].splitlines() if "tissue HER2 copy number by NGS" in x]
    assert f"{value:g} {cut} (TRIUMPH: {group} group; median PFS 6.2 vs 2.2 months (HR 0.28) for patients with copy number " \
           "above the cut-off and no concurrent oncogenic alterations vs all others (alterations not assessed here)" in line
    assert "at or above vs 2.2 months below" not in line


@pytest.mark.parametrize("apcn, cut, group", [
    # N5: CRC §5 "ctDNA-based: 5.6 versus 1.6 months, HR = 0.14" (Table 2: ApCN >= 16.7)
    (16.69, "< 16.7", "lower"),
    (16.7, "≥ 16.7", "higher"),
])
def test_n5_plasma_apcn_line_states_the_groups_as_the_seed_does(client, apcn, cut, group):
    cards = run(client, *_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)), b.apcn(P, apcn))
    [line] = [x for x in cards[0]["detail"].splitlines() if "(TRIUMPH:" in x and "ApCN" in x]
    assert f"{apcn:g} {cut} (TRIUMPH: {group} group; median PFS 5.6 vs 1.6 months (HR 0.14) for patients with ApCN above " \
           "the cut-off and no concurrent oncogenic alterations vs all others (alterations not assessed here)" in line


@pytest.mark.parametrize("results, discordant, status", [
    # P2 (decision 6.27): IHC 3+ with ISH below 2.0 (TRIUMPH Table 1: "IHC3+ or FISH-positive (HER2/CEP17 ratio ≥ 2.0)")
    # is named in the headline; the status is unchanged (the IHC result meets the criteria listed as met)
    ([b.ihc(P, "3+", 60, specimen="Colon biopsy"), b.ish(P, 1.2)], True, "positive"),
    ([b.ihc(P, "3+", 60, specimen="Colon biopsy"), b.ish(P, 1.99)], True, "positive"),
    ([b.ihc(P, "3+"), b.ish(P, 1.2)], True, "positive"),
    ([b.ihc(P, "3+", 60, specimen="Colon biopsy"), b.ish(P, 2.0)], False, "positive"),  # twin: amplified
    ([b.ihc(P, "3+", 60, specimen="Colon biopsy")], False, "positive"),  # twin: no ISH
    ([b.ihc(P, "2+", 60), b.ish(P, 1.2)], False, "low"),  # twin: IHC 2+ settled by ISH
])
def test_p2_ihc3_with_ish_not_amplified_is_discordant_in_the_headline(client, results, discordant, status):
    _assert_discordant(run(client, *results), "crc.contradiction.ihc3-ish-negative", discordant, status,
                       "HER2-positive (colorectal), discordant (IHC 3+, ISH not amplified):")


@pytest.mark.parametrize("results, met_by", [
    # N4 (decision 6.28): NCT05350917's population is the title's "HER2-positive or Mutated" (Table 3): the line
    # names HER2-positive with its criteria, never "not given in the source ... any HER2-expressing tumour"
    ([b.ihc(P, "1+"), b.ish(P, 2.3)], "HER2-positive (TRIUMPH tissue)"),
    ([b.ihc(P, "3+", 60, specimen="Colon biopsy")], "HER2-positive (HERACLES, TRIUMPH tissue, harmonized 10% criterion)"),
    (_plasma(b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)), "HER2-positive (TRIUMPH blood)"),
])
def test_n4_nct05350917_line_names_its_title_population(client, results, met_by):
    [card] = by_topic(run(client, *results, history=[b.medication(P, "FOLFOX")]), "her2-trials")
    [line] = [x for x in card["detail"].split("\n") if "**NCT05350917**" in x]
    assert f"HER2 criterion: HER2-positive or mutated (the title; Table 3 gives no HER2 column) — met by {met_by}." in line
    assert "not given in the source" not in line and "any HER2-expressing" not in line


@pytest.mark.parametrize("result, shown", [
    # N5: a result line names the copy number once
    (lambda: b.local_value(P, "erbb2-cn-qpcr", 12, origin="tissue"), "- Tissue qPCR: ERBB2 copy number 12 — "),
    (lambda: b.erbb2_cn(P, True, 70, origin="tissue"), "- Tissue NGS: ERBB2 amplified, copy number 70 — "),  # twin: a call and a value
])
def test_n5_result_line_names_the_copy_number_once(client, result, shown):
    detail = run(client, b.ihc(P, "3+", 90, specimen="Colon biopsy"), result())[0]["detail"]
    assert shown in detail and "copy number, copy number" not in detail
