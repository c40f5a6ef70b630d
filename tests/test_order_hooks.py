"""order-select and order-sign: warnings on draft orders, their twins, and test suggestions."""

from __future__ import annotations

import json

import pytest

from tests import fhir_builders as b
from tests.conftest import FIXTURES, by_topic, call, load_request
from tests.rule_ids import rules

P = "o1"
FOLFOX = b.medication(P, "FOLFOX", date="2024-01-01", mid="hist-folfox")


def crc_positive(history=(FOLFOX,)):
    return [b.patient(P), b.crc(P), b.liver_mets(P), b.ihc(P, "3+", 80), *history]


def run(client, hook, resources, orders, selections=None):
    code, body = call(client, b.hook_request(hook, P, resources, orders, selections))
    assert code == 200, body
    return body["cards"]


def warnings(cards):
    return [c for c in by_topic(cards, "order-warning")]


def codes(cards):
    return [c["extension"]["her2cds"]["warning"] for c in warnings(cards)]


def of_code(cards, code):
    [card] = [c for c in warnings(cards) if c["extension"]["her2cds"]["warning"] == code]
    return card


def delete_targets(card):
    return [a["resourceId"] for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "delete"]


@pytest.mark.parametrize("hook", ["order-sign", "order-select"])
def test_anti_egfr_in_later_line_is_a_warning_with_delete(client, hook):
    cards = run(client, hook, crc_positive(), [b.draft_order(P, "cetuximab 2 MG/ML Injectable Solution", "1657589", mid="cx")])
    [w] = warnings(cards)
    assert w["indicator"] == "warning" and codes(cards) == ["anti-egfr-her2-positive"]
    assert delete_targets(w) == ["MedicationRequest/cx"]
    assert "1.52" in w["detail"] and "0.93" in w["detail"] and "233" in w["detail"]
    assert "0.82" not in w["detail"]  # the malformed interval is not reproduced
    assert all({"code", "system", "display"} <= set(r) for r in w["overrideReasons"])
    assert all(a["description"] for s in w["suggestions"] for a in s["actions"])
    assert len(by_topic(cards, "her2-status")) == 1


def test_anti_egfr_in_first_line_is_info_with_calgb_context(client):
    cards = run(client, "order-sign", crc_positive(history=()), [b.draft_order(P, "Vectibix", mid="pz")])
    [w] = warnings(cards)
    assert w["indicator"] == "info" and codes(cards) == ["anti-egfr-her2-positive"]
    assert "CALGB/SWOG 80405" in w["detail"]


def test_anti_egfr_for_her2_negative_crc_is_silent(client):
    resources = [b.patient(P), b.crc(P), b.ihc(P, "0"), FOLFOX]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "cetuximab", "318341", mid="cx")])
    assert warnings(cards) == []


def test_pertuzumab_trastuzumab_for_positive_crc_is_no_warning(client):
    cards = run(client, "order-sign", crc_positive(), [b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, "Herceptin", mid="t")])
    assert warnings(cards) == [] and len(cards) == 1


def test_her2_drug_without_positive_offers_the_settling_test(client):
    resources = [b.patient(P), b.crc(P), b.ihc(P, "2+", 50)]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "trastuzumab", "224905", mid="t")])
    w = of_code(cards, "her2-drug-without-positive")
    assert codes(cards) == ["her2-drug-without-positive"]  # decision 6.26: one warning, not the single-agent one too
    assert delete_targets(w) == ["MedicationRequest/t"]
    creates = [a["resource"] for s in w["suggestions"] for a in s["actions"] if a["type"] == "create"]
    assert [r["code"]["coding"][0]["code"] for r in creates] == ["49683-6"]
    assert creates[0]["subject"] == {"reference": f"Patient/{P}"} and creates[0]["reasonCode"][0]["text"]
    assert w["selectionBehavior"] == "any"


def test_her2_drug_without_any_test_offers_ihc_and_ish(client):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P)], [b.draft_order(P, "Kadcyla", mid="k")])  # T-DM1: no single-agent warning
    [w] = warnings(cards)
    creates = [a["resource"]["code"]["coding"][0]["code"] for s in w["suggestions"] for a in s["actions"] if a["type"] == "create"]
    assert creates == ["18474-7", "49683-6"]


@pytest.mark.parametrize(
    "text, rx, agent, trial",
    [
        ("lapatinib 250 MG Oral Tablet", None, "Lapatinib", "LOGiC"),
        ("Tykerb", None, "Lapatinib", "TyTAN"),
        ("pertuzumab", "1298944", "Pertuzumab", "JACOB"),
        ("ado-trastuzumab emtansine", None, "Trastuzumab emtansine", "GATSBY"),
        ("trastuzumab high-dose loading", None, "High-dose trastuzumab", "HELOISE"),
    ],
)
def test_failed_agents_in_gastric_cancer(client, text, rx, agent, trial):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+")]
    cards = run(client, "order-select", resources, [b.draft_order(P, text, rx, mid="d1")])
    w = next(c for c in warnings(cards) if c["extension"]["her2cds"]["warning"] == "failed-agent-gastric")
    assert w["summary"].startswith(agent) and trial in w["detail"]
    assert delete_targets(w) == ["MedicationRequest/d1"]


def test_trastuzumab_beyond_progression_in_gastric_cancer(client):
    resources = [
        b.patient(P),
        b.gastric(P),
        b.ihc(P, "3+", date="2024-06-01"),
        b.medication(P, "trastuzumab", "224905", status="completed", date="2024-01-01"),
    ]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "Ogivri", mid="t2")])
    assert "failed-agent-gastric" in codes(cards)
    assert "T-ACT" in warnings(cards)[0]["detail"]


def test_lapatinib_for_crc_gets_no_gastric_warning(client):
    cards = run(client, "order-sign", crc_positive(), [b.draft_order(P, "lapatinib", "480167", mid="l")])
    assert "failed-agent-gastric" not in codes(cards)


def test_tdxd_for_her2_low_crc(client):
    resources = [b.patient(P), b.crc(P), b.ihc(P, "1+")]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "fam-trastuzumab deruxtecan-nxki", mid="x")])
    assert codes(cards) == ["tdxd-her2-low-crc"]
    assert "no objective response" in warnings(cards)[0]["detail"].lower()


def test_tdxd_for_positive_crc_is_no_warning(client):
    cards = run(client, "order-sign", crc_positive(), [b.draft_order(P, "Enhertu", mid="x")])
    assert warnings(cards) == []


@pytest.mark.parametrize(
    "ras, warn",
    [
        (b.variant(P, "KRAS", "p.G12D", rc=31), True),
        (b.variant(P, "KRAS", "p.G12D", rc=30), False),
        (b.variant(P, "KRAS", "p.G12D", origin="tissue"), True),
        (b.variant(P, "KRAS", "p.L19F", rc=90), False),
    ],
)
def test_dual_blockade_with_ras_mutation(client, ras, warn):
    resources = crc_positive() + [ras, b.variant(P, "NRAS", present=False)]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "pertuzumab", mid="p"), b.draft_order(P, "trastuzumab", mid="t")])
    got = [c for c in warnings(cards) if c["extension"]["her2cds"]["warning"] == "ras-mutant-dual-blockade"]
    assert bool(got) is warn
    if warn:
        [w] = got
        assert sorted(delete_targets(w)) == ["MedicationRequest/p", "MedicationRequest/t"]
        assert "1 of 13" in w["detail"]


