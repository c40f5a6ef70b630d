"""Gastric/GEJ rules (the gastric review; docs/clinical-decisions.md 5.3, 5.6, 5.7, 5.8, 5.14)."""
from __future__ import annotations

import pytest

from tests import fhir_builders as b
from tests.conftest import by_topic, call, status_ext
from tests.rule_ids import rules, status_rule, status_rules

P = "g1"


def run(client, *results, history=(), extra=()):
    resources = [b.patient(P), b.gastric(P), b.liver_mets(P), *extra, *results, *history]
    code, body = call(client, b.hook_request("patient-view", P, resources))
    assert code == 200, body
    return body["cards"]


def regimens(cards):
    return [c["extension"]["her2cds"]["regimen"] for c in by_topic(cards, "her2-therapy")]


@pytest.mark.parametrize("score, ratio, status, toga", [
    ("3+", None, "positive", "met"),
    ("2+", 2.0, "positive", "met"),
    ("2+", 1.99, "low", "not"),
    ("2+", None, "equivocal", "unknown"),
    ("1+", 3.0, "low", "not"),
    ("0", 3.0, "negative", "not"),
    ("1+", None, "low", "not"),
    ("0", None, "negative", "not"),
])
def test_toga_scoring(client, score, ratio, status, toga):
    results = [b.ihc(P, score, specimen="Gastric biopsy")] + ([b.ish(P, ratio)] if ratio is not None else [])
    cards = run(client, *results)
    ext = status_ext(cards)
    assert ext["status"] == status and ext["tumorType"] == "gastric"
    key = {"met": "criteriaMet", "not": "criteriaNotMet", "unknown": "criteriaUnknown"}[toga]
    assert ext[key] == ["ToGA"]


def test_ihc_1plus_ish_positive_states_toga_as_the_seed_does(client):
    cards = run(client, b.ihc(P, "1+"), b.ish(P, 3.0))
    # decision 6.10: the OS gain was in high expressers "compared with" IHC 0/1+ FISH-positive patients
    assert "4.2-month median OS gain with trastuzumab was in patients with high HER2 expression" in cards[0]["detail"]
    # P1 (decision 6.27): the seed's own words, and no "not HER2-positive for trastuzumab" beyond the seed
    assert "compared with those with a low expression of HER2 protein and an IHC of 0 or 1+ despite FISH positivity" in cards[0]["detail"]
    assert "no survival benefit" not in cards[0]["detail"] and "is not HER2-positive for trastuzumab" not in cards[0]["detail"]
    assert "9.5% for IHC 1+" in cards[0]["detail"]
    assert regimens(cards) == []


def test_first_line_regimens_with_figures(client):
    cards = run(client, b.ihc(P, "3+"))
    assert regimens(cards) == [["trastuzumab"], ["pembrolizumab", "trastuzumab"]]
    toga, keynote = by_topic(cards, "her2-therapy")
    assert "13.8 vs 11.1 months (HR 0.74)" in toga["detail"] and "elderly" in toga["detail"].lower()
    assert "74.4% vs 51.9%" in keynote["detail"] and "77.4" not in keynote["detail"]


def test_after_trastuzumab_offers_tdxd_with_ild_and_retest(client):
    cards = run(client, b.ihc(P, "3+", date="2023-01-15"),
                history=[b.medication(P, "Herceptin", date="2023-02-01"), b.medication(P, "cisplatin", "2555", date="2023-02-01")])
    assert regimens(cards) == [["trastuzumab deruxtecan"], ["disitamab vedotin"]]
    tdxd = by_topic(cards, "her2-therapy")[0]
    assert "after failure with a trastuzumab-containing regimen" in tdxd["detail"]
    assert "third line or later" in tdxd["detail"]
    assert "interstitial lung disease developed in 10%" in tdxd["detail"] and "myelosuppression" in tdxd["detail"]
    assert "Confirm HER2 first" in tdxd["detail"]
    [test] = by_topic(cards, "her2-testing")
    assert test["summary"].startswith("HER2 result predates trastuzumab")
    codes = [a["resource"]["code"]["coding"][0]["code"] for s in test["suggestions"] for a in s["actions"]]
    assert codes == ["18474-7", "69548-6"]


