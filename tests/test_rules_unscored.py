"""Clinical decision 6.11 on the cards: a HER2 result on file is never reported as missing.

A result the service cannot score (no 0/1+/2+/3+, presence only, the laboratory's interpretation
only, a ratio without a unit, a narrative report, an NGS result without specimen) is named on the
status card with its date and what it lacks; the suggestion is to ask the laboratory for the
missing value (a draft CommunicationRequest), never to repeat the test; the laboratory's own call
is shown and set against the criteria, and never makes a patient positive. Results that are no
criterion (serum, tissue immunoassay, germline ...) are shown as "not used" and leave the status
alone. Expected behaviour is written here from the guides (mCODE, Genomics Reporting IG) and the
source reviews; the facts-level reading of the same shapes is tests/test_input_shapes.py.
"""
from __future__ import annotations

import copy
import re
from datetime import datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.facts import FactReader, Facts, Result, UnscoredResult
from cds_service.fhir_read import parse_resources
from cds_service.medications import DrugMatcher
from cds_service.rules.book import RuleBook
from cds_service.rules.vocabulary import open_unscored, patient_facts, unscored_facts
from tests import fhir_builders as b
from tests.conftest import FIXTURES, by_topic, call, load_request, status_ext
from tests.rule_ids import rules, status_rule, status_rules

P = "p1"
LOINC = "http://loinc.org"
V2 = b.V2_0487
TUMOURS = {"crc": "colorectal", "gastric": "gastric"}


def obs(code, display, date="2024-03-01", **fields):
    return b.observation(P, b.loinc(code, display), date, **fields)


def request(tumour, *results, hook="patient-view", orders=None):
    return b.hook_request(hook, P, [b.patient(P), getattr(b, tumour)(P), b.liver_mets(P), *results], orders)


def run(client, tumour, *results, hook="patient-view", orders=None):
    code, body = call(client, request(tumour, *results, hook=hook, orders=orders))
    assert code == 200, body
    return body["cards"]


def suggested_by(cards):
    """The rule that made each her2-testing card (its first rule id), in order."""
    return [rules(c)[0] for c in by_topic(cards, "her2-testing")]


def created(cards, resource_type):
    return [a["resource"] for c in cards for s in c.get("suggestions", []) for a in s["actions"]
            if a["type"] == "create" and a["resource"]["resourceType"] == resource_type]


def lab_requests(cards):
    return {r for c in cards for r in rules(c) if ".lab-request." in r}


# ---------------------------------------------------------------- every HER2 shape of mCODE and the IG

POS, NEG, PRESENT, ABSENT = ("LA6576-8", "Positive"), ("LA6577-6", "Negative"), ("LA9633-4", "Present"), ("LA9634-2", "Absent")
ERBB2_GAIN = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(b.SO, "SO:0001742", "copy_number_gain"))
GERMLINE = b.component(LOINC, "48002-0", valueCodeableConcept=b.loinc("LA6683-2", "Germline"))
ERBB2_SUBSTITUTION = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(b.SO, "SO:1000002", "substitution"))
ERBB2_GENE = b.component(LOINC, "48018-6", valueCodeableConcept=b.cc("http://www.genenames.org", "HGNC:3430", "ERBB2"))


def plas_cnv():
    spec = b.specimen(P, V2, "PLAS", sid="plas")  # v2-0487 code only, no display
    return [spec, b.gr_variant(P, "ERBB2", True, specimen=b.ref(spec), extra=(ERBB2_GAIN,), oid="x")]