def test_dual_blockade_counts_an_active_her2_drug_in_history(client):
    resources = crc_positive() + [
        b.variant(P, "KRAS", "p.G12D", origin="tissue"),
        b.medication(P, "trastuzumab", "224905", status="active", date="2026-10-01"),
    ]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "Tukysa", mid="tu")])
    assert "ras-mutant-dual-blockade" in codes(cards)


def test_identical_draft_orders_give_one_warning(client):
    orders = [b.draft_order(P, "cetuximab", "318341", mid="a"), b.draft_order(P, "cetuximab", "318341", mid="b")]
    cards = run(client, "order-sign", crc_positive(), orders)
    [w] = warnings(cards)
    assert delete_targets(w) == ["MedicationRequest/a", "MedicationRequest/b"]


def test_order_select_speaks_only_about_selections(client):
    orders = [b.draft_order(P, "cetuximab", "318341", mid="a"), b.draft_order(P, "oxaliplatin", "32592", mid="b")]
    assert warnings(run(client, "order-select", crc_positive(), orders, selections=["MedicationRequest/b"])) == []
    assert codes(run(client, "order-sign", crc_positive(), orders)) == ["anti-egfr-her2-positive"]


def test_contained_medication_is_read(client):
    draft = b.draft_order(P, "x", mid="c")
    del draft["medicationCodeableConcept"]
    draft["contained"] = [{"resourceType": "Medication", "id": "m", "code": b.cc(b.RXNORM, "318341", "cetuximab")}]
    draft["medicationReference"] = {"reference": "#m"}
    cards = run(client, "order-sign", crc_positive(), [draft])
    assert codes(cards) == ["anti-egfr-her2-positive"]


def test_referenced_medication_in_the_bundle_is_read(client):
    draft = b.draft_order(P, "x", mid="r")
    del draft["medicationCodeableConcept"]
    draft["medicationReference"] = {"reference": "Medication/med1"}
    medication = {"resourceType": "Medication", "id": "med1", "code": {"text": "Erbitux 100 MG"}}
    cards = run(client, "order-sign", crc_positive(), [draft, medication])
    assert codes(cards) == ["anti-egfr-her2-positive"]


def test_gastric_chemotherapy_without_her2_result_suggests_testing(client):
    resources = [b.patient(P), b.gastric(P), b.liver_mets(P)]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "oxaliplatin", "32592", mid="ox")])
    [test] = by_topic(cards, "her2-testing")
    assert test["indicator"] == "warning" and "Oxaliplatin ordered" in test["detail"]
    assert len(test["suggestions"]) == 2 and test["selectionBehavior"] == "any"


def test_gastric_chemotherapy_with_her2_test_ordered_does_not_nag(client):
    resources = [b.patient(P), b.gastric(P)]
    orders = [b.draft_order(P, "oxaliplatin", "32592", mid="ox"), b.test_order(P, "18474-7", "HER2 IHC", sid="ihc")]
    assert by_topic(run(client, "order-sign", resources, orders), "her2-testing") == []


def test_second_line_her2_therapy_with_pre_trastuzumab_result(client):
    resources = [
        b.patient(P),
        b.gastric(P),
        b.ihc(P, "3+", date="2023-01-01"),
        b.medication(P, "trastuzumab", "224905", status="active", date="2023-02-01"),
    ]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "Enhertu", mid="x")])
    [test] = by_topic(cards, "her2-testing")
    assert test["summary"].startswith("HER2 result predates trastuzumab")


def test_no_oncology_order_returns_no_cards(client):
    cards = run(client, "order-sign", crc_positive(), [b.draft_order(P, "atorvastatin 20 MG Oral Tablet", mid="s")])
    assert cards == []


def test_chemotherapy_for_lung_cancer_returns_no_cards(client):
    resources = [b.patient(P), b.condition(P, b.ICD10, "C34.1", "Lung cancer")]
    assert run(client, "order-sign", resources, [b.draft_order(P, "cisplatin", "2555", mid="c")]) == []
    [card] = run(client, "order-sign", resources, [b.draft_order(P, "Herceptin", mid="h")])
    assert card["source"]["topic"]["code"] == "out-of-scope"


# ---- what the public sandbox sends (interface.md "Real clients")
def sandbox_request(order):
    resources = crc_positive()
    request = b.hook_request("order-select", P, resources)
    request["context"]["draftOrders"] = (
        {"resourceType": "Bundle", "entry": [{"resource": order}]} if order else {"resourceType": "Bundle", "entry": []}
    )
    request["context"]["selections"] = [f"{order['resourceType']}/{order['id']}"] if order else []
    del request["prefetch"]["patient"]
    return request


def test_sandbox_dstu2_medication_order(client):
    order = {
        "resourceType": "MedicationOrder",
        "id": "mo1",
        "status": "draft",
        "patient": {"reference": f"Patient/{P}"},
        "medicationCodeableConcept": {
            "text": "Cetuximab 2 MG/ML Injectable Solution",
            "coding": [{"system": b.RXNORM, "code": "1657589", "display": "cetuximab 2 MG/ML Injectable Solution"}],
        },
    }
    code, body = call(client, sandbox_request(order))
    assert code == 200
    [w] = warnings(body["cards"])
    assert delete_targets(w) == ["MedicationOrder/mo1"]  # the id as the client sent it


def test_sandbox_r4_single_object_category_and_reason(client):
    order = b.draft_order(P, "cetuximab 2 MG/ML Injectable Solution", "1657589", mid="mr1")
    order["category"] = {"text": "outpatient"}
    order["reasonCode"] = {"text": "colon cancer"}
    code, body = call(client, sandbox_request(order))
    assert code == 200 and codes(body["cards"]) == ["anti-egfr-her2-positive"]


def test_sandbox_call_without_an_order(client):
    code, body = call(client, sandbox_request(None))
    assert code == 200 and body == {"cards": []}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("crc-ihc3-positive-cetuximab-sign", ["anti-egfr-her2-positive"]),
        ("crc-ihc3-positive-pertuzumab-trastuzumab-sign", []),
        ("gastric-ihc3-lapatinib-select", ["failed-agent-gastric"]),
        ("crc-her2-low-tdxd-sign", ["tdxd-her2-low-crc"]),
        ("crc-ras-mutant-dual-blockade-sign", ["ras-mutant-dual-blockade"]),
        ("gastric-no-her2-test-oxaliplatin-sign", []),
        ("crc-no-her2-test-trastuzumab-sign", ["her2-drug-without-positive"]),  # decision 6.26
        ("gastric-after-trastuzumab-pertuzumab-select", ["failed-agent-gastric"]),
        # issue #15: each warning and its twin that stays silent
        ("crc-ihc1-ish-amplified-tdxd-sign", ["tdxd-her2-low-crc"]),
        ("crc-ihc0-ish-amplified-tdxd-sign", ["tdxd-outside-evidence"]),
        ("crc-plasma-amplified-tdxd-sign", ["tdxd-outside-evidence"]),
        ("crc-ihc3-positive-tdxd-sign", []),
        ("gastric-ihc3-tdxd-sign", ["tdxd-outside-evidence"]),
        ("gastric-after-trastuzumab-tdxd-sign", []),
        ("gastric-retest-plasma-amplified-tdxd-sign", []),
        ("crc-ihc3-positive-trastuzumab-sign", ["trastuzumab-single-agent-crc"]),
        ("gastric-no-her2-test-flot-sign", []),
        ("gastric-no-her2-test-docetaxel-sign", []),
    ],
)
def test_order_fixtures(client, name, expected):
    code, body = call(client, load_request(name))
    assert code == 200 and codes(body["cards"]) == expected
    for card in warnings(body["cards"]):  # decision 6.3: every T-DXd warning carries the safety note
        assert ("myelosuppression" in card["detail"]) is ("Enhertu" in card["detail"])
    request = load_request(name)
    for card in warnings(body["cards"]):
        ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in request["context"]["draftOrders"]["entry"]}
        assert set(delete_targets(card)) <= ids


