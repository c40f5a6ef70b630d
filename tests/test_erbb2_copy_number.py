"""What makes an ERBB2 copy-number result "amplified" (docs/input-codes.md section 6).

"Present" with DNA change type SO:0001019 (copy_number_variation) or SO:0001742 (copy_number_gain)
is amplification, as the input contract says, unless the copy number reported with it is at or
below the normal diploid copy number of 2: then the result contradicts itself and is named on the
card without counting as amplified. A copy_number_loss (SO:0001743) result says nothing about
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


@pytest.fixture(scope="module")
def reader(knowledge):
    return FactReader(knowledge, DrugMatcher(knowledge))


def read(reader, present: bool, *components: dict) -> Facts:
    variant = b.gr_variant(P, "ERBB2", present, specimen="Plasma cfDNA", extra=components, oid="v")
    return reader.read(parse_resources([variant]))


@pytest.mark.parametrize("present, components, copies", [
    (True, (CNV, copy_number(14)), 14.0),
    (True, (CNV, copy_number(2.5)), 2.5),   # above 2: the laboratory's call stands (plasma copy numbers are diluted)
    (True, (CNV,), None),                   # no copy number: "Present" is the amplification (input contract)
    (True, (GAIN, copy_number(14)), 14.0),
    (True, (GAIN,), None),
    (True, (copy_number(6),), 6.0),         # a copy number without a change type
])
def test_present_with_a_copy_number_above_two_or_none_is_amplified(reader, present, components, copies):
    facts = read(reader, present, *components)
    [result] = facts.results["ngs_plasma"]
    assert result.values["amplified"] is True
    assert result.values.get("copy_number") == copies
    assert not facts.unscored and not facts.not_used


@pytest.mark.parametrize("components, copies", [
    ((CNV, copy_number(1)), "1"),
    ((CNV, copy_number(2)), "2"),
    ((CNV, copy_number(0)), "0"),
    ((GAIN, copy_number(1.5)), "1.5"),
    ((copy_number(2),), "2"),
])
def test_present_with_a_copy_number_at_or_below_two_is_never_amplified(reader, components, copies):
    facts = read(reader, True, *components)
    assert not facts.results.get("ngs_plasma") and not facts.results.get("ngs_tissue")
    [item] = facts.unscored
    assert (item.kind, item.ref, item.lacks, item.origin) == ("ngs", "Observation/v", "amplification-contradicted", "plasma")
    assert item.reported == f"Present, copy number {copies}"
    assert facts.her2_on_file  # on file, never reported as untested


@pytest.mark.parametrize("present", [True, False])
def test_copy_number_loss_says_nothing_about_amplification(reader, present):
    facts = read(reader, present, LOSS, copy_number(1))
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


@pytest.mark.parametrize("request_, positive", [
    (fixture_with(14), True),
    (fixture_with(2.5), True),
    (fixture_with(None), True),
    (fixture_with(14, ("SO:0001742", "copy_number_gain")), True),
    (fixture_with(1), False),
    (fixture_with(2), False),
    (fixture_with(2, ("SO:0001742", "copy_number_gain")), False),
    (fixture_with(14, ("SO:0001743", "copy_number_loss")), False),
    (fixture_with(None, ("SO:0001743", "copy_number_loss")), False),
], ids=["cn14", "cn2.5", "no-cn", "gain-cn14", "cn1", "cn2", "gain-cn2", "loss-cn14", "loss-no-cn"])
def test_triumph_blood_needs_a_copy_number_above_two_when_one_is_reported(client, request_, positive):
    code, body = call(client, request_)
    assert code == 200
    status = status_ext(body["cards"], "colorectal")
    assert ("TRIUMPH-blood" in status["criteriaMet"]) is positive
    assert (status["status"] == "positive") is positive
    assert ("crc.criterion.triumph-blood" in status["rules"]) is positive
    [card] = [c for c in body["cards"] if c["extension"]["her2cds"] is status]
    # named either way: by its date when used, by the data-quality note (which names the record) when not
    assert ERBB2_DATE in card["detail"] or ERBB2_OBSERVATION in card["detail"]
