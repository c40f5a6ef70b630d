"""The served OpenAPI document against live responses, Schemathesis over it, and property-based fuzzing.

Properties: never a 5xx; every 4xx carries a JSON reason; every 200 satisfies the card contract.
Example counts are bounded to keep CI short (no timing assertions: speed is measured by bench/).
"""
from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path

import jsonschema
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.conftest import FIXTURES, SERVICE_FOR_HOOK, load_request

pytestmark = pytest.mark.slow  # servers, processes, fuzzing, PostgreSQL or the FHIR server

_DB = Path(tempfile.mkdtemp(prefix="her2cds-openapi-")) / "db.sqlite3"
APP = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{_DB}"}))
DOC = APP.test_client().get("/openapi.json").get_json()  # the document as served
REQUEST_NAMES = sorted(p.stem for p in (FIXTURES / "requests").glob("*.json"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": DOC["components"]},
                                           format_checker=jsonschema.FormatChecker())


CARDS, ERROR = validator("CardsResponse"), validator("ErrorBody")


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "db.sqlite3"
    return create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{db}"}))


def check_response(response) -> None:
    """The properties every response must have."""
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    body = response.get_json(silent=True)
    if response.status_code >= 400:
        assert body is not None, "4xx without a JSON body"
        ERROR.validate(body)
        return
    if response.status_code == 200 and body is not None and "cards" in body:
        CARDS.validate(body)
        statuses = [c for c in body["cards"] if c["source"]["topic"]["code"] == "her2-status"]
        tumours = [c["extension"]["her2cds"]["tumorType"] for c in statuses]
        assert len(tumours) == len(set(tumours)), "more than one status card for a tumour type"
        for card in body["cards"]:
            assert len(card["summary"]) < 140
            if card.get("suggestions"):
                assert card.get("selectionBehavior") in ("any", "at-most-one")


def post(client, path: str, body: bytes | dict, content_type: str = "application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
    return client.post(path, data=data, content_type=content_type)


@pytest.mark.parametrize("name", REQUEST_NAMES)
def test_live_responses_match_the_openapi_document(fuzz_app, name):
    request = load_request(name)
    response = post(fuzz_app.test_client(), f"/cds-services/{SERVICE_FOR_HOOK[request['hook']]}", request)
    assert response.status_code == 200
    CARDS.validate(response.get_json())
    check_response(response)


def test_discovery_health_and_errors_match_the_document(fuzz_app):
    client = fuzz_app.test_client()
    validator("Discovery").validate(client.get("/cds-services").get_json())
    validator("Health").validate(client.get("/healthz").get_json())
    validator("Liveness").validate(client.get("/healthz/live").get_json())
    validator("Readiness").validate(client.get("/healthz/ready").get_json())
    ERROR.validate(client.post("/cds-services/her2-patient-view", data=b"{", content_type="application/json").get_json())
    assert yaml.safe_load(client.get("/openapi.yaml").get_data(as_text=True)) == DOC


# ---------------------------------------------------------------- Schemathesis over the document
schema = schemathesis.openapi.from_wsgi("/openapi.yaml", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_schemathesis(case):
    response = case.call()
    assert response.status_code < 500, response.text[:500]
    # Response checks (server error, status code, content type, response schema, headers) all run.
    # The two request-data heuristics are off: the contract asks the service to read imperfect client
    # data liberally (interface.md, "Real clients"), so it neither rejects every schema deviation
    # (negative_data_rejection) nor accepts every schema-valid body (412 without diagnoses).
    case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance,
                                                      schemathesis.checks.negative_data_rejection])


# ---------------------------------------------------------------- Hypothesis: broken FHIR-shaped requests
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "3+", "2+", "score 3+", "NaN", "-1", "1e309", "\x00", "mg", "%", "{ratio}", "LA11843-2",
                     "http://loinc.org", "urn:her2-cds:code", "Patient/other", "#missing", "entered-in-error"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just({"resourceType": "Bundle", "entry": []}), st.just({"value": 5, "unit": "furlongs"}),
    st.just({"coding": [{"system": "http://example.org/unknown", "code": "???"}]}),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _replace(node, path, value):
    if not path:
        return value
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return node


def _delete(node, path):
    if not path:
        return node
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return node


@st.composite
def broken_requests(draw):
    request = copy.deepcopy(load_request(draw(st.sampled_from(REQUEST_NAMES))))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = list(_paths(request))
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()) and path:
            request = _delete(request, path)
        else:
            request = _replace(request, path, copy.deepcopy(draw(ODD_VALUES)))  # never share a drawn object
        if not isinstance(request, dict):
            break
    return request


@given(request=broken_requests(), service=st.sampled_from(sorted(SERVICE_FOR_HOOK.values())))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_broken_fhir_requests_never_crash(fuzz_app, request, service):
    response = post(fuzz_app.test_client(), f"/cds-services/{service}", request)
    check_response(response)


@given(data=st.binary(max_size=300))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_arbitrary_bytes_never_crash(fuzz_app, data):
    response = post(fuzz_app.test_client(), "/cds-services/her2-patient-view", data)
    check_response(response)


def test_nan_and_huge_numbers_in_results(fuzz_app):
    request = load_request("crc-ihc2-ish-positive")
    observation = request["prefetch"]["her2Observations"]["entry"][1]["resource"]
    for value in (math.nan, math.inf, 10**400, -2.5):
        observation["valueQuantity"]["value"] = value
        response = post(fuzz_app.test_client(), "/cds-services/her2-patient-view", request)
        check_response(response)


def _with_extra_observations(count: int) -> dict:
    request = load_request("crc-ihc3-positive")
    entries = request["prefetch"]["her2Observations"]["entry"]
    template = entries[0]["resource"]
    extra = []
    for i in range(count):
        resource = {"resourceType": "Observation", "id": f"x{i}", "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                    "subject": {"reference": template["subject"]["reference"]}, "valueQuantity": {"value": i}}
        extra.append({"resource": resource})
    request["prefetch"]["her2Observations"]["entry"] = entries + extra
    return request


def test_ten_thousand_resource_prefetch_is_refused_naming_the_cap(fuzz_app):
    response = post(fuzz_app.test_client(), "/cds-services/her2-patient-view", _with_extra_observations(10_000))
    check_response(response)
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"] == "too-many-resources"
    assert "2000" in body["reason"] and "HER2CDS_MAX_RESOURCES_PER_CALL" in body["reason"]


def test_a_call_at_the_resource_cap_is_answered(fuzz_app):
    request = _with_extra_observations(0)
    present = sum(len(v["entry"]) if v.get("resourceType") == "Bundle" else 1 for v in request["prefetch"].values())
    response = post(fuzz_app.test_client(), "/cds-services/her2-patient-view", _with_extra_observations(2000 - present))
    check_response(response)
    assert response.status_code == 200
    assert response.get_json()["cards"][0]["extension"]["her2cds"]["status"] == "positive"