def test_result_after_trastuzumab_needs_no_retest(client):
    cards = run(client, b.ihc(P, "3+", date="2024-05-01"), history=[b.medication(P, "trastuzumab", "224905", date="2023-02-01")])
    assert by_topic(cards, "her2-testing") == []
    assert "Confirm HER2 first" not in by_topic(cards, "her2-therapy")[0]["detail"]


def test_no_her2_result_suggests_testing(client):
    cards = run(client)
    assert status_ext(cards)["status"] == "not-tested"
    [test] = by_topic(cards, "her2-testing")
    assert "inoperable locally advanced, recurrent or metastatic gastric adenocarcinoma" in test["detail"]


def test_plasma_results_do_not_set_gastric_status(client):
    cards = run(client, b.erbb2_cn(P, True, 30), b.apcn(P, 40))
    ext = status_ext(cards)
    assert ext["status"] == "indeterminate" and ext["basis"] == []  # never "not tested" with a result on file (6.11)
    assert status_rule(cards) == "gc.status.her2-result-on-file"
    assert "defines no plasma (ctDNA) HER2 criterion" in cards[0]["detail"]


def test_gastric_trials_with_source_status_words(client):
    cards = run(client, b.ihc(P, "3+"))
    trials = by_topic(cards, "her2-trials")[0]
    ids = trials["extension"]["her2cds"]["trials"]
    assert "NCT03615326" in ids and "NCT03929666" in ids
    assert not {"NCT02901301", "NCT01953926", "NCT03556345"} & set(ids)
    assert "still recruiting" in trials["detail"]
    assert "recruiting status not stated in source" in trials["detail"]


def test_both_tumour_types_get_one_status_card_each(client):
    cards = run(client, b.ihc(P, "3+", 80), extra=[b.crc(P)])
    statuses = [c["extension"]["her2cds"]["tumorType"] for c in by_topic(cards, "her2-status")]
    assert statuses == ["colorectal", "gastric"]
    assert "Both colorectal and gastric/GEJ cancer are on file" in by_topic(cards, "her2-status")[0]["detail"]


def test_text_only_diagnosis_is_recognised(client):
    resources = [b.patient(P), {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{P}"},
                                "code": {"text": "Adenocarcinoma of the gastroesophageal junction, stage IV"}},
                 b.ihc(P, "3+")]
    code, body = call(client, b.hook_request("patient-view", P, resources))
    assert status_ext(body["cards"])["tumorType"] == "gastric"


def test_refuted_diagnosis_is_ignored(client):
    resources = [b.patient(P), b.gastric(P, verification="refuted"), b.ihc(P, "3+")]
    code, body = call(client, b.hook_request("patient-view", P, resources))
    assert body["cards"][0]["source"]["topic"]["code"] == "out-of-scope"


def test_unreadable_diagnosis_is_not_called_missing(client):
    dstu2 = {"resourceType": "Condition", "id": "old", "patient": {"reference": f"Patient/{P}"},
             "code": {"text": "Adenocarcinoma of stomach"}, "verificationStatus": "confirmed"}
    code, body = call(client, b.hook_request("patient-view", P, [b.patient(P), dstu2, b.ihc(P, "3+")]))
    [card] = body["cards"]
    assert card["source"]["topic"]["code"] == "out-of-scope"
    assert card["summary"] == "HER2 rules not applied: diagnosis records could not be read"
    assert "Condition/old is not valid FHIR R4" in card["detail"] and "No diagnosis is on file" not in card["detail"]


# ---------------------------------------------------------------- rule by rule (seed figures written here)
# ToGA: IHC 3+, or IHC 2+ with FISH HER2/CEP17 >= 2; IHC 0/1+ despite FISH positivity: no benefit.

