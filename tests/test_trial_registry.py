"""Trial status refresh against a loopback server replaying ClinicalTrials.gov API v2 responses,
the overlay in the database (every replica reads it), its effect on the cards, staleness, export and
import, and the reviewer report."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from cds_service.app import create_app
from cds_service.cli import main
from cds_service.settings import Settings
from cds_service.storage import Store
from cds_service.trial_registry import OverlayReader, RefreshError, refresh
from tests.conftest import by_topic, call, load_request

pytestmark = pytest.mark.slow  # trial registry: loopback registry servers, overlay in the database


def study(nct: str, status: str, updated: str = "2026-10-01") -> dict:
    """A v2 study record limited to the requested fields (documented response shape)."""
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct},
            "statusModule": {"overallStatus": status, "lastUpdatePostDateStruct": {"date": updated, "type": "ACTUAL"}},
        }
    }


BEHAVIOUR = {
    "NCT04704661": ("status", "RECRUITING"),
    "NCT05253651": ("status", "COMPLETED"),
    "NCT05356897": ("status", "TERMINATED"),
    "NCT03365882": ("status", "RECRUITING"),  # the source said active-not-recruiting: the registry wins
    "NCT04278144": ("missing", None),
    "NCT03929666": ("429-then", "RECRUITING"),
}


class Registry:
    def __init__(self, behaviour: dict, delay_for: str | None = None, delay_s: float = 0.0) -> None:
        self.behaviour = behaviour
        self.delay_for, self.delay_s = delay_for, delay_s
        self.seen: list[tuple[str, dict]] = []
        self.hits: dict[str, int] = {}
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                nct = parts.path.rsplit("/", 1)[-1]
                registry.seen.append((parts.path, parse_qs(parts.query)))
                registry.hits[nct] = registry.hits.get(nct, 0) + 1
                if nct == registry.delay_for:
                    time.sleep(registry.delay_s)
                kind, status = registry.behaviour.get(nct, ("status", "ACTIVE_NOT_RECRUITING"))
                if kind == "missing":
                    return self._send(404, {"message": f"Study {nct} not found"})
                if kind == "429-then" and registry.hits[nct] == 1:
                    return self._send(429, {"message": "Too many requests"}, {"Retry-After": "0"})
                return self._send(200, study(nct, status))

            def _send(self, code, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v2"

    def close(self):
        self.httpd.shutdown()


@pytest.fixture()
def registry():
    server = Registry(BEHAVIOUR)
    yield server
    server.close()


def settings_for(tmp_path, url, **extra):
    env = {
        "HER2CDS_CTGOV_API_URL": url,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        **extra,
    }
    return Settings.from_env(env)


def test_refresh_stores_the_overlay_from_the_documented_schema(tmp_path, registry, knowledge):
    settings = settings_for(tmp_path, registry.url)
    store = Store(settings.database_url)
    before = sorted(p.name for p in knowledge.directory.rglob("*"))
    refresh(settings, knowledge, store, min_interval_s=0.0)
    record = store.latest_trial_overlay()
    assert record.trials["NCT04704661"]["overallStatus"] == "RECRUITING"
    assert record.trials["NCT04704661"]["lastUpdatePostDate"] == "2026-10-01"
    assert record.trials["NCT05253651"]["overallStatus"] == "COMPLETED"
    assert record.trials["NCT03929666"]["overallStatus"] == "RECRUITING"  # after a 429
    assert registry.hits["NCT03929666"] == 2
    assert record.missing == ["NCT04278144"]
    assert len(record.trials) == len(knowledge.trials) - 1
    assert record.knowledge_version == knowledge.version and record.api == registry.url
    refreshed = record.refreshed_at.replace(tzinfo=UTC).isoformat()
    assert all(entry["refreshedAt"] == refreshed for entry in record.trials.values())
    path_seen, query = registry.seen[0]
    assert path_seen.startswith("/api/v2/studies/NCT") and query["fields"] == ["NCTId,OverallStatus,LastUpdatePostDate"]
    assert sorted(p.name for p in knowledge.directory.rglob("*")) == before  # nothing written beside the package


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def test_cards_follow_the_registry(tmp_path, registry, knowledge, database, request):
    url = request.getfixturevalue("postgres_url") if database == "postgresql" else f"sqlite:///{tmp_path}/db.sqlite3"
    settings = settings_for(tmp_path, registry.url, DATABASE_URL=url)
    trial_request = load_request("crc-ihc2-ish-positive")  # first line: MOUNTAINEER-03 (first-line) is offered
    replica = create_app(settings)  # already running when the refresh job stores a new overlay
    replica.extensions["her2cds"]["engine"].overlay.ttl_s = 0.0  # the TTL (60 s) has passed
    before = by_topic(call(replica.test_client(), trial_request)[1]["cards"], "her2-trials")[0]
    assert "NCT05253651" in before["extension"]["her2cds"]["trials"]
    refresh(settings, knowledge, Store(url, auto_migrate=False), min_interval_s=0.0)
    for app in (replica, create_app(settings)):  # a running replica and a new one read the same overlay
        after = by_topic(call(app.test_client(), trial_request)[1]["cards"], "her2-trials")[0]
        offered = after["extension"]["her2cds"]["trials"]
        assert "NCT04704661" in offered and "NCT03929666" in offered
        assert "NCT05253651" not in offered and "NCT05356897" not in offered and "NCT04278144" not in offered
        assert "NCT03365882" in offered  # registry says recruiting
        today = datetime.now(UTC).date().isoformat()
        assert f"registry status on {today}: RECRUITING" in after["detail"]
        assert "NCT05253651 MOUNTAINEER-03: registry status COMPLETED" in after["detail"]
        assert "NCT04278144 BDC-1001 ± nivolumab: not found in the registry" in after["detail"]
        assert "as reported in" not in after["detail"]


def test_replicas_cache_the_overlay_for_the_ttl(tmp_path, registry, knowledge):
    settings = settings_for(tmp_path, registry.url)
    store = Store(settings.database_url)
    reader = OverlayReader(store, 30, ttl_s=3600)
    assert reader.current() is None
    refresh(settings, knowledge, store, min_interval_s=0.0)
    assert reader.current() is None  # cached: no database query inside the TTL
    reader.ttl_s = 0.0
    assert reader.current().trials["NCT05253651"]["overallStatus"] == "COMPLETED"


def test_registry_timeout_leaves_the_previous_overlay(tmp_path, knowledge):
    good = Registry({})
    settings = settings_for(tmp_path, good.url)
    store = Store(settings.database_url)
    refresh(settings, knowledge, store, min_interval_s=0.0)
    good.close()
    previous = store.latest_trial_overlay()
    slow = Registry({}, delay_for="NCT05193292", delay_s=3.0)
    try:
        with pytest.raises(RefreshError, match="NCT05193292: registry not reachable"):
            refresh(settings_for(tmp_path, slow.url), knowledge, store, min_interval_s=0.0, timeout_s=0.5)
    finally:
        slow.close()
    assert store.latest_trial_overlay().id == previous.id
    assert len(store.dump()["trial_overlay"]) == 1


def test_cli_reports_a_network_error_and_keeps_the_overlay(tmp_path, knowledge, monkeypatch, capsys):
    good = Registry({})
    settings = settings_for(tmp_path, good.url)
    refresh(settings, knowledge, Store(settings.database_url), min_interval_s=0.0)
    good.close()
    monkeypatch.setenv("HER2CDS_CTGOV_API_URL", "http://127.0.0.1:9/api/v2")
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    assert main(["trials", "refresh", "--min-interval", "0"]) == 1
    err = capsys.readouterr().err
    assert "her2-cds: error: refresh failed: NCT" in err and "left untouched" in err and "Traceback" not in err
    assert len(Store(settings.database_url).dump()["trial_overlay"]) == 1


def test_cli_refresh_names_missing_trials_and_reports_progress(tmp_path, registry, monkeypatch, capsys, knowledge):
    monkeypatch.setenv("HER2CDS_CTGOV_API_URL", registry.url)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    assert main(["trials", "refresh", "--min-interval", "0"]) == 0
    captured = capsys.readouterr()
    assert "not found in the registry: NCT04278144" in captured.out and "recruiting or not yet recruiting" in captured.out
    assert "her2-cds: asking the registry for NCT04278144" in captured.err
    assert captured.err.count("asking the registry for") == len(knowledge.trials)


def test_export_and_import_carry_the_overlay_to_another_database(tmp_path, registry, monkeypatch, capsys, knowledge):
    """HER2CDS_TRIAL_OVERLAY: the refresh writes a JSON copy; `trials import` stores it elsewhere."""
    exported = tmp_path / "export" / "overlay.json"
    online = settings_for(tmp_path, registry.url, HER2CDS_TRIAL_OVERLAY=str(exported))
    refresh(online, knowledge, Store(online.database_url), min_interval_s=0.0)
    document = json.loads(exported.read_text())
    assert document["trials"]["NCT05253651"]["overallStatus"] == "COMPLETED"
    assert document["missingFromRegistry"] == ["NCT04278144"]
    offline_db = f"sqlite:///{tmp_path}/offline.sqlite3"
    monkeypatch.setenv("DATABASE_URL", offline_db)
    assert main(["trials", "import", str(exported)]) == 0
    assert "registry status of" in capsys.readouterr().out
    request = load_request("crc-ihc3-positive")
    app = create_app(Settings.from_env({"DATABASE_URL": offline_db}))
    offered = by_topic(call(app.test_client(), request)[1]["cards"], "her2-trials")[0]["extension"]["her2cds"]["trials"]
    assert "NCT05253651" not in offered and "NCT04704661" in offered


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not JSON"),
    (json.dumps({"refreshedAt": "2026-11-01T00:00:00", "trials": {}}), "is not a trial overlay"),  # no time zone
    (json.dumps({"refreshedAt": "2026-11-01T00:00:00+00:00", "trials": {"NCT1": {"status": "x"}}}), "is not a trial overlay"),
    (None, "No such file or directory"),
])
def test_import_refuses_a_bad_file_in_one_line(tmp_path, monkeypatch, capsys, content, problem):
    path = tmp_path / "overlay.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    assert main(["trials", "import", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("her2-cds: error: ") and problem in err[-1] and "Traceback" not in "\n".join(err)
    assert Store(f"sqlite:///{tmp_path}/db.sqlite3").latest_trial_overlay() is None


def test_stale_overlay_is_flagged_in_card_and_health(tmp_path, knowledge):
    old = (datetime.now(UTC) - timedelta(days=45)).replace(microsecond=0)
    settings = settings_for(tmp_path, "http://127.0.0.1:9")
    trials = {t["nct"]: {"overallStatus": "RECRUITING", "lastUpdatePostDate": None, "refreshedAt": old.isoformat()}
              for t in knowledge.trials}
    Store(settings.database_url).save_trial_overlay(old, "test", knowledge.version, trials, [])
    app = create_app(settings)
    card = by_topic(call(app.test_client(), load_request("gastric-ihc3"))[1]["cards"], "her2-trials")[0]
    assert "STALE" in card["summary"] and "45 days old" in card["detail"]
    health = app.test_client().get("/healthz").get_json()
    assert health["trialOverlay"]["present"] and health["trialOverlay"]["stale"] is True


def test_knowledge_version_in_discovery_cards_and_audit(tmp_path, knowledge):
    app = create_app(settings_for(tmp_path, "http://127.0.0.1:9"))
    client = app.test_client()
    label = knowledge.version_label
    assert all(label in s["description"] for s in client.get("/cds-services").get_json()["services"])
    cards = call(client, load_request("crc-ihc3-positive"))[1]["cards"]
    assert all(label in c["source"]["label"] for c in cards)
    assert app.extensions["her2cds"]["store"].audits()[-1].knowledge_version == label