@pytest.mark.parametrize("name, tests", [
    ("gastric-no-her2-test-flot-sign", ["gc.order-test.her2-test-before-chemotherapy"]),  # 6.4
    ("gastric-no-her2-test-docetaxel-sign", ["gc.order-test.her2-test-before-chemotherapy"]),
    ("gastric-after-trastuzumab-tdxd-sign", ["gc.order-test.retest-before-her2-therapy"]),  # 6.5: no re-test on file
    ("gastric-retest-plasma-amplified-tdxd-sign", []),  # 6.5: the plasma re-test is on file
])
def test_order_fixture_tests(client, name, tests):
    cards = call(client, load_request(name))[1]["cards"]
    assert [rules(c)[0] for c in by_topic(cards, "her2-testing")] == tests


# ---------------------------------------------------------------- rule ids of each warning and test
def warning_rules(cards):
    return [rules(c) for c in warnings(cards)]


@pytest.mark.parametrize("text, rule_id", [
    ("Tykerb", "gc.warning.lapatinib-failed"),
    ("Perjeta", "gc.warning.pertuzumab-failed"),
    ("Kadcyla", "gc.warning.t-dm1-failed"),
    ("trastuzumab high-dose loading", "gc.warning.high-dose-trastuzumab-failed"),
])
def test_each_failed_gastric_agent_has_its_rule(client, text, rule_id):
    cards = run(client, "order-sign", [b.patient(P), b.gastric(P), b.ihc(P, "3+")], [b.draft_order(P, text, mid="d")])
    assert warning_rules(cards) == [[rule_id]]


@pytest.mark.parametrize("order, expected", [
    ("Ogivri", [["gc.warning.trastuzumab-beyond-progression-failed", "gc.definition.trastuzumab-courses-ended"]]),
    ("trastuzumab high-dose", [["gc.warning.high-dose-trastuzumab-failed"]]),  # high dose wins over beyond progression
])
def test_beyond_progression_unless_high_dose(client, order, expected):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+", date="2024-06-01"),
                 b.medication(P, "trastuzumab", "224905", status="completed", date="2024-01-01")]
    assert warning_rules(run(client, "order-sign", resources, [b.draft_order(P, order, mid="t")])) == expected


def test_trastuzumab_course_still_active_is_not_beyond_progression(client):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+", date="2024-06-01"),
                 b.medication(P, "trastuzumab", "224905", status="active", date="2024-01-01")]
    assert warnings(run(client, "order-sign", resources, [b.draft_order(P, "Ogivri", mid="t")])) == []


@pytest.mark.parametrize("history, rule_id, indicator", [
    ((FOLFOX,), "crc.warning.anti-egfr-later-line", "warning"),
    ((), "crc.warning.anti-egfr-first-line", "info"),
])
@pytest.mark.parametrize("drug", ["cetuximab", "Vectibix"])
def test_anti_egfr_rule_by_line_for_each_antibody(client, history, rule_id, indicator, drug):
    cards = run(client, "order-sign", crc_positive(history), [b.draft_order(P, drug, mid="a")])
    [w] = warnings(cards)
    assert rules(w) == [rule_id] and w["indicator"] == indicator


@pytest.mark.parametrize("tumour, score, expected", [
    ("crc", "1+", [["crc.warning.tdxd-her2-low", "crc.definition.her2-low", "common.safety.tdxd-ild"]]),  # replaces the generic one
    ("crc", "0", [["common.warning.her2-drug-without-positive", "common.settling-test.none", "common.safety.tdxd-ild"]]),
    ("gastric", "1+", [["gc.warning.tdxd-without-prior-trastuzumab", "common.safety.tdxd-ild"],
                       ["common.warning.her2-drug-without-positive", "common.settling-test.none", "common.safety.tdxd-ild"]]),
])
def test_tdxd_exception_to_the_generic_her2_warning(client, tumour, score, expected):
    condition = b.crc(P) if tumour == "crc" else b.gastric(P)
    cards = run(client, "order-sign", [b.patient(P), condition, b.ihc(P, score)], [b.draft_order(P, "Enhertu", mid="x")])
    assert warning_rules(cards) == expected


@pytest.mark.parametrize("results, settling, tests", [
    ([b.ihc(P, "2+", 40)], "common.settling-test.equivocal", ["49683-6"]),
    ([], "common.settling-test.no-tissue-result", ["18474-7", "49683-6"]),
    ([b.ish(P, 1.2)], "common.settling-test.no-ihc", ["18474-7"]),
    ([b.ihc(P, "0")], "common.settling-test.none", []),
])
def test_settling_test_ladder(client, results, settling, tests):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P), *results], [b.draft_order(P, "Herceptin", mid="h")])
    w = of_code(cards, "her2-drug-without-positive")
    assert rules(w) == ["common.warning.her2-drug-without-positive", settling]
    assert [a["resource"]["code"]["coding"][0]["code"] for s in w["suggestions"] for a in s["actions"] if a["type"] == "create"] == tests


def test_settling_test_after_trastuzumab_in_gastric_cancer(client):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "1+", date="2023-01-01"),
                 b.medication(P, "trastuzumab", "224905", status="active", date="2023-02-01")]
    [w] = warnings(run(client, "order-sign", resources, [b.draft_order(P, "Enhertu", mid="x")]))
    assert rules(w)[:2] == ["common.warning.her2-drug-without-positive", "gc.settling-test.predates-trastuzumab"]


@pytest.mark.parametrize("orders, history, warn", [
    ([b.draft_order(P, "Perjeta", mid="p")], (), False),  # one HER2 agent
    ([b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, "Herceptin", mid="t")], (), True),
    ([b.draft_order(P, "Phesgo", mid="ph")], (), True),  # one product, two agents
    ([b.draft_order(P, "Perjeta", mid="p")], (b.medication(P, "trastuzumab", "224905", status="active", date="2026-10-01"),), True),
    ([b.draft_order(P, "Perjeta", mid="p")], (b.medication(P, "trastuzumab", "224905", status="completed", date="2026-10-01"),), False),
])
def test_dual_blockade_needs_two_her2_agents_in_use(client, orders, history, warn):
    resources = crc_positive() + [b.variant(P, "KRAS", "p.G12D", origin="tissue"), *history]
    cards = run(client, "order-sign", resources, orders)
    assert ("crc.warning.ras-mutant-dual-blockade" in {r for ids in warning_rules(cards) for r in ids}) is warn


