"""`her2-cds feedback report`: per rule id and knowledge version, cards issued, accepted, overridden
(with reasons) and unanswered, from the stored audit and feedback; on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from cds_service import storage
from cds_service.app import create_app
from cds_service.cli import main
from cds_service.feedback_report import tally
from cds_service.settings import Settings
from cds_service.storage import Store, migrate
from tests.conftest import call, load_request

OVERRIDE = {"reason": {"code": "clinician-judgement", "system": "urn:her2-cds:override-reason",
                       "display": "Clinical judgement: benefit outweighs the evidence shown"}}


def _alembic(url):
    config = Config()
    config.set_main_option("script_location", str(Path(storage.__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url)
    return config


def _feedback(client, service, card, outcome, reason=None):
    item = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-11-26T10:00:00Z"}
    if reason:
        item["overrideReason"] = reason
    response = client.post(f"/cds-services/{service}/feedback", json={"feedback": [item]})
    assert response.status_code == 200, response.get_json()


def _scenario(database_url):
    """Three order-sign calls with the anti-EGFR warning: one accepted, one overridden, one unanswered."""
    app = create_app(Settings.from_env({"DATABASE_URL": database_url}))
    client = app.test_client()
    warnings = []
    for _ in range(3):
        code, body = call(client, load_request("crc-ihc3-positive-cetuximab-sign"))
        assert code == 200
        warnings += [c for c in body["cards"] if c["source"]["topic"]["code"] == "order-warning"]
    _feedback(client, "her2-order-sign", warnings[0], "accepted")
    _feedback(client, "her2-order-sign", warnings[1], "overridden", OVERRIDE)
    return app


def _row(rows, rule):
    [row] = [r for r in rows if r["rule"] == rule]
    return row


def _check(rows, version):
    warning = _row(rows, "crc.warning.anti-egfr-later-line")
    assert (warning["issued"], warning["accepted"], warning["overridden"], warning["noAnswer"]) == (3, 1, 1, 1)
    assert warning["overrideReasons"] == [{"code": "clinician-judgement",
                                           "display": "Clinical judgement: benefit outweighs the evidence shown", "count": 1}]
    assert warning["knowledgeVersion"] == version
    status = _row(rows, "crc.status.positive")  # the status cards got no feedback
    assert (status["issued"], status["accepted"], status["overridden"], status["noAnswer"]) == (3, 0, 0, 3)


def test_feedback_report_counts_per_rule(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/records.sqlite3"
    app = _scenario(url)
    version = app.extensions["her2cds"]["engine"].knowledge.version_label  # <date>+<hash>, as on the cards
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["feedback", "report", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    _check(report["rules"], version)
    assert report["cardsWithoutRuleIds"] == 0
    assert main(["feedback", "report"]) == 0
    markdown = capsys.readouterr().out
    assert f"## Knowledge version {version}" in markdown
    assert "| `crc.warning.anti-egfr-later-line` | 3 | 1 | 1 | clinician-judgement × 1 | 1 |" in markdown


def test_latest_feedback_on_a_card_is_its_answer(tmp_path):
    app = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/r.sqlite3"}))
    client = app.test_client()
    _, body = call(client, load_request("gastric-ihc3-lapatinib-select"))
    [warning] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "order-warning"]
    _feedback(client, "her2-order-select", warning, "overridden", {"userComment": "no coded reason"})
    _feedback(client, "her2-order-select", warning, "accepted")
    rows = [t.as_json() for t in tally(app.extensions["her2cds"]["store"])[0]]
    row = _row(rows, "gc.warning.lapatinib-failed")
    assert (row["issued"], row["accepted"], row["overridden"], row["noAnswer"]) == (1, 1, 0, 0)


def test_cards_issued_before_the_migration_are_reported_apart(tmp_path):
    """An existing 0001 database: the new column is added, old cards count as without rule ids."""
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    config = _alembic(url)
    command.upgrade(config, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO audit (id, hook_instance, service, at, latency_ms, patient_key, knowledge_version, cards) "
                          "VALUES (1, 'h', 'her2-patient-view', '2026-01-01', 1.0, 'k', 'old', '[]')"))
        conn.execute(text("INSERT INTO issued_card (uuid, service, audit_id, topic, warning) "
                          "VALUES ('6f1c4a52-6a4e-4a53-9d2e-3e1f7e0f6b11', 'her2-patient-view', 1, 'her2-status', NULL)"))
    engine.dispose()
    migrate(url)
    tallies, without_rules = tally(Store(url, auto_migrate=False))
    assert tallies == [] and without_rules == 1
    command.downgrade(config, "0001")  # and back: the column goes, the rows stay
    with create_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM issued_card")).scalar() == 1


@pytest.mark.slow
def test_feedback_report_on_postgresql(postgres_url):
    app = _scenario(postgres_url)
    tallies, _ = tally(app.extensions["her2cds"]["store"])
    _check([t.as_json() for t in tallies], app.extensions["her2cds"]["engine"].knowledge.version_label)
    config = _alembic(postgres_url)
    command.downgrade(config, "0001")
    command.upgrade(config, "head")
    tallies, without_rules = tally(Store(postgres_url, auto_migrate=False))
    assert tallies == [] and without_rules > 0  # the rule ids went with the column


def test_override_reason_the_card_did_not_offer_counts_as_other(tmp_path, monkeypatch, capsys):
    """CDS Hooks lets the EHR offer reasons of its own (spec change FHIR-28737): such feedback is
    taken (200) and stored as sent, and the governance report counts it as `other`, naming the codes,
    never as one of the card's reasons."""
    url = f"sqlite:///{tmp_path}/r.sqlite3"
    app = create_app(Settings.from_env({"DATABASE_URL": url}))
    client = app.test_client()
    warnings = []
    for _ in range(3):
        _, body = call(client, load_request("crc-ihc3-positive-cetuximab-sign"))
        warnings += [c for c in body["cards"] if c["source"]["topic"]["code"] == "order-warning"]
    assert {r["code"] for r in warnings[0]["overrideReasons"]} >= {"trial-protocol"}
    _feedback(client, "her2-order-sign", warnings[0], "overridden", {"reason": {"system": "urn:other", "code": "made-up"}})
    _feedback(client, "her2-order-sign", warnings[1], "overridden",  # an offered code in another system
              {"reason": {"system": "urn:ehr:reasons", "code": "trial-protocol"}})
    _feedback(client, "her2-order-sign", warnings[2], "overridden",
              {"reason": {"system": "urn:her2-cds:override-reason", "code": "trial-protocol"}})
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["feedback", "report", "--format", "json"]) == 0
    row = _row(json.loads(capsys.readouterr().out)["rules"], "crc.warning.anti-egfr-later-line")
    assert row["overridden"] == 3
    assert sorted((r["code"], r["count"], tuple(r.get("given", ()))) for r in row["overrideReasons"]) == [
        ("other", 2, ("urn:ehr:reasons|trial-protocol", "urn:other|made-up")), ("trial-protocol", 1, ())]
    assert main(["feedback", "report"]) == 0
    markdown = capsys.readouterr().out
    assert r"other (`urn:ehr:reasons\|trial-protocol`, `urn:other\|made-up`) × 2; trial-protocol × 1" in markdown


def test_knowledge_version_is_shown_as_the_cards_show_it(tmp_path, knowledge):
    """Audit rows of earlier releases hold the bare content hash; the report shows `<date>+<hash>`
    (the form of the cards and /healthz) for both kinds of row of the same knowledge."""
    store = Store(f"sqlite:///{tmp_path}/r.sqlite3")
    card = {"uuid": "6f1c4a52-6a4e-4a53-9d2e-3e1f7e0f6b11", "source": {"topic": {"code": "her2-status"}},
            "extension": {"her2cds": {"rules": ["crc.status.positive"]}}}
    store.record_call("h1", "her2-patient-view", 1.0, "k", knowledge.version, [card])
    second = card | {"uuid": "7f1c4a52-6a4e-4a53-9d2e-3e1f7e0f6b11"}
    store.record_call("h2", "her2-patient-view", 1.0, "k", knowledge.version_label, [second])
    [row] = [t.as_json() for t in tally(store, knowledge)[0]]
    assert (row["knowledgeVersion"], row["issued"]) == (knowledge.version_label, 2)
    assert "+" in knowledge.version_label and knowledge.version_label.endswith(knowledge.version)
