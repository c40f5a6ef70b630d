"""Web-layer hardening (issue #17): UUID hookInstance, patient ids, resource cap, feedback bound to its
issuer and size, security headers, JWT audience from configuration only, one pseudonym key."""
from __future__ import annotations

import json
import uuid

import pytest

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.storage import pseudonym
from tests.conftest import call, load_request
from tests.jwt_helpers import Issuer

BASE = "https://cds.example.org"
SIGN = "/cds-services/her2-order-sign"


def _app(tmp_path, **env):
    return create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", **env}))


@pytest.mark.parametrize("method, path, body", [
    ("get", "/cds-services", None), ("post", "/cds-services/her2-patient-view", "fixture"),
    ("post", "/cds-services/her2-patient-view", {"hook": "patient-view"}), ("get", "/healthz", None),
    ("post", "/cds-services/her2-patient-view/feedback", {"feedback": []}), ("get", "/nowhere", None),
    ("get", "/openapi.json", None),
])
def test_json_answers_are_not_cached_or_sniffed(client, method, path, body):
    body = load_request("gastric-ihc3") if body == "fixture" else body
    response = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_long_hook_instance_is_400_and_writes_nothing(tmp_path):
    """Was: 129+ characters answered 200 with cards but no audit row on PostgreSQL (VARCHAR(128))."""
    app = _app(tmp_path)
    request = load_request("crc-ihc3-positive-cetuximab-sign") | {"hookInstance": "a" * 129}
    response = app.test_client().post(SIGN, json=request)
    assert response.status_code == 400 and response.get_json()["field"] == "hookInstance"
    assert "UUID" in response.get_json()["reason"]
    assert app.extensions["her2cds"]["store"].audits() == []


@pytest.mark.parametrize("patient_id", [".", ".."])
def test_dot_patient_ids_are_400(client, patient_id):
    request = load_request("gastric-ihc3")
    request["context"]["patientId"] = patient_id
    response = client.post("/cds-services/her2-patient-view", json=request)
    assert response.status_code == 400 and response.get_json()["field"] == "context.patientId"


def test_resources_per_call_are_capped_with_a_413_naming_the_cap(tmp_path):
    client = _app(tmp_path, HER2CDS_MAX_RESOURCES_PER_CALL="5").test_client()
    request = load_request("crc-ihc3-positive-cetuximab-sign")
    count = sum(len(v["entry"]) if v.get("resourceType") == "Bundle" else 1 for v in request["prefetch"].values())
    count += len(request["context"]["draftOrders"]["entry"])
    assert count > 5
    response = client.post(SIGN, json=request)
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"] == "too-many-resources"
    assert f"{count} resources exceed the cap of 5" in body["reason"] and "HER2CDS_MAX_RESOURCES_PER_CALL" in body["reason"]
    roomy = _app(tmp_path, HER2CDS_MAX_RESOURCES_PER_CALL=str(count)).test_client()
    assert roomy.post(SIGN, json=request).status_code == 200


def test_resources_fetched_from_the_fhir_server_count_too(tmp_path, monkeypatch):
    app = _app(tmp_path, HER2CDS_MAX_RESOURCES_PER_CALL="50")
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Condition", "id": f"c{i}"}} for i in range(60)]}
    monkeypatch.setattr(app.extensions["her2cds"], "fetcher", lambda request, templates, bases: ({"conditions": bundle}, {}))
    request = load_request("gastric-ihc3")
    del request["prefetch"]["conditions"]
    request["fhirServer"] = "https://ehr.example.org/fhir"
    response = app.test_client().post("/cds-services/her2-patient-view", json=request)
    assert response.status_code == 413 and "cap of 50" in response.get_json()["reason"]


def test_feedback_body_size_is_bounded(tmp_path):
    client = _app(tmp_path, HER2CDS_MAX_FEEDBACK_BYTES="2000").test_client()
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00Z",
            "overrideReason": {"userComment": "x" * 1900}}
    response = client.post(SIGN + "/feedback", data=json.dumps({"feedback": [item, item]}), content_type="application/json")
    assert response.status_code == 413 and "2000 bytes" in response.get_json()["reason"]


@pytest.fixture()
def two_ehrs(tmp_path):
    one, two = Issuer("https://ehr-one.example.org"), Issuer("https://ehr-two.example.org")
    (tmp_path / "issuers.json").write_text(json.dumps([one.entry(), two.entry()]))
    app = _app(tmp_path, HER2CDS_TRUSTED_ISSUERS_FILE=str(tmp_path / "issuers.json"), HER2CDS_PUBLIC_BASE_URL=BASE,
               HER2CDS_PSEUDONYM_KEY="shared")
    yield app.test_client(), one, two
    one.close()
    two.close()


def _signed(client, issuer, path, body, host=None):
    headers = {"Authorization": f"Bearer {issuer.token(BASE + path)}"}
    if host:
        headers["Host"] = host
    return client.post(path, json=body, headers=headers)


def test_feedback_is_taken_only_from_the_ehr_the_card_was_issued_to(two_ehrs):
    client, one, two = two_ehrs
    response = _signed(client, one, SIGN, load_request("crc-ihc3-positive-cetuximab-sign"))
    assert response.status_code == 200
    card = next(c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "order-warning")
    feedback = {"feedback": [{"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}]}
    foreign = _signed(client, two, SIGN + "/feedback", feedback)
    assert foreign.status_code == 400 and foreign.get_json()["error"] == "unknown-card"
    assert _signed(client, one, SIGN + "/feedback", feedback).status_code == 200


def test_jwt_audience_comes_from_configuration_not_the_host_header(two_ehrs):
    client, one, _ = two_ehrs
    request = load_request("crc-ihc3-positive-cetuximab-sign")
    spoofed = one.token("https://evil.example.net" + SIGN)
    response = client.post(SIGN, json=request, headers={"Authorization": f"Bearer {spoofed}", "Host": "evil.example.net"})
    assert response.status_code == 401 and response.get_json()["error"] == "wrong-audience"
    assert _signed(client, one, SIGN, request, host="evil.example.net").status_code == 200


def test_one_configured_pseudonym_key_gives_every_app_the_same_patient_key(tmp_path):
    request = load_request("gastric-ihc3")
    keys = []
    for _ in range(2):  # two workers of one `her2-cds serve`, same settings
        app = _app(tmp_path, HER2CDS_PSEUDONYM_KEY="from-the-master")
        assert call(app.test_client(), request)[0] == 200
        keys.append(app.extensions["her2cds"]["store"].audits()[-1].patient_key)
    assert keys[0] == keys[1] == pseudonym(b"from-the-master", request["context"]["patientId"])


def test_without_a_key_each_app_draws_its_own_and_says_so(tmp_path, caplog):
    caplog.set_level("WARNING", logger="her2cds")
    first, second = _app(tmp_path), _app(tmp_path)
    assert first.extensions["her2cds"].pseudonym_key != second.extensions["her2cds"].pseudonym_key
    assert "HER2CDS_PSEUDONYM_KEY is not set" in caplog.text