@pytest.mark.parametrize("resources, orders, tests", [
    ([b.gastric(P)], [b.draft_order(P, "oxaliplatin", "32592", mid="o")], ["gc.order-test.her2-test-before-chemotherapy"]),
    ([b.gastric(P)], [b.draft_order(P, "oxaliplatin", "32592", mid="o"), b.test_order(P, "18474-7", "HER2 IHC")], []),
    ([b.crc(P), b.ihc(P, "2+", 40)], [b.draft_order(P, "oxaliplatin", "32592", mid="o")], ["crc.order-test.reflex-ish"]),
    ([b.crc(P), b.ihc(P, "2+", 40)], [b.draft_order(P, "oxaliplatin", "32592", mid="o"), b.test_order(P, "49683-6", "HER2 FISH")], []),
    ([b.gastric(P), b.ihc(P, "3+", date="2023-01-01"), b.medication(P, "trastuzumab", "224905", date="2023-02-01")],
     [b.draft_order(P, "Enhertu", mid="x")], ["gc.order-test.retest-before-her2-therapy"]),
])
def test_order_test_rules(client, resources, orders, tests):
    cards = run(client, "order-sign", [b.patient(P), *resources], orders)
    assert [rules(c)[0] for c in by_topic(cards, "her2-testing")] == tests


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled", "revoked", "completed", "stopped"])
def test_draft_orders_with_a_closed_status_are_not_spoken_about(client, status):
    order = b.draft_order(P, "cetuximab", "318341", mid="cx")
    order["status"] = status
    assert run(client, "order-sign", crc_positive(), [order]) == []


def test_two_failed_agents_give_two_cards(client):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+")]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "Tykerb", mid="l"), b.draft_order(P, "Kadcyla", mid="k")])
    assert warning_rules(cards) == [["gc.warning.lapatinib-failed"], ["gc.warning.t-dm1-failed"]]
    assert [delete_targets(w) for w in warnings(cards)] == [["MedicationRequest/l"], ["MedicationRequest/k"]]


def test_one_order_failing_twice_is_one_card_naming_both_rules(client):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+", date="2024-06-01"),
                 b.medication(P, "trastuzumab", "224905", status="completed", date="2024-01-01")]
    [w] = warnings(run(client, "order-sign", resources, [b.draft_order(P, "Phesgo", mid="ph")]))
    assert rules(w)[0] == "gc.warning.pertuzumab-failed"
    assert "gc.warning.trastuzumab-beyond-progression-failed" in rules(w)


def test_identical_orders_are_merged_in_every_warning_they_fire(client):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "0")]
    cards = run(client, "order-sign", resources, [b.draft_order(P, "Kadcyla", mid="k1"), b.draft_order(P, "Kadcyla", mid="k2")])
    assert warning_rules(cards) == [["gc.warning.t-dm1-failed"], ["common.warning.her2-drug-without-positive", "common.settling-test.none"]]
    assert [delete_targets(w) for w in warnings(cards)] == [["MedicationRequest/k1", "MedicationRequest/k2"]] * 2


def test_warning_detail_names_the_drug_and_the_status(client):
    [w] = warnings(run(client, "order-sign", [b.patient(P), b.gastric(P), b.ihc(P, "1+")], [b.draft_order(P, "Herceptin", mid="h")]))
    assert "Trastuzumab ordered; HER2 status for gastric cancer is **low** (no positive criterion met)." in w["detail"]


def test_draft_orders_are_read_past_entries_that_do_not_count(client):
    closed = b.draft_order(P, "cetuximab", "318341", mid="closed")
    closed["status"] = "completed"
    unselected = b.draft_order(P, "oxaliplatin", "32592", mid="other")
    entries = [{"resource": "not a resource"}, {"resource": {"resourceType": "Observation", "id": "o"}},
               {"resource": closed}, {"resource": unselected}, {"resource": b.draft_order(P, "cetuximab", "318341", mid="cx")}]
    request = b.hook_request("order-select", P, crc_positive(), [], ["MedicationRequest/cx"])
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    code, body = call(client, request)
    assert code == 200 and [delete_targets(w) for w in warnings(body["cards"])] == [["MedicationRequest/cx"]]


def test_order_sign_speaks_about_every_order_even_with_selections(client):
    orders = [b.draft_order(P, "oxaliplatin", "32592", mid="ox"), b.draft_order(P, "cetuximab", "318341", mid="cx")]
    request = b.hook_request("order-sign", P, crc_positive(), orders)
    request["context"]["selections"] = ["MedicationRequest/ox"]
    code, body = call(client, request)
    assert code == 200 and codes(body["cards"]) == ["anti-egfr-her2-positive"]


def test_a_draft_order_without_id_or_not_quite_valid_is_read_as_far_as_possible(client):
    order = b.draft_order(P, "cetuximab", "318341")
    del order["id"]
    order["authoredOn"] = "yesterday"
    request = b.hook_request("order-sign", P, crc_positive(), [])
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    code, body = call(client, request)
    assert code == 200
    [w] = warnings(body["cards"])
    assert delete_targets(w) == ["MedicationRequest/?"]
    notes = [line for line in by_topic(body["cards"], "her2-status")[0]["detail"].splitlines() if "MedicationRequest/?" in line]
    assert notes and all(line.endswith("; read as far as possible") for line in notes)


def test_a_closed_order_before_an_open_one_does_not_hide_it(client):
    closed = b.draft_order(P, "cetuximab", "318341", mid="closed")
    closed["status"] = "stopped"
    cards = run(client, "order-sign", crc_positive(), [closed, b.draft_order(P, "cetuximab", "318341", mid="open")])
    assert [delete_targets(w) for w in warnings(cards)] == [["MedicationRequest/open"]]


def test_selections_only_narrow_order_select(knowledge):
    from cds_service.fhir_read import parse_resources
    from cds_service.medications import DrugMatcher
    from cds_service.orders import read_draft_orders

    orders = [b.draft_order(P, "oxaliplatin", "32592", mid="ox"), b.draft_order(P, "cetuximab", "318341", mid="cx")]
    context = {"draftOrders": b.collection(orders), "selections": ["MedicationRequest/ox"]}
    read = lambda selected_only: [u.ref for u in read_draft_orders(  # noqa: E731
        context, selected_only, parse_resources([]), DrugMatcher(knowledge), knowledge).medications]
    assert read(True) == ["MedicationRequest/ox"]
    assert read(False) == ["MedicationRequest/ox", "MedicationRequest/cx"]


@pytest.mark.parametrize("results, words", [([b.ihc(P, "1+")], "(IHC 1+)"), ([b.ihc(P, "2+"), b.ish(P, 1.4)], "(IHC 2+, ISH ratio 1.4)")])
def test_tdxd_her2_low_warning_states_the_results(client, results, words):
    [w] = warnings(run(client, "order-sign", [b.patient(P), b.crc(P), *results], [b.draft_order(P, "Enhertu", mid="x")]))
    assert f"Trastuzumab deruxtecan ordered; HER2 status is **low** {words}." in w["detail"]


# ---------------------------------------------------------------- issue #15 (clinical-rules.md section 6)
ENHERTU = "Enhertu 100 MG Injection"
RAS_WT = (b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False))