# Each shape, alone on file: what the laboratory sent -> on the cards.
# shape: (resources, what the status card must say about it, lab-request rule (crc, gastric) or None,
#         not-used reason shown or None)
SHAPES = {
    # mCODE Tumor Marker Test value set (VS_Genomics.fsh) and 18474-7 of the Genomics Reporting IG
    "18474-7 coded 3+": (lambda: [obs("18474-7", "HER2 IHC", oid="x", valueCodeableConcept=b.loinc("LA11843-2", "3+"))],
                         "IHC 3+", None, None),
    "85319-2 coded 2+": (lambda: [obs("85319-2", "HER2 IHC (breast)", oid="x", valueCodeableConcept=b.loinc("LA11842-4", "2+"))],
                         "IHC 2+", None, None),
    "49683-6 ratio 2.3": (lambda: [obs("49683-6", "ERBB2/CEP17", oid="x", valueQuantity={"value": 2.3, "code": "{ratio}"})],
                          "HER2/CEP17 ratio 2.3", None, None),
    "74885-5 panel ratio 2.5": (lambda: [obs("74885-5", "ERBB2 FISH panel", oid="x", component=[
        b.component(LOINC, "49683-6", valueQuantity={"value": 2.5})])], "HER2/CEP17 ratio 2.5", None, None),
    "74860-8 copies only": (lambda: [obs("74860-8", "ERBB2 copies/nucleus", oid="x", valueQuantity={"value": 6.0})],
                            "6 HER2 copies per cell", None, None),
    "31150-6 Present": (lambda: [obs("31150-6", "ERBB2 duplication FISH", oid="x", valueCodeableConcept=b.loinc(*PRESENT))],
                        "no HER2/CEP17 ratio", ("crc.lab-request.ish-ratio", "gc.lab-request.ish-ratio"), None),
    "85318-4 Absent": (lambda: [obs("85318-4", "ERBB2 duplication FISH (breast)", oid="x", valueCodeableConcept=b.loinc(*ABSENT))],
                       "no HER2/CEP17 ratio", ("crc.lab-request.ish-ratio", "gc.lab-request.ish-ratio"), None),
    "96893-3 Positive": (lambda: [obs("96893-3", "ERBB2 duplication in Tumor", oid="x", valueCodeableConcept=b.loinc(*POS))],
                         "no HER2/CEP17 ratio", ("crc.lab-request.ish-ratio", "gc.lab-request.ish-ratio"), None),
    "48676-1 Negative": (lambda: [obs("48676-1", "HER2 [Interpretation] in Tissue", oid="x", valueCodeableConcept=b.loinc(*NEG))],
                         "interpretation only", ("crc.lab-request.call-without-score", "gc.lab-request.call-without-score"), None),
    "32996-1 serum": (lambda: [obs("32996-1", "HER2 in Serum", oid="x", valueQuantity={"value": 12.0, "unit": "ng/mL"})],
                      None, None, "serum HER2 protein is not a criterion"),
    "42914-2 serum": (lambda: [obs("42914-2", "HER2 in Serum by Immunoassay", oid="x", valueQuantity={"value": 18.5, "unit": "ng/mL"})],
                      None, None, "serum HER2 protein is not a criterion"),
    "51981-9 serum": (lambda: [obs("51981-9", "HER2 [Presence] in Serum", oid="x", valueCodeableConcept=b.loinc(*POS))],
                      None, None, "serum HER2 protein is not a criterion"),
    "72382-5 tissue immunoassay": (lambda: [obs("72382-5", "HER2 [Units/volume] in Tissue", oid="x",
                                                valueQuantity={"value": 20, "unit": "IU/mL"})],
                                   None, None, "a tissue immunoassay is not the IHC 0/1+/2+/3+ scoring"),
    # the laboratory's call on a tissue immunoassay: perhaps an IHC under another code, asked (review of 6.11, item 4)
    "72383-3 tissue immunoassay": (lambda: [obs("72383-3", "HER2 [Presence] in Tissue by Immunoassay", oid="x",
                                                valueCodeableConcept=b.loinc(*POS))],
                                   "coded as a tissue immunoassay", ("crc.lab-request.immunoassay", "gc.lab-request.immunoassay"),
                                   None),
    "74861-6 CEP17 alone": (lambda: [obs("74861-6", "CEP17 copies/nucleus", oid="x", valueQuantity={"value": 2.0})],
                            None, None, "a chromosome 17 count on its own is no HER2 criterion"),
    # Genomics Reporting IG HER2 examples and shapes
    "IG immune stain Present": (lambda: [obs("18474-7", "HER2 Ag [Presence] in Tissue by Immune stain", oid="x",
                                             valueCodeableConcept=b.loinc(*PRESENT), component=[ERBB2_GENE])],
                                "no 0/1+/2+/3+ score", ("crc.lab-request.ihc-score", "gc.lab-request.ihc-score"), None),
    "IG ERBB2 CNV on PLAS": (plas_cnv, "Plasma (ctDNA) NGS: ERBB2 amplified", None, None),
    "IG ERBB2 CNV germline": (lambda: [b.gr_variant(P, "ERBB2", True, specimen="Plasma", extra=(ERBB2_GAIN, GERMLINE), oid="x")],
                              None, None, "a germline (inherited) result is not a tumour result"),
    "IG ERBB2 sequence variant": (lambda: [b.gr_variant(P, "ERBB2", True, specimen="Tissue", extra=(ERBB2_SUBSTITUTION,), oid="x")],
                                  None, None, "an ERBB2 sequence variant is not an amplification"),
    "IG ERBB2 CNV without specimen": (lambda: [b.gr_variant(P, "ERBB2", True, specimen="sample 7", extra=(ERBB2_GAIN,), oid="x")],
                                      "no specimen type (tissue or plasma)",
                                      ("crc.lab-request.ngs-specimen", "gc.lab-request.ngs-specimen"), None),
    "IG ERBB2 CNV without value": (lambda: [b.gr_variant(P, "ERBB2", None, specimen="Plasma", extra=(ERBB2_GAIN,), oid="x")],
                                   "no value", ("crc.lab-request.ngs-value", "gc.lab-request.ngs-value"), None),
    # values the laboratory sent that cannot be scored
    "ratio with unknown unit": (lambda: [obs("49683-6", "ERBB2/CEP17", oid="x", valueQuantity={"value": 2.3, "unit": "mg"})],
                                "ratio without a usable unit", ("crc.lab-request.ish-ratio", "gc.lab-request.ish-ratio"), None),
    "ratio as a bound": (lambda: [obs("49683-6", "ERBB2/CEP17", oid="x", valueQuantity={"value": 2.0, "comparator": "<"})],
                         "ratio given as a bound", ("crc.lab-request.ish-ratio", "gc.lab-request.ish-ratio"), None),
    "IHC text 2+ to 3+": (lambda: [obs("18474-7", "HER2 IHC", oid="x", valueString="2+ to 3+")],
                          "no unambiguous 0/1+/2+/3+ score", ("crc.lab-request.ihc-score", "gc.lab-request.ihc-score"), None),
    "IHC not performed": (lambda: [obs("18474-7", "HER2 IHC", oid="x", dataAbsentReason=b.cc(
        "http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-performed", "Not Performed"))],
        "no value", ("crc.lab-request.ihc-score", "gc.lab-request.ihc-score"), None),
    "narrative report": (lambda: [b.diagnostic_report(P, {"text": "HER2 immunohistochemistry"}, rid="x", date="2024-03-01",
                                                      conclusion="HER2 positive, see attached report.")],
                         "narrative only", ("crc.lab-request.call-without-score", "gc.lab-request.call-without-score"), None),
    "report whose results were not received": (lambda: [b.diagnostic_report(
        P, b.loinc("22637-3", "Pathology report"), rid="x", date="2024-03-01", conclusionCode=[b.cc(b.SNOMED, "10828004", "Positive")],
        result=[{"reference": "Observation/not-received"}], presentedForm=[{"title": "HER2 FISH"}])],
        "narrative only", ("crc.lab-request.call-without-score", "gc.lab-request.call-without-score"), None),
}

