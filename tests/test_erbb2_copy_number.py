"""What makes an ERBB2 copy-number result "amplified" (docs/input-codes.md section 6).

"Present" with DNA change type SO:0001742 copy_number_gain (LOINC LA14033-7 Copy number gain) is
amplification unless the copy number reported with it is at or below the normal diploid copy number
of 2 (then the result contradicts itself). "Present" with SO:0001019 copy_number_variation (a gain or
a loss) is amplification only with a copy number above 2; without one it is a result on file that is
not known to be an amplification (decision 6.11, pathologist review of issue #16 item 1): named on the
card, the laboratory asked. A copy_number_loss (SO:0001743, LA14034-5) result says nothing about
amplification. The expected values are written here (2 copies: the diploid genome), not read from
cards/codes.yaml.
"""
from __future__ import annotations

import copy

import pytest

from cds_service.facts import FactReader, Facts
from cds_service.fhir_read import parse_resources
from cds_service.medications import DrugMatcher
from tests import fhir_builders as b
from tests.conftest import call, load_request, status_ext

P = "p1"
LOINC = "http://loinc.org"
FIXTURE = "crc-genomics-report-plasma"
ERBB2_OBSERVATION = "Observation/crc-gr-plasma-obs-2"
ERBB2_DATE = "2024-04-01"  # the plasma ERBB2 result's date: cards name results by date, never by record id


def change_type(code: str, display: str) -> dict:
    return b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(b.SO, code, display))


def copy_number(value: float) -> dict:
    return b.component(LOINC, "82155-3", valueQuantity={"value": value, "system": "http://unitsofmeasure.org", "code": "1"})


CNV = change_type("SO:0001019", "copy_number_variation")
GAIN = change_type("SO:0001742", "copy_number_gain")
LOSS = change_type("SO:0001743", "copy_number_loss")
GAIN_LOINC = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(LOINC, "LA14033-7", "Copy number gain"))
LOSS_LOINC = b.component(LOINC, "48019-4", valueCodeableConcept=b.cc(LOINC, "LA14034-5", "Copy number loss"))


@pytest.fixture(scope="module")
def reader(knowledge):
    return FactReader(knowledge, DrugMatcher(knowledge))


def read(reader, present: bool, *components: dict) -> Facts:
    variant = b.gr_variant(P, "ERBB2", present, specimen="Plasma cfDNA", extra=components, oid="v")
    return reader.read(parse_resources([variant]))


@pytest.mark.parametrize("present, components, copies", [
    (True, (CNV, copy_number(14)), 14.0),
    (True, (CNV, copy_number(2.5)), 2.5),   # above 2: the laboratory's call stands (plasma copy numbers are diluted)
    (True, (CNV, copy_number(3)), 3.0),     # the lowest whole copy number above the diploid 2
    (True, (GAIN, copy_number(14)), 14.0),
    (True, (GAIN,), None),                  # a gain code: the amplification, without a copy number too
    (True, (GAIN_LOINC,), None),
    (True, (GAIN_LOINC, copy_number(8)), 8.0),
    (True, (copy_number(6),), 6.0),         # a copy number without a change type
])
def test_present_gain_or_copy_number_above_two_is_amplified(reader, present, components, copies):
    facts = read(reader, present, *components)
    [result] = facts.results["ngs_plasma"]
    assert result.values["amplified"] is True
    assert result.values.get("copy_number") == copies
    assert not facts.unscored and not facts.not_used


@pytest.mark.parametrize("components, copies", [
    ((GAIN, copy_number(1)), "1"),
    ((GAIN, copy_number(2)), "2"),
    ((GAIN, copy_number(0)), "0"),
    ((GAIN, copy_number(1.5)), "1.5"),
    ((GAIN_LOINC, copy_number(2)), "2"),
])
def test_present_with_a_copy_number_at_or_below_two_is_never_amplified(reader, components, copies):
    facts = read(reader, True, *components)
    assert not facts.results.get("ngs_plasma") and not facts.results.get("ngs_tissue")
    [item] = facts.unscored
    assert (item.kind, item.ref, item.lacks, item.origin) == ("ngs", "Observation/v", "amplification-contradicted", "plasma")
    assert item.reported == f"Present, copy number {copies}"
    assert facts.her2_on_file  # on file, never reported as untested