def created_codes(card):
    return [a["resource"]["code"]["coding"][0]["code"] for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "create"]


@pytest.mark.parametrize("results, rule_id, code, tests", [
    ([b.ihc(P, "1+")], "crc.warning.tdxd-her2-low", "tdxd-her2-low-crc", []),
    ([b.ihc(P, "1+"), b.ish(P, 2.3)], "crc.warning.tdxd-her2-low", "tdxd-her2-low-crc", []),  # positive by TRIUMPH, IHC 1+
    ([b.ihc(P, "2+", 40), b.ish(P, 1.5)], "crc.warning.tdxd-her2-low", "tdxd-her2-low-crc", []),
    ([b.ihc(P, "1+"), b.erbb2_cn(P, True, 20), *RAS_WT], "crc.warning.tdxd-her2-low", "tdxd-her2-low-crc", []),  # low wins
    ([b.ihc(P, "0"), b.ish(P, 2.5)], "crc.warning.tdxd-outside-evidence-tissue", "tdxd-outside-evidence", []),
    ([b.ish(P, 2.3)], "crc.warning.tdxd-outside-evidence-tissue", "tdxd-outside-evidence", ["18474-7"]),
    ([b.ihc(P, "indeterminate"), b.ish(P, 2.3)], "crc.warning.tdxd-outside-evidence-tissue", "tdxd-outside-evidence", []),
    ([b.erbb2_cn(P, True, 20), *RAS_WT], "crc.warning.tdxd-plasma-only", "tdxd-outside-evidence", ["18474-7", "49683-6"]),
    ([b.ihc(P, "0"), b.erbb2_cn(P, True, 20), *RAS_WT], "crc.warning.tdxd-plasma-only", "tdxd-outside-evidence", []),
])
def test_6_1_tdxd_orders_outside_destiny_crc01_are_warned_with_the_safety_note(client, results, rule_id, code, tests):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P), *results], [b.draft_order(P, ENHERTU, mid="x")])
    [w] = warnings(cards)
    assert rules(w)[0] == rule_id and codes(cards) == [code]
    assert "common.safety.tdxd-ild" in rules(w) and "myelosuppression" in w["detail"] and "10%" in w["detail"]
    assert created_codes(w) == tests and delete_targets(w) == ["MedicationRequest/x"]


@pytest.mark.parametrize("results", [
    [b.ihc(P, "3+", 80)],
    [b.ihc(P, "2+", 60), b.ish(P, 2.5)],
    [b.ihc(P, "3+", 80), b.erbb2_cn(P, True, 20), *RAS_WT],  # tissue and plasma positive
])
def test_6_1_twins_tdxd_in_destiny_crc01_population_stays_silent(client, results):
    assert warnings(run(client, "order-sign", [b.patient(P), b.crc(P), *results], [b.draft_order(P, ENHERTU, mid="x")])) == []


@pytest.mark.parametrize("history, warned", [
    ((), True),
    ((b.medication(P, "oxaliplatin", "32592", date="2023-02-01"),), True),
    ((b.medication(P, "trastuzumab", "224905", status="not-taken", date="2023-02-01", rtype="MedicationStatement"),), True),
    ((b.medication(P, "trastuzumab", "224905", date="2023-02-01"),), False),  # twin: after a trastuzumab-containing regimen
    ((b.medication(P, "Herceptin", date="2023-02-01"), b.medication(P, "cisplatin", "2555", date="2023-02-01")), False),
])
def test_6_3_gastric_tdxd_without_a_trastuzumab_regimen_is_warned(client, history, warned):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+", date="2024-06-01"), *history]
    cards = run(client, "order-sign", resources, [b.draft_order(P, ENHERTU, mid="x")])
    got = [w for w in warnings(cards) if "gc.warning.tdxd-without-prior-trastuzumab" in rules(w)]
    assert bool(got) is warned
    if warned:
        assert codes(cards) == ["tdxd-outside-evidence"]
        assert "common.safety.tdxd-ild" in rules(got[0]) and "myelosuppression" in got[0]["detail"]
        assert "after failure with a trastuzumab-containing regimen" in got[0]["detail"]


@pytest.mark.parametrize("order", [
    "docetaxel 20 MG/ML Injection", "Taxotere", "S-1", "TS-1 25 mg capsule", "FLOT", "FLOT4", "SOX", "XELOX", "CAPOX",
    "FOLFOX", "mFOLFOX6", "paclitaxel", "capecitabine", "cisplatin", "oxaliplatin", "5-FU", "fluorouracil", "irinotecan",
])
def test_6_4_any_gastric_chemotherapy_prompts_her2_testing(client, order):
    cards = run(client, "order-sign", [b.patient(P), b.gastric(P), b.liver_mets(P)], [b.draft_order(P, order, mid="c")])
    [test] = by_topic(cards, "her2-testing")
    assert rules(test)[0] == "gc.order-test.her2-test-before-chemotherapy" and test["indicator"] == "warning"
    assert created_codes(test) == ["18474-7", "49683-6"]


@pytest.mark.parametrize("resources, orders", [
    ([b.gastric(P), b.ihc(P, "0")], [b.draft_order(P, "FLOT", mid="c")]),  # a HER2 result is on file
    ([b.gastric(P)], [b.draft_order(P, "docetaxel", mid="c"), b.test_order(P, "18474-7", "HER2 IHC")]),  # test ordered
    ([b.crc(P), b.ihc(P, "0")], [b.draft_order(P, "S-1", mid="c")]),  # colorectal: no gastric prompt
])
def test_6_4_twins_no_prompt(client, resources, orders):
    assert by_topic(run(client, "order-sign", [b.patient(P), *resources], orders), "her2-testing") == []


@pytest.mark.parametrize("plasma, tests", [
    (b.erbb2_cn(P, True, 20, date="2024-05-01"), []),
    (b.erbb2_cn(P, False, date="2024-05-01"), ["gc.order-test.tissue-retest-before-her2-therapy"]),
    (None, ["gc.order-test.retest-before-her2-therapy"]),
])
def test_6_5_order_hook_asks_no_retest_the_patient_already_had(client, plasma, tests):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+", date="2023-01-01"), *([plasma] if plasma else []),
                 b.medication(P, "trastuzumab", "224905", status="completed", date="2023-02-01")]
    cards = run(client, "order-sign", resources, [b.draft_order(P, ENHERTU, mid="x")])
    assert [rules(c)[0] for c in by_topic(cards, "her2-testing")] == tests
    assert warnings(cards) == []  # T-DXd after trastuzumab, HER2-positive: no warning


