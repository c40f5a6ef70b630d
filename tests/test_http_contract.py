"""The CDS Hooks envelope: discovery, errors with status codes and JSON reasons, CORS, feedback."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from cds_service.app import create_app
from cds_service.discovery import PREFETCH
from cds_service.services import SERVICES
from cds_service.settings import Settings
from tests.conftest import load_request


def test_discovery_lists_three_services_with_prefetch(client):
    body = client.get("/cds-services").get_json()
    services = {s["id"]: s for s in body["services"]}
    assert set(services) == {"her2-patient-view", "her2-order-select", "her2-order-sign"}
    assert services["her2-order-sign"]["hook"] == "order-sign"
    assert services["her2-order-select"]["hook"] == "order-select"
    assert services["her2-patient-view"]["hook"] == "patient-view"
    for s in services.values():
        assert s["title"] and s["description"] and s["usageRequirements"]
        assert s["prefetch"] == PREFETCH


def test_prefetch_templates_are_plain_fhir_searches():
    assert PREFETCH["patient"] == "Patient/{{context.patientId}}"
    for key, template in PREFETCH.items():
        tokens = {t for t in template.split("{{")[1:]}
        assert all(t.startswith("context.patientId}}") for t in tokens), key
        if "?" in template:
            params = [p.split("=")[0] for p in template.split("?")[1].split("&")]
            assert len(params) == len(set(params)), f"{key} repeats a parameter"
            assert "patient" in params
    assert "http://loinc.org|18474-7" in PREFETCH["her2Observations"]


def test_healthz_says_unsigned_calls_are_accepted(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert "DISABLED" in body["authentication"]


def _post(client, path, data, content_type="application/json"):
    return client.post(path, data=data, content_type=content_type)


@pytest.mark.parametrize(
    "data, reason_part",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b'{"a": NaN}', "NaN"),
        (b"[" * 100000 + b"]" * 100000, "nested"),
    ],
)
def test_bad_json_is_400_with_reason(client, data, reason_part):
    response = _post(client, "/cds-services/her2-patient-view", data)
    assert response.status_code == 400
    body = response.get_json()
    assert reason_part in body["reason"] and body["requestId"]


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda r: r.pop("hook"), "hook"),
        (lambda r: r.update(hook="order-sign"), "hook"),
        (lambda r: r.pop("hookInstance"), "hookInstance"),
        (lambda r: r.update(hookInstance=""), "hookInstance"),
        (lambda r: r.pop("context"), "context"),
        (lambda r: r["context"].pop("patientId"), "context.patientId"),
        (lambda r: r["context"].update(patientId=42), "context.patientId"),
        (lambda r: r.update(prefetch=[]), "prefetch"),
        (lambda r: r.update(fhirAuthorization="token"), "fhirAuthorization"),
        (lambda r: r.update(fhirServer=5), "fhirServer"),
    ],
)
def test_envelope_errors_name_the_field(client, mutate, field):
    request = load_request("crc-ihc3-positive")
    mutate(request)
    response = client.post("/cds-services/her2-patient-view", json=request)
    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field and field.split(".")[-1] in body["reason"]


def test_unknown_service_is_404(client):
    response = client.post("/cds-services/nope", json=load_request("crc-ihc3-positive"))
    assert response.status_code == 404 and response.get_json()["error"] == "unknown-service"
    assert client.get("/nowhere").status_code == 404


@pytest.mark.parametrize("path", ["/cds-services/her2-patient-view", "/cds-services/her2-order-sign/feedback"])
def test_wrong_method_is_405_json(client, path):
    response = client.get(path)
    assert response.status_code == 405
    assert response.get_json()["error"] == "method-not-allowed"
    assert "POST" in response.headers["Allow"]


def test_wrong_content_type_is_415(client):
    response = _post(client, "/cds-services/her2-patient-view", json.dumps(load_request("crc-ihc3-positive")), "text/plain")
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported-media-type"


def test_body_over_limit_is_413():
    app = create_app(Settings.from_env({"HER2CDS_MAX_BODY_BYTES": "1000"}))
    response = app.test_client().post("/cds-services/her2-patient-view", data=b"{" + b" " * 2000 + b"}", content_type="application/json")
    assert response.status_code == 413
    assert "1000" in response.get_json()["reason"]


def test_no_prefetch_and_no_fhir_server_is_412(client):
    request = load_request("crc-ihc3-positive")
    request["prefetch"] = {}
    response = client.post("/cds-services/her2-patient-view", json=request)
    assert response.status_code == 412
    assert "conditions" in response.get_json()["reason"]


def test_conditions_without_observations_still_answers_and_names_the_gap(client):
    request = load_request("crc-ihc3-positive")
    del request["prefetch"]["her2Observations"]
    response = client.post("/cds-services/her2-patient-view", json=request)
    assert response.status_code == 200
    status = response.get_json()["cards"][0]
    assert status["extension"]["her2cds"]["status"] == "indeterminate"
    assert "HER2 results could not be read" in status["detail"]
    assert not [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "her2-testing"]


def test_unexpected_error_is_json_500_with_request_id(app, monkeypatch):
    def boom(*_args):
        raise RuntimeError("injected")

    monkeypatch.setitem(SERVICES, "her2-patient-view", dataclasses.replace(SERVICES["her2-patient-view"], handler=boom))
    response = app.test_client().post("/cds-services/her2-patient-view", json=load_request("crc-ihc3-positive"))
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == "internal-error" and body["requestId"]
    assert "injected" not in json.dumps(body) and "Traceback" not in json.dumps(body)


@pytest.mark.parametrize("path", ["/cds-services", "/cds-services/her2-order-sign", "/cds-services/her2-order-sign/feedback"])
def test_cors_preflight(client, path):
    response = client.options(
        path,
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://sandbox.cds-hooks.org")
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_cors_header_on_discovery(client):
    response = client.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://sandbox.cds-hooks.org")


def _feedback(**kw):
    item = {"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}
    item.update(kw)
    return {"feedback": [item]}


def _issued_warning(client) -> dict:
    response = client.post("/cds-services/her2-order-sign", json=load_request("crc-ihc3-positive-cetuximab-sign"))
    return next(c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "order-warning")


def test_feedback_accepts_valid_shape(client):
    card = _issued_warning(client)
    accepted = _feedback(card=card["uuid"], acceptedSuggestions=[{"id": card["suggestions"][0]["uuid"]}])
    response = client.post("/cds-services/her2-order-sign/feedback", json=accepted)
    assert response.status_code == 200 and response.get_json()["accepted"] == 1
    overridden = _feedback(
        card=card["uuid"],
        outcome="overridden",
        overrideReason={"reason": {"code": "clinician-judgement", "system": "urn:her2-cds:override-reason"}, "userComment": "ok"},
    )
    assert client.post("/cds-services/her2-order-sign/feedback", json=overridden).status_code == 200


def test_feedback_for_a_card_not_issued_is_rejected(client):
    response = client.post("/cds-services/her2-order-sign/feedback", json=_feedback())
    assert response.status_code == 400 and response.get_json()["error"] == "unknown-card"
    card = _issued_warning(client)  # issued by order-sign, not by patient-view
    response = client.post("/cds-services/her2-patient-view/feedback", json=_feedback(card=card["uuid"]))
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body, field",
    [
        (_feedback(card="not-a-uuid"), "feedback[0].card"),
        (_feedback(outcome="maybe"), "feedback[0].outcome"),
        (_feedback(outcomeTimestamp="yesterday"), "feedback[0].outcomeTimestamp"),
        (_feedback(acceptedSuggestions="all"), "feedback[0].acceptedSuggestions"),
        (_feedback(overrideReason={"reason": {}}), "feedback[0].overrideReason.reason.system"),
        (_feedback(overrideReason={"userComment": "x" * 2001}, outcome="overridden"), "feedback[0].overrideReason.userComment"),
        (_feedback(acceptedSuggestions=[{"id": "s"}] * 21), "feedback[0].acceptedSuggestions"),
        ({"feedback": [_feedback()["feedback"][0]] * 51}, "feedback"),
        ({"feedback": []}, "feedback"),
    ],
)
def test_feedback_rejects_bad_shape(client, body, field):
    response = client.post("/cds-services/her2-patient-view/feedback", json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_feedback_for_unknown_service_is_404(client):
    assert client.post("/cds-services/nope/feedback", json=_feedback()).status_code == 404