@pytest.mark.parametrize("components, reported", [
    ((CNV,), "Present, no copy number"),                     # a copy-number variant may be a loss
    ((CNV, copy_number(2)), "Present, copy number 2"),
    ((CNV, copy_number(1)), "Present, copy number 1"),
    ((copy_number(2),), "Present, copy number 2"),
])
def test_copy_number_variant_without_gain_or_copy_number_above_two_is_not_known_amplified(reader, components, reported):
    facts = read(reader, True, *components)
    assert not facts.results.get("ngs_plasma") and not facts.results.get("ngs_tissue")
    [item] = facts.unscored
    assert (item.kind, item.lacks, item.reported) == ("ngs", "amplification-not-stated", reported)


@pytest.mark.parametrize("present", [True, False])
@pytest.mark.parametrize("loss", [LOSS, LOSS_LOINC], ids=["SO", "LOINC"])
def test_copy_number_loss_says_nothing_about_amplification(reader, present, loss):
    facts = read(reader, present, loss, copy_number(1))
    assert not facts.results and not facts.unscored
    [item] = facts.not_used
    assert (item.ref, item.reason) == ("Observation/v", "erbb2-copy-number-loss")


def test_absent_with_a_low_copy_number_is_not_amplified(reader):
    [result] = read(reader, False, CNV, copy_number(1)).results["ngs_plasma"]
    assert result.values == {"amplified": False, "copy_number": 1.0}


# ---------------------------------------------------------------- over HTTP, on the published-shape fixture


def fixture_with(copies: float | None = None, change: tuple[str, str] | None = None) -> dict:
    """The fixture crc-genomics-report-plasma (plasma ERBB2 "Present", SO:0001019, copy number 14, RAS
    wild-type) with its copy number or change type replaced (copy number None: removed)."""
    request = copy.deepcopy(load_request(FIXTURE))
    [erbb2] = [e["resource"] for e in request["prefetch"]["her2Observations"]["entry"]
               if f"Observation/{e['resource']['id']}" == ERBB2_OBSERVATION]
    kept = []
    for component in erbb2["component"]:
        code = component["code"]["coding"][0]["code"]
        if code == "82155-3" and copies is None:
            continue
        if code == "82155-3":
            component["valueQuantity"]["value"] = copies
        if code == "48019-4" and change:
            component["valueCodeableConcept"]["coding"] = [{"system": b.SO, "code": change[0], "display": change[1]}]
        kept.append(component)
    erbb2["component"] = kept
    return request


LOSS_REQUESTS = (fixture_with(14, ("SO:0001743", "copy_number_loss")), fixture_with(None, ("SO:0001743", "copy_number_loss")))


@pytest.mark.parametrize("request_, positive", [
    (fixture_with(14), True),
    (fixture_with(2.5), True),
    (fixture_with(None), False),
    (fixture_with(3), True),
    (fixture_with(14, ("SO:0001742", "copy_number_gain")), True),
    (fixture_with(None, ("SO:0001742", "copy_number_gain")), True),
    (fixture_with(1), False),
    (fixture_with(2), False),
    (fixture_with(2, ("SO:0001742", "copy_number_gain")), False),
    (LOSS_REQUESTS[0], False),
    (LOSS_REQUESTS[1], False),
], ids=["cn14", "cn2.5", "no-cn", "cn3", "gain-cn14", "gain-no-cn", "cn1", "cn2", "gain-cn2", "loss-cn14", "loss-no-cn"])
def test_triumph_blood_needs_a_copy_number_above_two_when_one_is_reported(client, request_, positive):
    code, body = call(client, request_)
    assert code == 200
    status = status_ext(body["cards"], "colorectal")
    assert ("TRIUMPH-blood" in status["criteriaMet"]) is positive
    assert (status["status"] == "positive") is positive
    assert ("crc.criterion.triumph-blood" in status["rules"]) is positive
    [card] = [c for c in body["cards"] if c["extension"]["her2cds"] is status]
    # named by its date either way (used, or on file without a usable value); never by its record id
    assert ERBB2_DATE in card["detail"] and ERBB2_OBSERVATION not in card["detail"]
    asked = {r for c in body["cards"] for r in c["extension"]["her2cds"]["rules"] if ".lab-request." in r}
    loss = request_ is LOSS_REQUESTS[0] or request_ is LOSS_REQUESTS[1]
    assert asked == (set() if positive or loss else {"crc.lab-request.ngs-amplification"})