@pytest.mark.parametrize("orders, history, warned", [
    ([b.draft_order(P, "Herceptin", mid="t")], (), True),
    ([b.draft_order(P, "trastuzumab", "224905", mid="t")], (b.medication(P, "pertuzumab", "1298944", status="completed"),), True),
    ([b.draft_order(P, "Herceptin", mid="t"), b.draft_order(P, "Perjeta", mid="p")], (), False),
    ([b.draft_order(P, "Phesgo", mid="ph")], (), False),
    ([b.draft_order(P, "Herceptin", mid="t"), b.draft_order(P, "Tukysa", mid="tu")], (), False),
    ([b.draft_order(P, "Herceptin", mid="t"), b.draft_order(P, "lapatinib", "480167", mid="l")], (), False),
    ([b.draft_order(P, "Herceptin", mid="t"), b.draft_order(P, "pyrotinib", mid="py")], (), False),
    ([b.draft_order(P, "Herceptin", mid="t")], (b.medication(P, "pertuzumab", "1298944", status="active"),), False),
    ([b.draft_order(P, ENHERTU, mid="x")], (), False),  # T-DXd is an antibody-drug conjugate, not trastuzumab alone
])
def test_6_9_single_agent_trastuzumab_in_crc(client, orders, history, warned):
    cards = run(client, "order-sign", crc_positive(history=(FOLFOX, *history)), orders)
    got = [w for w in warnings(cards) if w["extension"]["her2cds"]["warning"] == "trastuzumab-single-agent-crc"]
    assert bool(got) is warned
    if warned:
        assert rules(got[0]) == ["crc.warning.her2-agent-without-partner"]
        assert "no preclinical signal for HER2 targeting with single-agent trastuzumab" in got[0]["detail"]


def test_6_9_single_agent_trastuzumab_in_gastric_cancer_is_not_this_warning(client):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+")]
    assert "trastuzumab-single-agent-crc" not in codes(run(client, "order-sign", resources, [b.draft_order(P, "Herceptin", mid="t")]))


def test_6_10_warning_names_the_drug_not_the_record(client):
    cards = run(client, "order-sign", crc_positive(), [b.draft_order(P, "cetuximab 2 MG/ML Injectable Solution", "1657589", mid="cx")])
    [w] = warnings(cards)
    assert "Order(s): cetuximab 2 MG/ML Injectable Solution" in w["detail"] and "MedicationRequest/" not in w["detail"]
    assert [s["label"] for s in w["suggestions"]] == ["Remove the draft order: cetuximab 2 MG/ML Injectable Solution"]
    assert "(tissue; HERACLES, TRIUMPH tissue, harmonized 10% criterion)" in w["detail"]


@pytest.mark.parametrize("condition, shown, hidden", [
    (b.crc, "HER2-targeted therapy in colorectal cancer was tested", "In gastric cancer, ToGA"),
    (b.gastric, "In gastric cancer, ToGA", "HER2-targeted therapy in colorectal cancer was tested"),
])
def test_6_10_generic_warning_cites_the_evidence_of_its_tumour_type_and_names_the_status(client, condition, shown, hidden):
    cards = run(client, "order-sign", [b.patient(P), condition(P)], [b.draft_order(P, "Kadcyla", mid="k")])
    w = of_code(cards, "her2-drug-without-positive")
    assert shown in w["detail"] and hidden not in w["detail"]
    assert "is **not tested** (no positive criterion met)" in w["detail"]
    assert "0/1+" not in w["detail"] and "despite" not in w["detail"]  # W7: ToGA is not "not for IHC 0/1+"


@pytest.mark.parametrize("orders", [
    [b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, ENHERTU, mid="x")],
    [b.draft_order(P, ENHERTU, mid="x"), b.draft_order(P, "Perjeta", mid="p")],
])
def test_6_8_a_warning_grouping_several_orders_keeps_the_safety_note_of_each(client, orders):
    resources = crc_positive() + [b.variant(P, "KRAS", "p.G12D", origin="tissue")]
    w = of_code(run(client, "order-sign", resources, orders), "ras-mutant-dual-blockade")
    assert sorted(delete_targets(w)) == ["MedicationRequest/p", "MedicationRequest/x"]
    assert rules(w).count("common.safety.tdxd-ild") == 1 and w["detail"].count("myelosuppression") == 1


def test_6_8_safety_notes_keep_to_their_tumour_type(client):
    # one order naming pembrolizumab and trastuzumab in CRC: the single-agent warning, without KEYNOTE-811's note
    cards = run(client, "order-sign", crc_positive(), [b.draft_order(P, "pembrolizumab and trastuzumab", mid="pt")])
    w = of_code(cards, "trastuzumab-single-agent-crc")
    assert "gc.safety.pembrolizumab-immune" not in rules(w) and "pneumonitis" not in w["detail"]


# ---------------------------------------------------------------- review of issue #15 (integrator's triage)
LONE = "crc.warning.her2-agent-without-partner"


@pytest.mark.parametrize("orders, history, warned", [
    # S1: CRC review §1 "no preclinical biological signal ... single-agent trastuzumab or tyrosine kinase
    # inhibitors (TKIs)"; §6 "no benefit with monotherapy with anti-HER2 antibodies (pertuzumab) or TKI (lapatinib)"
    ([b.draft_order(P, "lapatinib", "480167", mid="l")], (), True),
    ([b.draft_order(P, "Tukysa", mid="tu")], (), True),
    ([b.draft_order(P, "neratinib", mid="n")], (), True),
    ([b.draft_order(P, "pyrotinib", mid="py")], (), True),
    ([b.draft_order(P, "Perjeta", mid="p")], (), True),
    ([b.draft_order(P, "lapatinib", "480167", mid="l"), b.draft_order(P, "Tukysa", mid="tu")], (), True),  # two TKIs, no antibody
    ([b.draft_order(P, "Tukysa", mid="tu")], (b.medication(P, "trastuzumab", "224905", status="completed"),), True),
    # twins: a partner among the draft orders or active medications
    ([b.draft_order(P, "lapatinib", "480167", mid="l"), b.draft_order(P, "Herceptin", mid="t")], (), False),
    ([b.draft_order(P, "Tukysa", mid="tu")], (b.medication(P, "trastuzumab", "224905", status="active"),), False),
    ([b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, "Kadcyla", mid="k")], (), False),  # HERACLES-B
    ([b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, "lapatinib", "480167", mid="l")], (), False),  # §6 combination
    ([b.draft_order(P, "Kadcyla", mid="k")], (), False),  # T-DM1 alone: the source is silent
    ([b.draft_order(P, ENHERTU, mid="x")], (), False),  # T-DXd alone: DESTINY-CRC01's regimen
])
def test_s1_lone_her2_antibody_or_tki_in_crc(client, orders, history, warned):
    cards = run(client, "order-sign", crc_positive(history=(FOLFOX, *history)), orders)
    got = [w for w in warnings(cards) if LONE in rules(w)]
    assert bool(got) is warned
    if warned:
        assert {w["extension"]["her2cds"]["warning"] for w in got} == {"trastuzumab-single-agent-crc"}
        assert sorted(t for w in got for t in delete_targets(w)) == sorted(f"MedicationRequest/{o['id']}" for o in orders)


@pytest.mark.parametrize("results, status_positive", [
    # N2 (decision 6.26): the single-agent evidence is about HER2-amplified mCRC (CRC review §1): the rule is for a
    # HER2-positive status; otherwise the without-positive warning alone speaks (one card suggesting removal)
    ([b.ihc(P, "3+", 80)], True),
    ([b.ihc(P, "2+", 60), b.ish(P, 2.5)], True),
    ([b.erbb2_cn(P, True, 20), *RAS_WT], True),  # plasma-only positive: a lone TKI forms no regimen (6.25)
    ([], False),
    ([b.ihc(P, "0")], False),
    ([b.ihc(P, "1+")], False),
    ([b.ihc(P, "2+", 60)], False),
    ([b.ihc(P, "2+", 60), b.ish(P, 1.5)], False),
])
@pytest.mark.parametrize("order", [
    b.draft_order(P, "Herceptin", mid="t"), b.draft_order(P, "lapatinib", "480167", mid="t"), b.draft_order(P, "Tukysa", mid="t"),
])
def test_n2_lone_her2_agent_one_warning_by_status(client, results, status_positive, order):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P), *results, FOLFOX], [order])
    expected = ["trastuzumab-single-agent-crc"] if status_positive else ["her2-drug-without-positive"]
    assert codes(cards) == expected
    assert any(LONE in rules(w) for w in warnings(cards)) is status_positive


