"""Audit robustness (#17 item 5): no caller-chosen value can make a write fail after the answer is decided.

Every string a caller controls that reaches a database column is either bounded at the boundary
(4xx) or stored in a form that fits (hashed). Checked on SQLite and a real PostgreSQL, which, unlike
SQLite, enforces VARCHAR lengths: the suppression of #17 only showed there.
"""
from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.storage import Store
from tests.conftest import call, load_request

pytestmark = pytest.mark.slow  # PostgreSQL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/records.sqlite3"
    return request.getfixturevalue("postgres_url")


def test_long_jtis_sharing_a_prefix_are_not_taken_for_replays(database_url):
    store = Store(database_url)
    iss = "https://ehr.example.org/" + "i" * 100
    expires = datetime.now(UTC) + timedelta(minutes=5)
    first, second = "j" * 250 + "-1", "j" * 250 + "-2"
    assert store.remember_jti(first, iss, expires)
    assert store.remember_jti(second, iss, expires)  # was truncated to the same 255 characters
    assert not store.remember_jti(first, iss, expires)
    assert not store.remember_jti(second, iss, expires)


def _hostile(request: dict, where: str) -> dict:
    request = copy.deepcopy(request)
    request["hookInstance"] = str(uuid.uuid4())
    long = "x" * 5000
    if where == "userId":
        request["context"]["userId"] = "Practitioner/" + long
    elif where == "patientId":
        request["context"]["patientId"] = long
    elif where == "draft-order-id":
        request["context"]["draftOrders"]["entry"][0]["resource"]["id"] = long
    elif where == "fhirServer":
        request["fhirServer"] = "https://ehr.example.org/" + long
    elif where == "hookInstance":
        request["hookInstance"] = "h" * 200  # 129+ suppressed the audit row on PostgreSQL before #17
    elif where == "extra-fields":
        request["extension"] = {long: long}
        request["context"][long] = [long] * 10
    return request


@pytest.mark.parametrize("where", ["hookInstance", "userId", "patientId", "draft-order-id", "fhirServer", "extra-fields"])
def test_every_answered_hook_call_has_its_audit_row(database_url, where):
    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "HER2CDS_PSEUDONYM_KEY": "k"}))
    request = _hostile(load_request("crc-ihc3-positive-cetuximab-sign") if where == "draft-order-id"
                       else load_request("gastric-ihc3"), where)
    code, body = call(app.test_client(), request)
    assert code < 500, body
    if code == 200 and body["cards"]:
        store: Store = app.extensions["her2cds"]["store"]
        [audit] = store.audits(request["hookInstance"])
        assert sorted(c["uuid"] for c in audit.cards) == sorted(c["uuid"] for c in body["cards"])


def test_feedback_values_that_do_not_fit_their_columns_are_refused_or_normalised(database_url):
    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "HER2CDS_PSEUDONYM_KEY": "k"}))
    client = app.test_client()
    request = load_request("gastric-ihc3")
    request["hookInstance"] = str(uuid.uuid4())
    code, body = call(client, request)
    assert code == 200
    card = body["cards"][0]["uuid"]
    path = "/cds-services/her2-patient-view/feedback"
    long_time = "2026-11-24T10:00:00." + "0" * 80 + "Z"  # a valid ISO 8601 time, longer than VARCHAR(64)
    response = client.post(path, json={"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": long_time}]})
    assert response.status_code == 400, response.get_json()
    for other_form in (f"urn:uuid:{card}", "{" + card + "}", card.replace("-", "").upper()):
        item = {"card": other_form, "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}
        assert client.post(path, json={"feedback": [item]}).status_code in (200, 400)
    store: Store = app.extensions["her2cds"]["store"]
    assert {row.card_uuid for row in store.feedback_for(card)} <= {card}  # stored canonical, never longer