@pytest.mark.parametrize("score, ratio, status_rule_id, exception", [
    ("2+", 1.99, "gc.status.low", False),
    ("2+", 2.0, "gc.status.positive", False),
    ("2+", 2.01, "gc.status.positive", False),
    ("1+", 1.99, "gc.status.low", False),
    ("1+", 2.0, "gc.status.low", True),
    ("0", 1.99, "gc.status.negative", False),
    ("0", 2.0, "gc.status.negative", True),
    ("3+", 1.99, "gc.status.positive", False),
])
def test_toga_ratio_edges_and_the_low_ihc_exception(client, score, ratio, status_rule_id, exception):
    cards = run(client, b.ihc(P, score, specimen="Gastric biopsy"), b.ish(P, ratio))
    ids = status_rules(cards)
    assert status_rule(cards) == status_rule_id
    assert ("gc.note.ish-positive-low-ihc" in ids) is exception
    assert ("gc.contradiction.ihc3-ish-negative" in ids) is (score == "3+" and ratio < 2.0)


@pytest.mark.parametrize("make, rule_id", [
    (lambda: [b.ihc(P, "indeterminate")], "gc.status.ihc-indeterminate"),
    (lambda: [b.ihc(P, "2+")], "gc.status.equivocal"),
    (lambda: [b.ihc(P, "1+")], "gc.status.low"),
    (lambda: [b.ihc(P, "0")], "gc.status.negative"),
    (lambda: [b.ish(P, 3.0)], "gc.status.ish-without-ihc"),
    (lambda: [b.local_value(P, "ctdna-fraction", 5, unit="mg")], "gc.status.ish-without-ihc"),
    (lambda: [b.erbb2_cn(P, True, 30)], "gc.status.her2-result-on-file"),
    (lambda: [], "gc.status.not-tested"),
])
def test_status_ladder_rule(client, make, rule_id):
    assert status_rule(run(client, *make())) == rule_id


def test_unreadable_results_are_never_not_tested(client):
    request = b.hook_request("patient-view", P, [b.patient(P), b.gastric(P), b.liver_mets(P)])
    del request["prefetch"]["her2Observations"]
    code, body = call(client, request)
    assert status_rule(body["cards"]) == "gc.status.results-unreadable"
    assert by_topic(body["cards"], "her2-testing") == []


@pytest.mark.parametrize("score", ["0", "1+", "2+", "3+"])
def test_table_3_meaning_of_each_ihc_score(client, score):
    ids = status_rules(run(client, b.ihc(P, score)))
    assert [r for r in ids if r.startswith("gc.finding.ihc-")] == [f"gc.finding.ihc-{score[0]}-meaning"]


@pytest.mark.parametrize("results, history, predates", [
    ([b.ihc(P, "3+", date="2023-01-15")], [b.medication(P, "trastuzumab", "224905", date="2023-02-01")], "met"),
    ([b.ihc(P, "3+", date="2023-03-01")], [b.medication(P, "trastuzumab", "224905", date="2023-02-01")], "not"),
    ([b.ihc(P, "3+", date="2023-01-15"), b.ish(P, 2.5, date="2023-03-01")],
     [b.medication(P, "trastuzumab", "224905", date="2023-02-01")], "not"),  # the most recent tissue result counts
    ([b.ihc(P, "3+", date="2023-01-15")], [{**b.medication(P, "trastuzumab", "224905"), "authoredOn": None}], "unknown"),
    ([b.ihc(P, "3+", date="2023-01-15")], [b.medication(P, "cisplatin", "2555", date="2023-02-01")], "not"),
])
def test_results_predating_trastuzumab(client, results, history, predates):
    cards = run(client, *results, history=history)
    ids = status_rules(cards)
    tests = [rules(c)[0] for c in by_topic(cards, "her2-testing")]
    assert ("gc.note.her2-loss" in ids) is (predates == "met")
    assert (tests == ["gc.test.retest-after-trastuzumab"]) is (predates == "met")
    assert ("gc.finding.trastuzumab-start-unknown" in ids) is (predates == "unknown")