def test_n3_single_agent_card_names_every_partner_the_rule_accepts(client):
    # N3 (decision 6.30): the partners of decision 6.12, pyrotinib and neratinib included (CRC review §4:
    # "TKIs including lapatinib, pyrotinib, neratinib, and tucatinib"), rendered from the rule's own lists
    w = of_code(run(client, "order-sign", crc_positive(history=(FOLFOX,)), [b.draft_order(P, "Herceptin", mid="t")]),
                "trastuzumab-single-agent-crc")
    assert "trastuzumab with one of: pertuzumab, lapatinib, tucatinib, pyrotinib, neratinib;" in w["detail"]
    assert "pertuzumab with one of: lapatinib, trastuzumab emtansine)" in w["detail"]
    for partner in ("pyrotinib", "neratinib"):  # each named partner silences the warning (twin)
        cards = run(client, "order-sign", crc_positive(history=(FOLFOX,)),
                    [b.draft_order(P, "Herceptin", mid="t"), b.draft_order(P, partner, mid="p")])
        assert "trastuzumab-single-agent-crc" not in codes(cards)


def test_s1_lone_tki_in_gastric_cancer_is_not_this_warning(client):
    cards = run(client, "order-sign", [b.patient(P), b.gastric(P), b.ihc(P, "3+")], [b.draft_order(P, "Tukysa", mid="tu")])
    assert "trastuzumab-single-agent-crc" not in codes(cards)


@pytest.mark.parametrize("orders, ilds", [
    # S2: every warning on T-DXd orders carries the T-DXd safety statement (decision 6.3/6.8), a test card too
    ([b.draft_order(P, ENHERTU, mid="x")], 1),
    ([b.draft_order(P, ENHERTU, mid="x"), b.draft_order(P, "FOLFOX", mid="f")], 1),
    ([b.draft_order(P, "Kadcyla", mid="k")], 0),  # twin: no T-DXd ordered
])
@pytest.mark.parametrize("plasma, rule_id", [
    (None, "gc.order-test.retest-before-her2-therapy"),
    (b.erbb2_cn(P, False, date="2024-05-01"), "gc.order-test.tissue-retest-before-her2-therapy"),
])
def test_s2_order_test_cards_carry_their_code_and_the_safety_note_of_the_drugs_ordered(client, orders, ilds, plasma, rule_id):
    resources = [b.patient(P), b.gastric(P), b.ihc(P, "3+", date="2023-01-01"), *([plasma] if plasma else []),
                 b.medication(P, "trastuzumab", "224905", status="completed", date="2023-02-01")]
    [test] = by_topic(run(client, "order-sign", resources, orders), "her2-testing")
    assert rules(test)[0] == rule_id and test["indicator"] == "warning"
    assert test["extension"]["her2cds"]["warning"] == "her2-test-due"
    assert rules(test).count("common.safety.tdxd-ild") == ilds
    assert test["detail"].count("myelosuppression") == ilds and test["detail"].count("10%") == ilds


def test_s2_gastric_chemotherapy_test_prompt_has_its_code_and_no_safety_note(client):
    cards = run(client, "order-sign", [b.patient(P), b.gastric(P), b.liver_mets(P)], [b.draft_order(P, "FLOT", mid="c")])
    [test] = by_topic(cards, "her2-testing")
    assert test["extension"]["her2cds"]["warning"] == "her2-test-due"
    assert [r for r in rules(test) if ".safety." in r] == []


def test_s2_every_warning_card_of_every_fixture_has_its_code_and_every_tdxd_order_its_safety_note(client):
    for path in sorted((FIXTURES / "requests").glob("*.json")):
        request = json.loads(path.read_text())
        code, body = call(client, request)
        assert code == 200, path.name
        tdxd_ordered = "deruxtecan" in json.dumps(request.get("context", {}).get("draftOrders", {})).lower() \
            or "enhertu" in json.dumps(request.get("context", {}).get("draftOrders", {})).lower()
        for card in body["cards"]:
            if card["indicator"] != "warning":
                continue
            assert card["extension"]["her2cds"].get("warning"), (path.name, card["summary"])
            if tdxd_ordered and request["hook"] in ("order-sign", "order-select") and "gastric" not in card["summary"].lower() \
                    and card["source"]["topic"]["code"] in ("order-warning", "her2-testing"):
                assert "common.safety.tdxd-ild" in rules(card), (path.name, card["summary"])


PLASMA_ONLY = [b.erbb2_cn(P, True, 20), *RAS_WT]
REGIMEN = "crc.warning.plasma-only-regimen"


@pytest.mark.parametrize("orders, rule_id, code", [
    # S3: TRIUMPH's ctDNA-positive cohort (pertuzumab + trastuzumab) is the only ctDNA-selected one in the CRC review
    ([b.draft_order(P, "Tukysa", mid="tu"), b.draft_order(P, "Herceptin", mid="t")], REGIMEN, "her2-regimen-outside-evidence"),
    ([b.draft_order(P, "lapatinib", "480167", mid="l"), b.draft_order(P, "Herceptin", mid="t")], REGIMEN, "her2-regimen-outside-evidence"),
    ([b.draft_order(P, "Kadcyla", mid="k"), b.draft_order(P, "Perjeta", mid="p")], REGIMEN, "her2-regimen-outside-evidence"),
    ([b.draft_order(P, ENHERTU, mid="x")], "crc.warning.tdxd-plasma-only", "tdxd-outside-evidence"),
])
def test_s3_plasma_only_crc_regimens_outside_the_ctdna_evidence_are_warned(client, orders, rule_id, code):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P), *PLASMA_ONLY], orders)
    [w] = warnings(cards)
    assert rules(w)[0] == rule_id and codes(cards) == [code]
    assert sorted(delete_targets(w)) == sorted(f"MedicationRequest/{o['id']}" for o in orders)
    assert created_codes(w) == ["18474-7", "49683-6"]
    assert "the only ctDNA-selected cohort in the source is TRIUMPH's (pertuzumab + trastuzumab)".lower() in w["detail"].lower()


@pytest.mark.parametrize("resources, orders", [
    (PLASMA_ONLY, [b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, "Herceptin", mid="t")]),  # TRIUMPH's regimen
    (PLASMA_ONLY, [b.draft_order(P, "Phesgo", mid="ph")]),
    ([b.ihc(P, "3+", 80), *PLASMA_ONLY], [b.draft_order(P, "Tukysa", mid="tu"), b.draft_order(P, "Herceptin", mid="t")]),  # tissue too
    ([b.ihc(P, "3+", 80)], [b.draft_order(P, "lapatinib", "480167", mid="l"), b.draft_order(P, "Herceptin", mid="t")]),
])
def test_s3_twins_ctdna_regimen_or_tissue_positive_stay_silent(client, resources, orders):
    assert warnings(run(client, "order-sign", [b.patient(P), b.crc(P), *resources], orders)) == []