# tumour -> shape -> (status, status rule, testing cards by their rule, in order)
EXPECTED = {
    "crc": {
        "18474-7 coded 3+": ("positive", "crc.status.positive", []),
        "85319-2 coded 2+": ("equivocal", "crc.status.equivocal", ["crc.test.reflex-ish"]),
        # positive by TRIUMPH tissue; IHC decides whether T-DXd's evidence applies (decision 6.2, issue #15)
        "49683-6 ratio 2.3": ("positive", "crc.status.positive", ["crc.test.ihc-after-ish"]),
        "74885-5 panel ratio 2.5": ("positive", "crc.status.positive", ["crc.test.ihc-after-ish"]),
        "74860-8 copies only": ("indeterminate", "crc.status.her2-result-on-file", ["crc.test.ihc-after-ish-without-ratio"]),
        "31150-6 Present": ("indeterminate", "crc.status.no-tissue-result",
                            ["common.test.ask-laboratory", "crc.test.ihc-after-ish-without-ratio"]),
        "85318-4 Absent": ("indeterminate", "crc.status.no-tissue-result",
                           ["common.test.ask-laboratory", "crc.test.ihc-after-ish-without-ratio"]),
        "96893-3 Positive": ("indeterminate", "crc.status.no-tissue-result",
                             ["common.test.ask-laboratory", "crc.test.ihc-after-ish-without-ratio"]),
        "48676-1 Negative": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "72383-3 tissue immunoassay": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "IG immune stain Present": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "IG ERBB2 CNV on PLAS": ("indeterminate", "crc.status.no-tissue-result", ["crc.test.tissue-test"]),
        "IG ERBB2 CNV without specimen": ("indeterminate", "crc.status.no-tissue-result",
                                          ["common.test.ask-laboratory", "crc.test.tissue-test"]),
        "IG ERBB2 CNV without value": ("indeterminate", "crc.status.no-tissue-result",
                                       ["common.test.ask-laboratory", "crc.test.tissue-test"]),
        "ratio with unknown unit": ("indeterminate", "crc.status.no-tissue-result",
                                    ["common.test.ask-laboratory", "crc.test.ihc-after-ish-without-ratio"]),
        "ratio as a bound": ("indeterminate", "crc.status.no-tissue-result",
                             ["common.test.ask-laboratory", "crc.test.ihc-after-ish-without-ratio"]),
        "IHC text 2+ to 3+": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "IHC not performed": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "narrative report": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "report whose results were not received": ("indeterminate", "crc.status.ihc-score-not-reported",
                                                   ["common.test.ask-laboratory"]),
    },
    "gastric": {
        "18474-7 coded 3+": ("positive", "gc.status.positive", []),
        "85319-2 coded 2+": ("equivocal", "gc.status.equivocal", ["gc.test.reflex-ish"]),
        "49683-6 ratio 2.3": ("indeterminate", "gc.status.ish-without-ihc", ["gc.test.ihc-after-ish"]),
        "74885-5 panel ratio 2.5": ("indeterminate", "gc.status.ish-without-ihc", ["gc.test.ihc-after-ish"]),
        "74860-8 copies only": ("indeterminate", "gc.status.her2-result-on-file", ["gc.test.ihc-after-ish"]),
        "31150-6 Present": ("indeterminate", "gc.status.ish-without-ihc", ["common.test.ask-laboratory", "gc.test.ihc-after-ish"]),
        "85318-4 Absent": ("indeterminate", "gc.status.ish-without-ihc", ["common.test.ask-laboratory", "gc.test.ihc-after-ish"]),
        "96893-3 Positive": ("indeterminate", "gc.status.ish-without-ihc", ["common.test.ask-laboratory", "gc.test.ihc-after-ish"]),
        "48676-1 Negative": ("indeterminate", "gc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "72383-3 tissue immunoassay": ("indeterminate", "gc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "IG immune stain Present": ("indeterminate", "gc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "IG ERBB2 CNV on PLAS": ("indeterminate", "gc.status.her2-result-on-file", ["gc.test.her2-test"]),
        "IG ERBB2 CNV without specimen": ("indeterminate", "gc.status.ish-without-ihc",
                                          ["common.test.ask-laboratory", "gc.test.her2-test"]),
        "IG ERBB2 CNV without value": ("indeterminate", "gc.status.ish-without-ihc", ["common.test.ask-laboratory", "gc.test.her2-test"]),
        "ratio with unknown unit": ("indeterminate", "gc.status.ish-without-ihc", ["common.test.ask-laboratory", "gc.test.ihc-after-ish"]),
        "ratio as a bound": ("indeterminate", "gc.status.ish-without-ihc", ["common.test.ask-laboratory", "gc.test.ihc-after-ish"]),
        "IHC text 2+ to 3+": ("indeterminate", "gc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "IHC not performed": ("indeterminate", "gc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "narrative report": ("indeterminate", "gc.status.ihc-score-not-reported", ["common.test.ask-laboratory"]),
        "report whose results were not received": ("indeterminate", "gc.status.ihc-score-not-reported",
                                                   ["common.test.ask-laboratory"]),
    },
}
NOT_USED = {"crc": ("not-tested", "crc.status.not-tested", ["crc.test.tissue-test"]),
            "gastric": ("not-tested", "gc.status.not-tested", ["gc.test.her2-test"])}


def test_every_mcode_her2_code_and_ig_example_has_a_card_behaviour():
    mcode_value_set_her2 = {"31150-6", "32996-1", "42914-2", "48676-1", "49683-6", "51981-9", "72382-5", "72383-3",
                            "74860-8", "74861-6", "74885-5", "85318-4", "85319-2", "96893-3"}
    assert mcode_value_set_her2 | {"18474-7"} <= {name.split()[0] for name in SHAPES}
    for tumour in TUMOURS:  # every shape has its expected cards, a not-used one the not-tested ones
        assert set(EXPECTED[tumour]) == {n for n, (_, _, _, reason) in SHAPES.items() if reason is None}


@pytest.mark.parametrize("tumour", sorted(TUMOURS))
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_her2_shape_on_the_cards(client, tumour, shape):
    build, named, lab_rule, not_used = SHAPES[shape]
    cards = run(client, tumour, *build())
    status, rule_id, tests = EXPECTED[tumour].get(shape) or NOT_USED[tumour]
    ext = status_ext(cards)
    assert (ext["status"], status_rule(cards), suggested_by(cards)) == (status, rule_id, tests)
    assert ext["criteriaMet"] == ([] if status != "positive" else ext["criteriaMet"])
    detail = by_topic(cards, "her2-status")[0]["detail"]
    if named:  # named with its date and what it lacks
        assert named in detail
        if lab_rule is not None:
            assert "2024-03-01" in detail or "2024-04-01" in detail
    if not_used:  # shown as not used with the reason, status unchanged
        assert "not used: " + not_used in detail
    assert "Observation/" not in detail  # never by its record id (decision 6.10)
    assert lab_requests(cards) == ({lab_rule[0 if tumour == "crc" else 1]} if lab_rule else set())
    if lab_rule:  # ask the laboratory, never order the same kind of test again
        [ask] = created(cards, "CommunicationRequest")
        assert ask["about"] == [{"reference": "DiagnosticReport/x" if "report" in shape else "Observation/x"}]
        assert ask["status"] == "draft" and ask["subject"] == {"reference": f"Patient/{P}"}
        asked_kind = {"ihc-score": "18474-7", "ish-ratio": "49683-6", "call-without-score": None}.get(lab_rule[0].split(".")[-1])
        ordered = {r["code"]["coding"][0]["code"] for r in created(cards, "ServiceRequest")}
        assert asked_kind not in ordered and not (ordered & {"18474-7", "49683-6"} and "call" in lab_rule[0])


# ---------------------------------------------------------------- the laboratory's call, used as far as the criteria allow

FISH_POSITIVE = lambda: obs("31150-6", "ERBB2 duplication FISH", oid="fish", valueCodeableConcept=b.loinc(*PRESENT))  # noqa: E731
FISH_NEGATIVE = lambda: obs("85318-4", "ERBB2 duplication FISH", oid="fish", valueCodeableConcept=b.loinc(*ABSENT))  # noqa: E731
FISH_NO_CALL = lambda: obs("49683-6", "ERBB2/CEP17", oid="fish", valueQuantity={"value": 2.3, "unit": "mg"})  # noqa: E731
INTERPRETATION = lambda v: obs("48676-1", "HER2 [Interpretation] in Tissue", oid="interp", valueCodeableConcept=b.loinc(*v))  # noqa: E731
STAIN = lambda date="2024-03-01": obs("18474-7", "HER2 Ag", date, oid="stain", valueCodeableConcept=b.loinc(*PRESENT))  # noqa: E731


@pytest.mark.parametrize("tumour, results, status, rule_id, extra, lab", [
    # IHC 2+ needs the ratio: a FISH call without one leaves the status open, whatever the call
    ("crc", lambda: [b.ihc(P, "2+", 40), FISH_POSITIVE()], "indeterminate", "crc.status.ish-ratio-not-reported",
     {"crc.missing.ish-ratio", "crc.finding.lab-call-meets-no-criterion"}, "crc.lab-request.ish-ratio"),
    ("crc", lambda: [b.ihc(P, "2+", 40), FISH_NEGATIVE()], "indeterminate", "crc.status.ish-ratio-not-reported",
     {"crc.missing.ish-ratio"}, "crc.lab-request.ish-ratio"),
    ("gastric", lambda: [b.ihc(P, "2+", 40), FISH_POSITIVE()], "indeterminate", "gc.status.ish-ratio-not-reported",
     {"gc.missing.ish-ratio", "gc.finding.lab-call-meets-no-criterion"}, "gc.lab-request.ish-ratio"),
    ("gastric", lambda: [b.ihc(P, "2+", 40), FISH_NEGATIVE()], "indeterminate", "gc.status.ish-ratio-not-reported",
     {"gc.missing.ish-ratio"}, "gc.lab-request.ish-ratio"),
    # CRC: a ratio >= 2.0 meets TRIUMPH-tissue whatever the IHC: IHC 0/1+ with an ISH not called negative is open
    ("crc", lambda: [b.ihc(P, "0"), FISH_POSITIVE()], "indeterminate", "crc.status.ish-ratio-not-reported", set(),
     "crc.lab-request.ish-ratio"),
    ("crc", lambda: [b.ihc(P, "1+"), FISH_NO_CALL()], "indeterminate", "crc.status.ish-ratio-not-reported", set(),
     "crc.lab-request.ish-ratio"),
    ("crc", lambda: [b.ihc(P, "1+"), FISH_NEGATIVE()], "low", "crc.status.low", {"crc.finding.lab-call-meets-no-criterion"}, None),
    ("crc", lambda: [b.ihc(P, "1+"), INTERPRETATION(POS)], "indeterminate", "crc.status.ish-ratio-not-reported", set(),
     "crc.lab-request.ratio-behind-positive-call"),
    # gastric: with IHC 0/1+ no ratio meets ToGA: the status stays, the positive call is a stated contradiction
    ("gastric", lambda: [b.ihc(P, "0"), FISH_POSITIVE()], "negative", "gc.status.negative",
     {"gc.contradiction.lab-call-positive-toga-not-met"}, None),
    ("gastric", lambda: [b.ihc(P, "1+"), INTERPRETATION(POS)], "low", "gc.status.low",
     {"gc.contradiction.lab-call-positive-toga-not-met"}, None),
    # the scored result decides; the laboratory's disagreeing call is stated
    ("crc", lambda: [b.ihc(P, "3+", 80), INTERPRETATION(NEG)], "positive", "crc.status.positive",
     {"common.contradiction.lab-call-negative-criteria-met"}, None),
    ("gastric", lambda: [b.ihc(P, "3+"), INTERPRETATION(NEG)], "positive", "gc.status.positive",
     {"common.contradiction.lab-call-negative-criteria-met"}, None),
    ("gastric", lambda: [b.ihc(P, "3+"), INTERPRETATION(POS)], "positive", "gc.status.positive", set(), None),
    # IHC 2+ with a positive or negative call: the call rests on an ISH not on file
    ("crc", lambda: [b.ihc(P, "2+", 40), INTERPRETATION(POS)], "indeterminate", "crc.status.ish-ratio-not-reported", set(),
     "common.lab-request.ratio-behind-call"),
    ("gastric", lambda: [b.ihc(P, "2+", 40), INTERPRETATION(NEG)], "indeterminate", "gc.status.ish-ratio-not-reported", set(),
     "common.lab-request.ratio-behind-call"),
    ("gastric", lambda: [b.ihc(P, "2+", 40), INTERPRETATION(("LA11884-6", "Indeterminate"))], "equivocal", "gc.status.equivocal",
     set(), None),
    # an ISH below 2.0 with an IHC that has no score is never negative
    ("crc", lambda: [b.ish(P, 1.2), STAIN()], "indeterminate", "crc.status.ihc-score-not-reported", {"common.missing.ihc-score"},
     "crc.lab-request.ihc-score"),
    ("gastric", lambda: [b.ish(P, 1.2), STAIN()], "indeterminate", "gc.status.ihc-score-not-reported", {"common.missing.ihc-score"},
     "gc.lab-request.ihc-score"),
    ("crc", lambda: [b.ish(P, 2.3), STAIN()], "positive", "crc.status.positive", set(), "crc.lab-request.ihc-score"),
])
def test_the_laboratorys_call_is_used_as_far_as_the_criteria_allow(client, tumour, results, status, rule_id, extra, lab):
    cards = run(client, tumour, *results())
    assert (status_ext(cards)["status"], status_rule(cards)) == (status, rule_id)
    assert extra <= set(status_rules(cards))
    assert lab_requests(cards) == ({lab} if lab else set())
    ordered = {r["code"]["coding"][0]["code"] for r in created(cards, "ServiceRequest")}
    if lab and ".ish-ratio" in lab or lab and "ratio-behind" in lab:
        assert "49683-6" not in ordered  # no reflex ISH: the ISH (or the call resting on it) is on file
    if lab and ".ihc-score" in lab:
        assert "18474-7" not in ordered


def test_the_call_is_named_and_set_against_each_criterion(client):
    cards = run(client, "crc", INTERPRETATION(POS))
    detail = cards[0]["detail"]
    assert "the laboratory's own call: **positive**" in detail
    assert "The laboratory's own call (positive) is shown as reported" in detail
    for needs in ("HERACLES needs IHC 3+ in > 50% of tumour cells", "TRIUMPH tissue needs IHC 3+ or an ISH ratio ≥ 2.0",
                  "harmonized criteria need IHC 3+ in ≥ 10%"):
        assert needs in detail
    assert cards[0]["summary"].startswith("HER2 indeterminate (colorectal): HER2 interpretation 2024-03-01 (laboratory: positive)")
    gastric = run(client, "gastric", INTERPRETATION(NEG))[0]["detail"]
    assert "ToGA is not met by a call alone: it needs IHC 3+, or IHC 2+ with an ISH ratio ≥ 2" in gastric


def test_the_status_summary_names_the_result_without_value_and_the_call(client):
    cards = run(client, "gastric", b.ihc(P, "2+", 40), FISH_POSITIVE())
    assert cards[0]["summary"] == ("HER2 indeterminate (gastric/GEJ): IHC 2+ in 40% of tumour cells, biopsy specimen; "
                                   "HER2 ISH 2024-03-01 (laboratory: positive)")
    cards = run(client, "crc", b.ihc(P, "1+"), FISH_NO_CALL())
    assert cards[0]["summary"].endswith("; HER2 ISH 2024-03-01 (ratio without a usable unit)")  # what it lacks (item 11)


@pytest.mark.parametrize("tumour", sorted(TUMOURS))
def test_no_call_is_ever_positive(client, tumour):
    for call_ in (POS, ("LA9633-4", "Present")):
        for result in (INTERPRETATION(call_), obs("31150-6", "FISH", oid="f", valueCodeableConcept=b.loinc(*call_)),
                       obs("18474-7", "IHC", oid="i", valueCodeableConcept=b.loinc(*call_))):
            ext = status_ext(run(client, tumour, result))
            assert ext["status"] == "indeterminate" and ext["criteriaMet"] == []


# ---------------------------------------------------------------- which results are still to be asked for

@pytest.mark.parametrize("tumour, results, status, lab, replaced", [
    # a later scored IHC replaces an IHC without a score: nothing to ask, the old one named as replaced
    ("crc", lambda: [STAIN("2023-01-10"), b.ihc(P, "3+", 80, date="2024-03-01")], "positive", set(), True),
    # an IHC without a score reported after the scored one is asked for (the scored one sets the status)
    ("gastric", lambda: [b.ihc(P, "1+", date="2023-01-10"), STAIN("2024-03-01")], "low", {"gc.lab-request.ihc-score"}, False),
    # same day: the unscored result is not replaced
    ("gastric", lambda: [b.ihc(P, "1+", date="2024-03-01"), STAIN("2024-03-01")], "low", {"gc.lab-request.ihc-score"}, False),
    # a later ISH ratio replaces an ISH without one
    ("gastric", lambda: [b.ihc(P, "2+", date="2024-01-01"), FISH_POSITIVE(), b.ish(P, 2.4, date="2024-05-01")], "positive", set(),
     True),
    # an interpretation rests on the IHC: a later IHC replaces it, a later ISH alone does not
    ("gastric", lambda: [INTERPRETATION(POS), b.ihc(P, "2+", date="2024-05-01")], "equivocal", set(), True),
    ("crc", lambda: [INTERPRETATION(POS), b.ish(P, 2.5, date="2024-05-01")], "positive", {"crc.lab-request.call-without-score"},
     False),
    ("crc", lambda: [INTERPRETATION(NEG), b.ish(P, 1.5, date="2024-05-01")], "indeterminate", {"crc.lab-request.call-without-score"},
     False),
    # an NGS result without specimen is replaced by a later plasma NGS
    ("crc", lambda: [b.gr_variant(P, "ERBB2", True, date="2024-01-01", specimen="sample 7", extra=(ERBB2_GAIN,), oid="x"),
                     b.erbb2_cn(P, False, date="2024-05-01"), b.ihc(P, "0")], "negative", set(), True),
])
def test_a_later_scored_result_of_the_kind_replaces_one_without_value(client, tumour, results, status, lab, replaced):
    cards = run(client, tumour, *results())
    assert status_ext(cards)["status"] == status
    assert lab_requests(cards) == lab
    assert ("a later scored result of its kind is used" in cards[0]["detail"]) is replaced


def _unscored(kind, when, call=None, lacks="score"):
    return UnscoredResult(kind, f"Observation/{kind}-{when}", when and datetime.fromisoformat(when), "test", None, lacks,
                          interpretation=call)


def _scored(kind, when):
    return Result(kind, f"Observation/s-{kind}", when and datetime.fromisoformat(when), {})


@pytest.mark.parametrize("unscored, scored, still_open", [
    (_unscored("ihc", "2024-01-01"), _scored("ihc", "2024-02-01"), False),
    (_unscored("ihc", "2024-02-01"), _scored("ihc", "2024-01-01"), True),
    (_unscored("ihc", "2024-02-01"), _scored("ihc", "2024-02-01"), True),
    (_unscored("ihc", "2024-01-01"), _scored("ish", "2024-02-01"), True),
    (_unscored("ish", "2024-01-01"), _scored("ish", "2024-02-01"), False),
    (_unscored("ish", "2024-01-01"), _scored("ihc", "2024-02-01"), True),
    (_unscored("interpretation", "2024-01-01"), _scored("ihc", "2024-02-01"), False),
    (_unscored("interpretation", "2024-01-01"), _scored("ish", "2024-02-01"), True),
    (_unscored("report", "2024-01-01"), _scored("ihc", "2024-02-01"), False),
    (_unscored("report", "2024-01-01"), _scored("ish", "2024-02-01"), True),
    (_unscored("report", "2024-01-01"), _scored("ngs_plasma", "2024-02-01"), True),
    (_unscored("ngs", "2024-01-01"), _scored("ngs_plasma", "2024-02-01"), False),
    (_unscored("ngs", "2024-01-01"), _scored("ngs_tissue", "2024-02-01"), False),
    (_unscored("ngs", "2024-01-01"), _scored("qpcr", "2024-02-01"), False),
    (_unscored("ngs", "2024-01-01"), _scored("ihc", "2024-02-01"), True),
    (_unscored("ihc", None), _scored("ihc", "2024-02-01"), False),  # an undated result is the oldest
    (_unscored("ihc", "2024-01-01"), _scored("ihc", None), True),
    (_unscored("ihc", None), _scored("ihc", None), True),
])
def test_which_unscored_results_are_still_open(unscored, scored, still_open):
    facts = Facts(unscored=[unscored])
    facts.add(scored)
    assert open_unscored(facts) == ([unscored] if still_open else [])


def test_unscored_facts_for_the_rules(knowledge):
    items = [_unscored("ish", "2024-03-02", "positive", "ratio"), _unscored("ish", "2024-03-01", None, "ratio"),
             _unscored("interpretation", "2024-03-01", "positive", "ihc-or-ish"), _unscored("ngs", "2024-03-01", "negative", "specimen")]
    facts = unscored_facts(items)
    assert facts["kinds"] == ["ish", "interpretation", "ngs"]
    assert facts["ish"] == ["positive", "not given"] and facts["ihc"] == [] and facts["ngs"] == ["negative"]
    assert facts["calls"] == ["positive"]  # given calls on tissue results, once each
    # no record id (decision 6.10); the laboratory's call named with the result (review of 6.11, item 9)
    assert facts["names"][0] == "HER2 ISH of 2024-03-02 (the laboratory's call: positive; no HER2/CEP17 ratio)"
    assert facts["names"][1] == "HER2 ISH of 2024-03-01 (no HER2/CEP17 ratio)"
    assert facts["names"][3] == "ERBB2 NGS of 2024-03-01 (the laboratory's call: negative; no specimen type (tissue or plasma))"
    assert facts["called"] == {"positive": ["HER2 ISH 2024-03-02", "HER2 interpretation 2024-03-01"]}
    view = patient_facts(Facts(unscored=items[2:3]), "gastric", knowledge.rules.classes_of)
    assert (view["ihc_on_file"], view["ish_on_file"], view["her2_on_file"]) == (True, True, True)
    view = patient_facts(Facts(unscored=items[:1]), "gastric", knowledge.rules.classes_of)
    assert (view["ihc_on_file"], view["ish_on_file"]) == (False, True)
    scored = Facts()
    scored.add(Result("ish", "Observation/i", None, {"copies_per_cell": 6.0}))
    assert patient_facts(scored, "gastric", knowledge.rules.classes_of)["ish_on_file"] is True
    assert patient_facts(Facts(), "gastric", knowledge.rules.classes_of)["ish_on_file"] is False


# ---------------------------------------------------------------- order hooks

HERCEPTIN = [b.draft_order(P, "Herceptin", mid="o-t")]
OXALIPLATIN = [b.draft_order(P, "oxaliplatin", "32592", mid="o-ox")]


def warnings_of(cards: list[dict], code: str) -> list[dict]:
    """The order warnings of one code; in CRC, trastuzumab alone also gets its single-agent warning (decision 6.9),
    which asks no test and no laboratory."""
    found = by_topic(cards, "order-warning")
    assert all(not created([w], "CommunicationRequest") for w in found if w["extension"]["her2cds"]["warning"] != code)
    return [w for w in found if w["extension"]["her2cds"]["warning"] == code]


@pytest.mark.parametrize("tumour", sorted(TUMOURS))
def test_her2_drug_with_only_an_unscored_result_names_it_and_asks_the_laboratory(client, tumour):
    cards = run(client, tumour, STAIN(), hook="order-sign", orders=HERCEPTIN)
    [warning] = warnings_of(cards, "her2-drug-without-positive")
    assert {"common.warning.her2-drug-without-positive", "common.settling-test.ask-laboratory"} <= set(rules(warning))
    assert "HER2 IHC of 2024-03-01 (no 0/1+/2+/3+ score)" in warning["detail"] and "Observation/" not in warning["detail"]
    assert "ask the laboratory for it rather than repeating the test" in warning["detail"]
    assert {"crc.lab-request.ihc-score" if tumour == "crc" else "gc.lab-request.ihc-score"} <= set(rules(warning))
    [ask] = created([warning], "CommunicationRequest")
    assert ask["about"] == [{"reference": "Observation/stain"}] and "Please report the IHC score" in ask["payload"][0]["contentString"]
    why = "HERACLES needs IHC 3+ in > 50% of tumour cells" if tumour == "crc" else "ToGA is written on the IHC score"
    assert ask["reasonCode"][0]["text"].startswith(why)
    assert created([warning], "ServiceRequest") == []  # no new IHC or ISH
    assert [a["type"] for s in warning["suggestions"] for a in s["actions"]] == ["delete", "create"]


@pytest.mark.parametrize("tumour", sorted(TUMOURS))
def test_her2_drug_with_an_unscored_ish_and_no_ihc_asks_for_the_ratio_and_offers_ihc(client, tumour):
    cards = run(client, tumour, FISH_POSITIVE(), hook="order-sign", orders=HERCEPTIN)
    [warning] = warnings_of(cards, "her2-drug-without-positive")
    assert "common.settling-test.ask-laboratory-and-ihc" in rules(warning)
    assert [r["code"]["coding"][0]["code"] for r in created([warning], "ServiceRequest")] == ["18474-7"]
    assert [r["about"] for r in created([warning], "CommunicationRequest")] == [[{"reference": "Observation/fish"}]]


def test_chemotherapy_for_gastric_cancer_with_an_unscored_result_asks_the_laboratory(client):
    cards = run(client, "gastric", INTERPRETATION(NEG), hook="order-sign", orders=OXALIPLATIN)
    assert suggested_by(cards) == ["gc.order-test.ask-laboratory-before-chemotherapy"]
    [card] = by_topic(cards, "her2-testing")
    assert card["indicator"] == "warning" and "gc.lab-request.call-without-score" in rules(card)
    assert created(cards, "ServiceRequest") == [] and len(created(cards, "CommunicationRequest")) == 1
    with_ish_only = run(client, "gastric", b.ish(P, 2.4), hook="order-sign", orders=OXALIPLATIN)
    assert suggested_by(with_ish_only) == ["gc.order-test.ihc-before-chemotherapy"]
    untested = run(client, "gastric", hook="order-sign", orders=OXALIPLATIN)
    assert suggested_by(untested) == ["gc.order-test.her2-test-before-chemotherapy"]


# ---------------------------------------------------------------- the cards themselves

def test_the_communication_request_is_valid_fhir(client):
    cards = run(client, "crc", b.diagnostic_report(P, b.loinc("22637-3"), rid="r", contained=[STAIN()],
                                                   result=[{"reference": "#stain"}]))
    [ask] = created(cards, "CommunicationRequest")
    assert ask["about"] == [{"reference": "DiagnosticReport/r"}]  # a contained result: its report
    get_fhir_model_class("CommunicationRequest").model_validate(ask)
    [card] = by_topic(cards, "her2-testing")
    assert card["selectionBehavior"] == "any" and card["indicator"] == "info"
    assert card["summary"] == "HER2 IHC 2024-03-01: no 0/1+/2+/3+ score: ask the laboratory"
    assert "Ask for the IHC score (0, 1+, 2+ or 3+), the % of tumour cells stained" in card["detail"]


def test_several_results_to_ask_for_make_one_card(client):
    cards = run(client, "gastric", STAIN(), FISH_POSITIVE())
    [card] = [c for c in by_topic(cards, "her2-testing") if rules(c)[0] == "common.test.ask-laboratory"]
    assert card["summary"] == "2 HER2 results on file lack a score, ratio or specimen: ask the laboratory"
    assert {tuple(r["about"][0].values()) for r in created([card], "CommunicationRequest")} == {("Observation/stain",),
                                                                                              ("Observation/fish",)}
    assert {"gc.lab-request.ihc-score", "gc.lab-request.ish-ratio"} <= set(rules(card))


def test_not_used_results_are_listed_and_the_summary_says_so(client):
    cards = run(client, "gastric", *SHAPES["42914-2 serum"][0]())
    # never "not tested" with a HER2 result on file; each not-used result named by kind and date (review of 6.11, item 3)
    assert cards[0]["summary"] == ("No tumour HER2 test usable for the criteria (gastric/GEJ); on file, not used: "
                                   "serum HER2 2024-03-01")
    assert "**On file, not used**" in cards[0]["detail"]


def test_plasma_specimen_coded_only_plas_is_read_as_plasma_on_the_cards(client):
    for cards in (run(client, "crc", *plas_cnv(), b.variant(P, "KRAS", present=False), b.variant(P, "NRAS", present=False)),
                  call(client, load_request("crc-genomics-report-plasma"))[1]["cards"]):
        ext = status_ext(cards)
        assert (ext["status"], ext["criteriaMet"], ext["basis"]) == ("positive", ["TRIUMPH-blood"], ["plasma"])


# name -> (status, status rule, testing cards, lab requests, named in the status card)
PUBLISHED_FIXTURES = {
    "crc-ig-her2-immune-stain": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"],
                                 {"crc.lab-request.ihc-score"}, ["Immune stain — 2024-02-12, reported 'Present'", "no 0/1+/2+/3+ score",
                                                                 "not used: a tissue immunoassay"]),
    "crc-narrative-her2-report": ("indeterminate", "crc.status.ihc-score-not-reported", ["common.test.ask-laboratory"],
                                  {"crc.lab-request.call-without-score"}, ["immunohistochemistry report — 2024-02-20", "narrative only"]),
    "gastric-mcode-her2-interpretation": ("indeterminate", "gc.status.ihc-score-not-reported", ["common.test.ask-laboratory"],
                                          {"gc.lab-request.call-without-score"}, ["interpretation only", "**negative**"]),
    "gastric-not-criteria": ("not-tested", "gc.status.not-tested", ["gc.test.her2-test"], set(),
                             ["not used: serum", "not used: a tissue immunoassay", "not used: a germline"]),
    "crc-genomics-report-plasma": ("positive", "crc.status.positive", [], set(), ["Plasma (ctDNA) NGS: ERBB2 amplified"]),
    "gastric-ish-panel": ("positive", "gc.status.positive", [], set(), ["HER2/CEP17 ratio 2.6"]),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_FIXTURES))
def test_published_shape_fixture_cards(client, name):
    status, rule_id, tests, lab, named = PUBLISHED_FIXTURES[name]
    cards = call(client, load_request(name))[1]["cards"]
    assert (status_ext(cards)["status"], status_rule(cards), suggested_by(cards), lab_requests(cards)) == (status, rule_id, tests, lab)
    for text in named:
        assert text in cards[0]["detail"]


def test_unknown_lacks_in_a_lab_request_rule_is_a_load_problem(knowledge):
    raw = copy.deepcopy(knowledge.raw)
    [rule] = [r for r in raw["testing"]["laboratory"] if r["id"] == "crc.lab-request.ihc-score"]
    rule["lacks"] = ["scroe"]
    assert RuleBook(raw).problems == ["testing: crc.lab-request.ihc-score names unknown lacks scroe"]


# ---------------------------------------------------------------- with issue #15 (decisions 6.1, 6.2)

ENHERTU = [b.draft_order(P, "Enhertu", mid="o-tdxd")]


def test_crc_ish_positive_with_an_unscored_ihc_asks_the_laboratory_not_for_a_new_ihc(client):
    """6.1/6.2: with ISH >= 2.0 (TRIUMPH tissue) the IHC decides whether T-DXd's evidence applies; 6.11: an IHC
    on file without its score is asked of the laboratory, and no card says no IHC is on file."""
    cards = run(client, "crc", STAIN(), b.ish(P, 2.3))
    assert (status_ext(cards)["status"], status_rule(cards)) == ("positive", "crc.status.positive")
    assert suggested_by(cards) == ["common.test.ask-laboratory"] and lab_requests(cards) == {"crc.lab-request.ihc-score"}
    assert created(cards, "ServiceRequest") == []
    assert "the HER2 IHC on file has no score (ISH ratio 2.3)" in cards[0]["detail"]  # T-DXd not shown, and why
    assert not by_topic(cards, "her2-therapy") or all("deruxtecan" not in c["summary"] for c in by_topic(cards, "her2-therapy"))
    [warning] = warnings_of(run(client, "crc", STAIN(), b.ish(P, 2.3), hook="order-sign", orders=ENHERTU), "tdxd-outside-evidence")
    assert "but the IHC on file has no score" in warning["detail"] and "no IHC result" not in warning["detail"]
    assert {"common.settling-test.ask-laboratory", "crc.lab-request.ihc-score"} <= set(rules(warning))
    assert created([warning], "ServiceRequest") == [] and len(created([warning], "CommunicationRequest")) == 1


def test_crc_ish_positive_without_any_ihc_orders_ihc(client):
    """The twin: no IHC on file at all, so IHC is ordered (decision 6.2) and the cards say none is on file."""
    cards = run(client, "crc", b.ish(P, 2.3))
    assert suggested_by(cards) == ["crc.test.ihc-after-ish"] and lab_requests(cards) == set()
    assert "no HER2 IHC result is on file (ISH ratio 2.3)" in cards[0]["detail"]
    [warning] = warnings_of(run(client, "crc", b.ish(P, 2.3), hook="order-sign", orders=ENHERTU), "tdxd-outside-evidence")
    assert "but no IHC result is on file" in warning["detail"]
    assert [r["code"]["coding"][0]["code"] for r in created([warning], "ServiceRequest")] == ["18474-7"]


@pytest.mark.parametrize("tumour", sorted(TUMOURS))
def test_ish_below_two_with_an_unscored_ihc_is_not_an_ish_without_ihc(client, tumour):
    """6.2 calls ISH without IHC indeterminate and orders IHC; with an IHC on file without its score the status
    names the missing score and the laboratory is asked instead (6.11)."""
    cards = run(client, tumour, STAIN(), b.ish(P, 1.5))
    prefix = "crc" if tumour == "crc" else "gc"
    assert (status_ext(cards)["status"], status_rule(cards)) == ("indeterminate", f"{prefix}.status.ihc-score-not-reported")
    assert suggested_by(cards) == ["common.test.ask-laboratory"] and created(cards, "ServiceRequest") == []


@pytest.mark.parametrize("copies", [1, 2])
def test_erbb2_present_with_a_diploid_copy_number_asks_the_laboratory(client, copies):
    """ERBB2 'Present' whose copy number is at or below 2 is an unscored result (main, cards/codes.yaml
    neutral_copy_number): named on the card, and the laboratory is asked which of the two is right."""
    from tests.test_erbb2_copy_number import fixture_with

    cards = call(client, fixture_with(copies))[1]["cards"]
    assert status_ext(cards)["status"] != "positive"
    assert lab_requests(cards) == {"crc.lab-request.ngs-amplification"}
    [ask] = created(cards, "CommunicationRequest")
    assert "is an amplification" in ask["payload"][0]["contentString"]
    assert suggested_by(cards) == ["common.test.ask-laboratory", "crc.test.tissue-test"]  # as for an NGS without value
    assert "is not usable as reported" in cards[0]["detail"] and "no plasma (ctDNA) ERBB2 result" not in cards[0]["detail"]


# ---------------------------------------------------------------- property: nothing on file is called missing

# phrase -> the kinds on file that forbid it (any of them)
ANY = {"ihc", "ish", "ngs_tissue", "ngs_plasma", "qpcr", "apcn", "ngs"}
# any HER2 result on file, used or not ("not_used": serum, germline, tissue immunoassay ...): issue #16
ON_FILE = ANY | {"not_used"}
FORBIDDEN = {
    r"not tested\b(?! by IHC, ISH or NGS)": ON_FILE,
    r"\bno result\b": ON_FILE,
    r"no HER2 result": ON_FILE,
    r"^- none on file$": ON_FILE,
    r"no HER2 IHC result|no IHC result|No HER2 IHC or ISH|No tissue HER2 IHC or ISH": {"ihc"},
    r"no ISH result|No HER2 IHC or ISH|No tissue HER2 IHC or ISH": {"ish"},
    r"No tissue HER2 result": {"ihc", "ish", "ngs_tissue", "qpcr"},
    r"no plasma \(ctDNA\) ERBB2 result": {"ngs_plasma", "ngs"},
}
COVERS = {"ihc": {"ihc"}, "ish": {"ish"}, "interpretation": {"ihc", "ish"}, "report": {"ihc", "ish"}, "immunoassay": {"ihc"},
          "ngs": {"ngs"}}


def kinds_on_file(reader: FactReader, req: dict) -> set[str]:
    """What is on file, from the fact layer (tested on its own in test_input_shapes.py)."""
    facts = reader.read(parse_resources(req["prefetch"].values()))
    kinds = {k for k, v in facts.results.items() if v and k != "ctdna_fraction"}
    return kinds | {k for u in facts.unscored for k in COVERS[u.kind]} | ({"not_used"} if facts.not_used else set())


def assert_nothing_on_file_is_called_missing(cards, on_file: set[str], where: str):
    for card in cards:
        text = card["summary"] + "\n" + card["detail"]
        for phrase, kinds in FORBIDDEN.items():
            if kinds & on_file:
                assert not re.search(phrase, text, re.IGNORECASE | re.MULTILINE), (where, phrase, card["summary"])
        if on_file & ANY:
            assert card["extension"]["her2cds"].get("status") != "not-tested", where


@pytest.fixture(scope="module")
def reader(knowledge):
    return FactReader(knowledge, DrugMatcher(knowledge))


def test_no_fixture_card_calls_a_result_on_file_missing(client, reader):
    for path in sorted((FIXTURES / "requests").glob("*.json")):
        req = load_request(path.stem)
        code, body = call(client, req)
        assert code == 200
        assert_nothing_on_file_is_called_missing(body["cards"], kinds_on_file(reader, req), path.stem)


SCORED = {"none": lambda: [], "ihc0": lambda: [b.ihc(P, "0")], "ihc2": lambda: [b.ihc(P, "2+", 40)],
          "ish1.5": lambda: [b.ish(P, 1.5)], "ish2.3": lambda: [b.ish(P, 2.3)], "plasma-neg": lambda: [b.erbb2_cn(P, False)]}
HOOKS = {"patient-view": None, "order-sign": HERCEPTIN + OXALIPLATIN + ENHERTU}  # T-DXd: issue #15's warnings


@pytest.mark.parametrize("tumour", sorted(TUMOURS))
@pytest.mark.parametrize("scored", sorted(SCORED))
def test_no_generated_variant_calls_a_result_on_file_missing(client, reader, tumour, scored):
    """Every shape above, alone and beside scored results, on the chart and with orders."""
    for shape, (build, _, _, _) in SHAPES.items():
        for hook, orders in HOOKS.items():
            req = request(tumour, *SCORED[scored](), *build(), hook=hook, orders=orders)
            code, body = call(client, req)
            assert code == 200
            on_file = kinds_on_file(reader, req)
            assert_nothing_on_file_is_called_missing(body["cards"], on_file, f"{tumour}/{scored}/{shape}/{hook}")
            facts = reader.read(parse_resources(req["prefetch"].values()))
            asked = {k for u in open_unscored(facts) for k in COVERS[u.kind] if u.kind in ("ihc", "ish")}
            ordered = {r["code"]["coding"][0]["code"] for r in created(body["cards"], "ServiceRequest")}
            assert not {{"ihc": "18474-7", "ish": "49683-6"}[k] for k in asked} & ordered, (shape, scored, hook)