@pytest.mark.parametrize("history, therapies", [
    ([], ["gc.therapy.trastuzumab-chemotherapy", "gc.therapy.pembrolizumab-trastuzumab-chemotherapy"]),
    ([b.medication(P, "trastuzumab", "224905", date="2023-02-01")], ["gc.therapy.trastuzumab-deruxtecan", "gc.therapy.disitamab-vedotin"]),
    ([b.medication(P, "oxaliplatin", "32592", date="2023-02-01")], []),
])
def test_therapies_by_line(client, history, therapies):
    cards = run(client, b.ihc(P, "3+", date="2024-01-01"), history=history)
    assert [rules(c)[0] for c in by_topic(cards, "her2-therapy")] == therapies
    assert ("gc.therapy-gap.no-regimen-applies" in status_rules(cards)) is (not therapies)


@pytest.mark.parametrize("status", ["not-taken", "intended"])
def test_trastuzumab_not_taken_or_only_intended_is_not_history(client, status):
    statement = b.medication(P, "trastuzumab", "224905", status=status, date="2023-02-01", rtype="MedicationStatement")
    cards = run(client, b.ihc(P, "3+", date="2023-01-15"), history=[statement])
    assert [rules(c)[0] for c in by_topic(cards, "her2-therapy")] == [
        "gc.therapy.trastuzumab-chemotherapy", "gc.therapy.pembrolizumab-trastuzumab-chemotherapy"]
    assert by_topic(cards, "her2-testing") == []


def test_confirm_her2_first_caveat_on_both_post_trastuzumab_therapies(client):
    cards = run(client, b.ihc(P, "3+", date="2023-01-15"), history=[b.medication(P, "trastuzumab", "224905", date="2023-02-01")])
    for card in by_topic(cards, "her2-therapy"):
        assert "gc.therapy-note.confirm-her2-first" in rules(card)
    assert "common.safety.tdxd-ild" in rules(by_topic(cards, "her2-therapy")[0])


@pytest.mark.parametrize("results, notes", [
    ([b.ihc(P, "1+")], {"gc.note.her2-low-tdxd"}),
    ([b.ihc(P, "2+"), b.ish(P, 1.5)], {"gc.note.her2-low-tdxd"}),
    ([b.ihc(P, "3+"), b.apcn(P, 40)], {"gc.note.no-plasma-criterion"}),
    ([b.ihc(P, "3+")], set()),
])
def test_gastric_notes(client, results, notes):
    assert {r for r in status_rules(run(client, *results)) if ".note." in r} == notes


@pytest.mark.parametrize("results, tests", [
    ([b.ihc(P, "2+")], ["gc.test.reflex-ish"]),
    ([], ["gc.test.her2-test"]),
    ([b.ish(P, 3.0)], ["gc.test.ihc-after-ish"]),  # ISH on file: never "no HER2 result"
    ([b.ihc(P, "0")], []),
])
def test_test_suggestion_rules(client, results, tests):
    assert [rules(c)[0] for c in by_topic(run(client, *results), "her2-testing")] == tests


def test_trial_notes_by_line(client):
    trials = by_topic(run(client, b.ihc(P, "3+")), "her2-trials")[0]
    assert "common.trial-note.first-line" in rules(trials) and "NCT03615326" in trials["extension"]["her2cds"]["trials"]
    assert "; first-line trial." in trials["detail"]


def test_no_regimen_applies_is_said(client):
    cards = run(client, b.ihc(P, "3+", date="2024-01-01"), history=[b.medication(P, "oxaliplatin", "32592")])
    assert "- Prior systemic therapy without trastuzumab is on file: the first-line HER2 regimens" in cards[0]["detail"]


def test_findings_order_meaning_data_notes_then_unknown_start(client):
    ignored = b.ihc(P, "2+", oid="bad", status="entered-in-error")
    cards = run(client, b.ihc(P, "3+", date="2023-01-15"), ignored,
                history=[{**b.medication(P, "trastuzumab", "224905"), "authoredOn": None}])
    notes = cards[0]["detail"].split("**Notes**")[1]
    meaning, ignored_at, start = (notes.index("Gastric IHC 3+ (Table 3)"), notes.index("Immune stain of 2024-03-01 ignored"),
                                  notes.index("Trastuzumab is in the history without a start date"))
    assert meaning < ignored_at < start