@pytest.mark.parametrize("orders, history, trial, population", [
    # N1 (decision 6.25): each regimen cites its own trial's population (CRC review §4)
    ([b.draft_order(P, "lapatinib", "480167", mid="l"), b.draft_order(P, "Herceptin", mid="t")], (), "HERACLES (trastuzumab + lapatinib)",
     "KRAS exon 2 wild-type and HER2-amplified mCRC"),
    ([b.draft_order(P, "Tukysa", mid="tu")], (b.medication(P, "trastuzumab", "224905", status="active"),),
     "MOUNTAINEER (tucatinib + trastuzumab)", "RAS wild-type and HER2-amplified mCRC"),
    ([b.draft_order(P, "Herceptin", mid="t")], (b.medication(P, "tucatinib", status="active"),), "MOUNTAINEER (tucatinib + trastuzumab)",
     "RAS wild-type and HER2-amplified mCRC"),
    ([b.draft_order(P, "Kadcyla", mid="k"), b.draft_order(P, "Perjeta", mid="p")], (), "HERACLES-B (pertuzumab + T-DM1)",
     "RAS/BRAF wild-type and HER2-amplified mCRC refractory to standard treatments"),
])
def test_n1_plasma_only_regimen_cites_its_own_trial(client, orders, history, trial, population):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P), *PLASMA_ONLY, *history], orders)
    [w] = [w for w in warnings(cards) if REGIMEN in rules(w)]
    assert trial in w["detail"] and population in w["detail"]
    others = {"HERACLES (trastuzumab + lapatinib)", "MOUNTAINEER (tucatinib + trastuzumab)", "HERACLES-B (pertuzumab + T-DM1)"} - {trial}
    assert not any(o in w["detail"] for o in others)


@pytest.mark.parametrize("orders, history, codes_expected", [
    # N1 (decision 6.25): a lone lapatinib, tucatinib or T-DM1 forms no regimen: not this warning
    # (a lone TKI is the single-agent warning, decision 6.12; T-DM1 alone: the source is silent)
    ([b.draft_order(P, "lapatinib", "480167", mid="l")], (), ["trastuzumab-single-agent-crc"]),
    ([b.draft_order(P, "Tukysa", mid="tu")], (), ["trastuzumab-single-agent-crc"]),
    ([b.draft_order(P, "Kadcyla", mid="k")], (), []),
    ([b.draft_order(P, "Tukysa", mid="tu")], (b.medication(P, "trastuzumab", "224905", status="completed"),),
     ["trastuzumab-single-agent-crc"]),
    ([b.draft_order(P, "Kadcyla", mid="k")], (b.medication(P, "pertuzumab", "1298944", status="completed"),), []),
    # pertuzumab ordered beside an active trastuzumab + lapatinib forms TRIUMPH's regimen, not HERACLES's
    ([b.draft_order(P, "Perjeta", mid="p")], (b.medication(P, "trastuzumab", "224905", status="active"),
                                              b.medication(P, "lapatinib", "480167", status="active")), []),
    # twins: the partner active or ordered forms the regimen
    ([b.draft_order(P, "Kadcyla", mid="k")], (b.medication(P, "pertuzumab", "1298944", status="active"),),
     ["her2-regimen-outside-evidence"]),
    ([b.draft_order(P, "lapatinib", "480167", mid="l")], (b.medication(P, "trastuzumab", "224905", status="active"),),
     ["her2-regimen-outside-evidence"]),
])
def test_n1_plasma_only_regimen_warned_only_when_the_order_forms_it(client, orders, history, codes_expected):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P), *PLASMA_ONLY, *history], orders)
    assert codes(cards) == codes_expected
    assert any(REGIMEN in rules(w) for w in warnings(cards)) is ("her2-regimen-outside-evidence" in codes_expected)


def test_s3_status_card_names_the_ctdna_cohort_not_a_tissue_selection(client):
    cards = run(client, "patient-view", [b.patient(P), b.crc(P), *PLASMA_ONLY], None)
    [status] = by_topic(cards, "her2-status")
    assert "the only ctDNA-selected cohort in the source is TRIUMPH's (pertuzumab + trastuzumab)" in status["detail"]
    assert "its evidence is from tissue-positive patients" not in status["detail"]


@pytest.mark.parametrize("results, title", [
    # M1: the title never contradicts the status card (IHC 1+ is HER2-low by DESTINY-CRC01)
    ([b.ihc(P, "1+"), b.ish(P, 2.3)], "T-DXd ordered: IHC 1+ is HER2-low by DESTINY-CRC01, although the ISH ratio ≥ 2.0 meets TRIUMPH"),
    ([b.ihc(P, "1+"), b.erbb2_cn(P, True, 20), *RAS_WT],
     "T-DXd ordered: IHC 1+ is HER2-low by DESTINY-CRC01, although HER2-positive by TRIUMPH blood"),
    ([b.ihc(P, "1+")], "Trastuzumab deruxtecan ordered for HER2-low colorectal cancer"),  # twin: status low
    ([b.ihc(P, "2+", 40), b.ish(P, 1.5)], "Trastuzumab deruxtecan ordered for HER2-low colorectal cancer"),
])
def test_m1_her2_low_tdxd_title_agrees_with_the_status_card(client, results, title):
    cards = run(client, "order-sign", [b.patient(P), b.crc(P), *results], [b.draft_order(P, ENHERTU, mid="x")])
    w = of_code(cards, "tdxd-her2-low-crc")
    assert w["summary"] == title
    status = by_topic(cards, "her2-status")[0]["extension"]["her2cds"]["status"]
    assert ("HER2-low colorectal cancer" in w["summary"]) is (status != "positive")


@pytest.mark.parametrize("orders, n_cards, names", [
    # C1: one generic card naming every HER2-directed order; the T-DXd safety note once
    ([b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, "Herceptin", mid="h")], 1, "Pertuzumab, trastuzumab ordered"),
    ([b.draft_order(P, "Perjeta", mid="p"), b.draft_order(P, ENHERTU, mid="x"), b.draft_order(P, "Herceptin", mid="h")], 1,
     "Pertuzumab, trastuzumab, trastuzumab deruxtecan ordered"),
    ([b.draft_order(P, "Herceptin", mid="h")], 1, "Trastuzumab ordered"),  # twin: one order
])
def test_c1_one_generic_warning_names_every_her2_order(client, orders, n_cards, names):
    cards = run(client, "order-sign", [b.patient(P), b.gastric(P), b.ihc(P, "0")], orders)
    got = [w for w in warnings(cards) if w["extension"]["her2cds"]["warning"] == "her2-drug-without-positive"]
    assert len(got) == n_cards
    assert f"{names}; HER2 status for gastric cancer is **negative**" in got[0]["detail"]
    assert sorted(delete_targets(got[0])) == sorted(f"MedicationRequest/{o['id']}" for o in orders)
    assert got[0]["detail"].count("myelosuppression") == (1 if any(o["id"] == "x" for o in orders) else 0)
