"""Feedback, audit and replay store on SQLite and on a real PostgreSQL (pgserver); no PHI stored."""
from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from cds_service import storage
from cds_service.app import create_app
from cds_service.logging_setup import JsonFormatter
from cds_service.settings import Settings
from cds_service.storage import Store, head_revisions, pseudonym
from tests import fhir_builders as b
from tests.conftest import call

pytestmark = pytest.mark.slow  # servers, processes, fuzzing, PostgreSQL or the FHIR server

PATIENT_ID = "pat-secret-4711"
INSTANCE = "6f1c2b8e-3d4a-4b5c-8e9f-0a1b2c3d4e5f"
NAME = "Zyxwvutsrq"



@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/records.sqlite3"
    return request.getfixturevalue("postgres_url")


def _request():
    resources = [b.patient(PATIENT_ID, family=NAME, given="Qwerty"), b.crc(PATIENT_ID), b.liver_mets(PATIENT_ID),
                 b.ihc(PATIENT_ID, "3+", 87.25), b.ish(PATIENT_ID, 7.31), b.medication(PATIENT_ID, "FOLFOX")]
    orders = [b.draft_order(PATIENT_ID, "cetuximab", "318341", mid="draft-cx")]
    return b.hook_request("order-sign", PATIENT_ID, resources, orders, instance=INSTANCE)


def test_audit_and_feedback_round_trip(database_url):
    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "HER2CDS_PSEUDONYM_KEY": "audit-key"}))
    client = app.test_client()
    code, body = call(client, _request())
    assert code == 200
    store: Store = app.extensions["her2cds"]["store"]
    [audit] = [a for a in store.audits(INSTANCE) if a.cards and any(c["uuid"] == body["cards"][0]["uuid"] for c in a.cards)]
    assert audit.service == "her2-order-sign" and audit.latency_ms > 0
    assert audit.patient_key == pseudonym(b"audit-key", PATIENT_ID) != PATIENT_ID
    assert audit.knowledge_version == app.extensions["her2cds"]["engine"].knowledge.version_label  # the form cards show
    assert [(c["topic"], c["warning"]) for c in audit.cards] == [("her2-status", None), ("order-warning", "anti-egfr-her2-positive")]
    warning = body["cards"][1]
    feedback = {"feedback": [{"card": warning["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00Z",
                              "overrideReason": {"reason": {"code": "clinician-judgement", "system": "urn:her2-cds:override-reason"}}}]}
    assert client.post("/cds-services/her2-order-sign/feedback", json=feedback).status_code == 200
    [stored] = store.feedback_for(warning["uuid"])
    assert stored.outcome == "overridden" and stored.override_reason["reason"]["code"] == "clinician-judgement"
    assert store.issued(warning["uuid"]).warning == "anti-egfr-her2-positive"
    dump = json.dumps(store.dump(), default=str)
    for secret in (PATIENT_ID, NAME, "Qwerty", "7.31", "87.25"):
        assert secret not in dump


def test_replay_store(database_url):
    store = Store(database_url)
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert store.remember_jti("jti-1", "iss-a", later) is True
    assert store.remember_jti("jti-1", "iss-a", later) is False
    assert store.remember_jti("jti-1", "iss-b", later) is True  # jti is unique per issuer
    store.remember_jti("old", "iss-a", datetime.now(UTC) - timedelta(seconds=1))
    store.remember_jti("jti-2", "iss-a", later)  # purges expired ids
    assert "iss-a\x1fold" not in [row["jti"] for row in store.dump()["seen_jti"]]


def test_migrations_are_applied(database_url):
    store = Store(database_url)
    with store.engine.connect() as conn:
        head = ScriptDirectory(str(Path(storage.__file__).parent / "migrations")).get_current_head()
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
        assert conn.exec_driver_sql("SELECT count(*) FROM trial_overlay").scalar() == 0
    assert store.ready()


def test_readiness_waits_for_the_migrations(database_url):
    """Pods start before the migration job has run: not ready until the schema is at the head revision."""
    from alembic import command

    from cds_service.storage import _alembic_config, migrate

    app = create_app(Settings.from_env({"DATABASE_URL": database_url, "HER2CDS_DB_AUTO_MIGRATE": "0"}))
    client = app.test_client()
    if database_url.startswith("postgresql"):  # the module's PostgreSQL is shared: start from an empty schema
        with app.extensions["her2cds"]["store"].engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    fresh = client.get("/healthz/ready")
    assert fresh.status_code == 503 and fresh.get_json()["status"] == "not-ready"
    assert fresh.get_json()["database"] == "migrations-pending"
    assert fresh.get_json()["schemaRevision"].startswith("schema at no revision, this release needs ")
    assert client.get("/healthz/live").status_code == 200  # liveness does not depend on the database
    command.upgrade(_alembic_config(database_url), "0001")  # the previous release's schema
    behind = client.get("/healthz/ready")
    assert behind.status_code == 503 and behind.get_json()["schemaRevision"].startswith("schema at 0001,")
    assert client.get("/healthz").status_code == 503
    migrate(database_url)  # the migration job of this release
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200
    assert (ready.get_json()["status"], ready.get_json()["database"]) == ("ready", "ok")
    assert "schemaRevision" not in ready.get_json()
    with app.extensions["her2cds"]["store"].engine.begin() as conn:  # the next release migrated further
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_next_release'")
    assert client.get("/healthz/ready").status_code == 200  # this release keeps serving during the rollout
    with app.extensions["her2cds"]["store"].engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{sorted(head_revisions())[0]}'")


def test_health_reports_an_unreachable_database(tmp_path):
    app = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}))
    store = app.extensions["her2cds"]["store"]
    store.engine.dispose()
    (tmp_path / "db.sqlite3").unlink()
    (tmp_path / "db.sqlite3").mkdir()  # the file is gone and cannot be recreated
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.get_json()["database"] == "unavailable"


def test_logs_carry_no_patient_data(tmp_path, caplog):
    caplog.set_level("DEBUG")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("her2cds").addHandler(handler)
    app = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "HER2CDS_ALLOW_HTTP_FHIR": "1"}))
    client = app.test_client()
    call(client, _request())
    bad = _request()
    bad["context"]["patientId"] = PATIENT_ID
    del bad["hookInstance"]
    client.post("/cds-services/her2-order-sign", json=bad)
    fallback = _request()
    fallback["prefetch"] = {}
    fallback["fhirServer"] = "http://127.0.0.1:9/fhir"
    call(client, fallback)
    client.post("/cds-services/her2-order-sign/feedback", json={"feedback": [{"card": "x"}]})
    logging.getLogger("her2cds").removeHandler(handler)
    err = buffer.getvalue()
    text = err + caplog.text
    assert "hook answered" in text and "request rejected" in text and "FHIR fallback failed" in text
    for secret in (PATIENT_ID, NAME, "Qwerty", "7.31", "87.25"):
        assert secret not in text
    json_lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    in_requests = [line for line in json_lines if line["message"] in ("hook answered", "request rejected", "FHIR fallback failed")]
    assert len(in_requests) >= 3 and all(line["requestId"] for line in in_requests)


def test_concurrent_migrations_on_a_fresh_database(database_url):
    """Gunicorn workers and replicas start together: every concurrent migration must succeed."""
    import subprocess
    import sys

    script = "import sys; from cds_service.storage import migrate; migrate(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", script, database_url], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), [err[-500:] for _, err in results]
    with Store(database_url, auto_migrate=False).engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