def test_copy_number_cut_offs_are_colorectal_only(client):
    ids = status_rules(run(client, b.ihc(P, "3+"), b.apcn(P, 40)))
    assert not [r for r in ids if ".cutoff." in r]


# ---------------------------------------------------------------- issue #15 (clinical-rules.md section 6)
# Seed: "ctDNA could be used to reassess HER2 status without the need to obtain a post-progression
# biopsy" (CP-MGAH22-05); KEYNOTE-811 "immune-mediated adverse events, particularly pneumonitis and
# colitis"; T-DXd "interstitial lung disease and myelosuppression", ILD in 10%; first-line trials.

TRASTUZUMAB = [b.medication(P, "trastuzumab", "224905", date="2023-02-01"), b.medication(P, "cisplatin", "2555", date="2023-02-01")]
PRE_TRASTUZUMAB_IHC = b.ihc(P, "3+", date="2023-01-15", specimen="Gastric biopsy")


def therapy_rules(cards):
    return {c["extension"]["her2cds"]["regimen"][0]: rules(c) for c in by_topic(cards, "her2-therapy")}


@pytest.mark.parametrize("plasma, tests, retained, tissue_retest", [
    (b.erbb2_cn(P, True, 20, date="2024-05-01"), [], True, False),  # HER2 retained: no re-test asked again
    (b.erbb2_cn(P, False, date="2024-05-01"), ["gc.test.tissue-retest-after-negative-plasma"], False, True),
    (b.erbb2_cn(P, True, 20, date="2023-01-20"), ["gc.test.retest-after-trastuzumab"], False, False),  # before trastuzumab
    (b.erbb2_cn(P, True, 20, date="2023-02-01"), ["gc.test.retest-after-trastuzumab"], False, False),  # same day: not after
    (None, ["gc.test.retest-after-trastuzumab"], False, False),
])
def test_6_5_plasma_after_trastuzumab_is_the_retest(client, plasma, tests, retained, tissue_retest):
    cards = run(client, PRE_TRASTUZUMAB_IHC, *([plasma] if plasma else []), history=TRASTUZUMAB)
    ids = status_rules(cards)
    assert [rules(c)[0] for c in by_topic(cards, "her2-testing")] == tests
    tdxd = therapy_rules(cards)["trastuzumab deruxtecan"]
    assert ("gc.therapy-note.her2-retained-in-plasma" in tdxd) is retained
    assert ("gc.therapy-note.confirm-her2-first" in tdxd) is (not retained)
    assert ("gc.finding.her2-retained-in-plasma" in ids) is retained and ("gc.note.her2-loss" in ids) is (not retained)
    assert ("gc.finding.plasma-retest-not-amplified" in ids) is tissue_retest
    if tissue_retest:
        [test] = by_topic(cards, "her2-testing")
        assert [a["resource"]["code"]["coding"][0]["code"] for s in test["suggestions"] for a in s["actions"]] == ["18474-7", "49683-6"]


def test_6_5_a_later_trastuzumab_course_makes_the_plasma_result_no_retest(client):
    history = [*TRASTUZUMAB, b.medication(P, "Herceptin", date="2024-06-01")]
    cards = run(client, PRE_TRASTUZUMAB_IHC, b.erbb2_cn(P, True, 20, date="2024-05-01"), history=history)
    assert [rules(c)[0] for c in by_topic(cards, "her2-testing")] == ["gc.test.retest-after-trastuzumab"]


def test_6_5_retained_tdxd_card_states_plasma_basis_without_confirm_first(client):
    cards = run(client, PRE_TRASTUZUMAB_IHC, b.erbb2_cn(P, True, 20, date="2024-05-01"), history=TRASTUZUMAB)
    tdxd = by_topic(cards, "her2-therapy")[0]["detail"]
    assert "Basis: plasma. HER2 retained after trastuzumab: plasma ERBB2 amplified on 2024-05-01" in tdxd
    assert "Confirm HER2 first" not in tdxd
    assert status_ext(cards)["status"] == "positive"  # plasma never sets the gastric status (5.6)


@pytest.mark.parametrize("history, first_line_offered", [
    ((), True),
    (TRASTUZUMAB, False),
    ((b.medication(P, "oxaliplatin", "32592", date="2023-02-01"),), False),
])
def test_6_6_first_line_gastric_trials_not_offered_after_systemic_therapy(client, history, first_line_offered):
    [card] = by_topic(run(client, b.ihc(P, "3+", date="2024-01-01"), history=history), "her2-trials")
    offered = set(card["extension"]["her2cds"]["trials"])
    first_line = {"NCT03615326", "NCT04082364", "NCT03409848", "NCT04276493", "NCT02892123"}  # KEYNOTE-811, MAHOGANY, INTEGA ...
    assert (first_line <= offered) is first_line_offered and (not first_line & offered) is (not first_line_offered)
    if not first_line_offered:
        assert "- NCT03615326 KEYNOTE-811: a first-line trial, and systemic therapy for the advanced disease is on file" in card["detail"]
        assert "NCT04499924" in offered  # the previously-treated trial stays


@pytest.mark.parametrize("results, discordant", [
    ([b.ihc(P, "3+"), b.erbb2_cn(P, False)], True),
    ([b.ihc(P, "0"), b.erbb2_cn(P, True, 20)], True),
    ([b.ihc(P, "3+"), b.erbb2_cn(P, True, 20)], False),
    ([b.ihc(P, "3+", date="2022-01-01"), b.ihc(P, "1+", date="2024-06-01")], True),
    ([b.ihc(P, "1+", date="2022-01-01"), b.ihc(P, "0", date="2024-06-01")], False),
])
def test_6_7_gastric_discordance_in_the_headline(client, results, discordant):
    cards = run(client, *results)
    assert ("common.headline.discordant" in status_rules(cards)) is discordant
    assert (", discordant" in cards[0]["summary"]) is discordant


def test_6_8_keynote_811_card_names_immune_mediated_adverse_events(client):
    toga, keynote = by_topic(run(client, b.ihc(P, "3+")), "her2-therapy")
    assert "gc.safety.pembrolizumab-immune" in rules(keynote) and "gc.safety.pembrolizumab-immune" not in rules(toga)
    assert "immune-mediated adverse events, particularly pneumonitis and colitis, were more common with pembrolizumab" in keynote["detail"]


def test_6_8_gastric_tdxd_card_carries_ild_and_myelosuppression(client):
    tdxd = by_topic(run(client, b.ihc(P, "3+", date="2024-01-01"), history=TRASTUZUMAB), "her2-therapy")[0]
    assert "common.safety.tdxd-ild" in rules(tdxd)
    assert "myelosuppression" in tdxd["detail"] and "interstitial lung disease developed in 10%" in tdxd["detail"]


# ---------------------------------------------------------------- clinician review of the cards (W2)
@pytest.mark.parametrize("history, offered", [
    # W2: NCT04499924 "patients with previously treated advanced HER2+ gastric or GEJ adenocarcinoma"
    ((), False),
    ((b.medication(P, "oxaliplatin", "32592", date="2023-02-01"),), True),  # twin: systemic therapy on file
    (TRASTUZUMAB, True),
])
def test_w2_gastric_trial_for_previously_treated_patients_not_offered_in_first_line(client, history, offered):
    [card] = by_topic(run(client, b.ihc(P, "3+", date="2024-01-01"), history=history), "her2-trials")
    assert ("NCT04499924" in card["extension"]["her2cds"]["trials"]) is offered
    assert ("common.trial-exclusion.previously-treated-in-first-line" in rules(card)) is (not offered)
    if not offered:
        assert "- NCT04499924 Tucatinib + trastuzumab + ramucirumab + paclitaxel: a trial for previously treated patients; " \
               "no systemic therapy is on file" in card["detail"].split("**Not offered**")[1]


# ---------------------------------------------------------------- clinician review of the cards (M2, M5)
@pytest.mark.parametrize("history, summary, reassess", [
    # M2: a plasma result is on file, so the card does not say "not tested"; no post-trastuzumab line without trastuzumab
    ((), "HER2 indeterminate (gastric/GEJ), no tissue HER2 result; no gastric plasma criterion: Plasma (ctDNA) NGS", False),
    (TRASTUZUMAB, "HER2 indeterminate (gastric/GEJ), no tissue HER2 result; no gastric plasma criterion: Plasma (ctDNA) NGS", True),
])
def test_m2_gastric_plasma_only_names_the_plasma_result_and_reassessment_only_after_trastuzumab(client, history, summary, reassess):
    cards = run(client, b.erbb2_cn(P, True, 18), history=history)
    assert cards[0]["summary"].startswith(summary)
    assert status_ext(cards)["status"] == "indeterminate"  # a result on file, none the gastric criteria use (5.6, 6.11)
    assert ("gc.note.plasma-reassess-after-trastuzumab" in status_rules(cards)) is reassess
    assert ("post-progression biopsy" in cards[0]["detail"]) is reassess


def test_m2_twin_no_result_at_all_is_not_tested(client):
    assert run(client)[0]["summary"].startswith("HER2 not tested (gastric/GEJ)")


@pytest.mark.parametrize("results, history, headline", [
    # M5: the headline names that the only result predates trastuzumab (T-ACT: lost in 11 of 16)
    ([PRE_TRASTUZUMAB_IHC], TRASTUZUMAB, True),
    ([PRE_TRASTUZUMAB_IHC, b.erbb2_cn(P, True, 20, date="2024-05-01")], TRASTUZUMAB, False),  # twin: retained in plasma
    ([b.ihc(P, "3+", date="2024-06-01")], TRASTUZUMAB, False),  # twin: result after trastuzumab
    ([PRE_TRASTUZUMAB_IHC], (), False),  # twin: no trastuzumab
])
def test_m5_headline_names_a_result_that_predates_trastuzumab(client, results, history, headline):
    cards = run(client, *results, history=history)
    assert ("the only tissue result predates trastuzumab" in cards[0]["summary"]) is headline
    assert ("gc.headline.result-predates-trastuzumab" in status_rules(cards)) is headline


@pytest.mark.parametrize("results, contradiction, headline", [
    # P1, P2 (decisions 4.2, 6.27): an IHC/ISH contradiction is stated on the status card and named in the headline;
    # gastric review, ToGA: "IHC 2+ and ... FISH amplified HER2/CEP17 ≥ 2 or IHC 3+" vs "IHC of 0 or 1+ despite FISH positivity"
    ([b.ihc(P, "1+"), b.ish(P, 3.0)], "gc.contradiction.ihc-low-ish-amplified",
     "HER2-low (gastric/GEJ), discordant (IHC 1+, ISH amplified)"),
    ([b.ihc(P, "0"), b.ish(P, 2.0)], "gc.contradiction.ihc-low-ish-amplified",
     "HER2-negative (gastric/GEJ), discordant (IHC 0, ISH amplified)"),
    ([b.ihc(P, "3+"), b.ish(P, 1.99)], "gc.contradiction.ihc3-ish-negative",
     "HER2-positive (gastric/GEJ), discordant (IHC 3+, ISH not amplified)"),
    # twins: concordant or not contradicting
    ([b.ihc(P, "1+"), b.ish(P, 1.99)], None, "HER2-low (gastric/GEJ): "),
    ([b.ihc(P, "2+"), b.ish(P, 2.0)], None, "HER2-positive (gastric/GEJ): "),
    ([b.ihc(P, "3+"), b.ish(P, 2.0)], None, "HER2-positive (gastric/GEJ): "),
    ([b.ihc(P, "1+")], None, "HER2-low (gastric/GEJ): "),
])
def test_p1_p2_ihc_ish_contradiction_on_the_status_card_and_in_the_headline(client, results, contradiction, headline):
    cards = run(client, *results)
    ids = status_rules(cards)
    contradictions = {"gc.contradiction.ihc-low-ish-amplified", "gc.contradiction.ihc3-ish-negative"}
    assert contradictions & set(ids) == ({contradiction} if contradiction else set())
    assert ("common.headline.discordant" in ids) is bool(contradiction)
    assert cards[0]["summary"].startswith(headline)
