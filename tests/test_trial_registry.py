"""Trial status refresh against a loopback server replaying ClinicalTrials.gov API v2 responses,
the overlay's effect on the cards, staleness, and the reviewer report."""

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
from cds_service.trial_registry import RefreshError, refresh
from tests.conftest import by_topic, call, load_request


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
        "HER2CDS_TRIAL_OVERLAY": str(tmp_path / "overlay.json"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        **extra,
    }
    return Settings.from_env(env)


def test_refresh_writes_the_overlay_from_the_documented_schema(tmp_path, registry, knowledge):
    path, report = refresh(settings_for(tmp_path, registry.url), knowledge, min_interval_s=0.0)
    overlay = json.loads(path.read_text())
    assert overlay["trials"]["NCT04704661"]["overallStatus"] == "RECRUITING"
    assert overlay["trials"]["NCT04704661"]["lastUpdatePostDate"] == "2026-10-01"
    assert overlay["trials"]["NCT05253651"]["overallStatus"] == "COMPLETED"
    assert overlay["trials"]["NCT03929666"]["overallStatus"] == "RECRUITING"  # after a 429
    assert registry.hits["NCT03929666"] == 2
    assert overlay["missingFromRegistry"] == ["NCT04278144"]
    assert len(overlay["trials"]) == len(knowledge.trials) - 1
    assert all(entry["refreshedAt"] == overlay["refreshedAt"] for entry in overlay["trials"].values())
    path_seen, query = registry.seen[0]
    assert path_seen.startswith("/api/v2/studies/NCT") and query["fields"] == ["NCTId,OverallStatus,LastUpdatePostDate"]


def test_cards_follow_the_registry(tmp_path, registry, knowledge):
    settings = settings_for(tmp_path, registry.url)
    request = load_request("crc-ihc2-ish-positive")  # first line: MOUNTAINEER-03 (first-line) is offered
    before = by_topic(call(create_app(settings).test_client(), request)[1]["cards"], "her2-trials")[0]
    assert "NCT05253651" in before["extension"]["her2cds"]["trials"]
    refresh(settings, knowledge, min_interval_s=0.0)
    after = by_topic(call(create_app(settings).test_client(), request)[1]["cards"], "her2-trials")[0]
    offered = after["extension"]["her2cds"]["trials"]
    assert "NCT04704661" in offered and "NCT03929666" in offered
    assert "NCT05253651" not in offered and "NCT05356897" not in offered and "NCT04278144" not in offered
    assert "NCT03365882" in offered  # registry says recruiting
    today = datetime.now(UTC).date().isoformat()
    assert f"registry status on {today}: RECRUITING" in after["detail"]
    assert "NCT05253651 MOUNTAINEER-03: registry status COMPLETED" in after["detail"]
    assert "NCT04278144 BDC-1001 ± nivolumab: not found in the registry" in after["detail"]
    assert "as reported in" not in after["detail"]


def test_registry_timeout_leaves_the_previous_overlay(tmp_path, knowledge):
    good = Registry({})
    settings = settings_for(tmp_path, good.url)
    path, _ = refresh(settings, knowledge, min_interval_s=0.0)
    good.close()
    previous = path.read_text()
    slow = Registry({}, delay_for="NCT05193292", delay_s=3.0)
    try:
        with pytest.raises(RefreshError, match="NCT05193292: registry not reachable"):
            refresh(settings_for(tmp_path, slow.url), knowledge, min_interval_s=0.0, timeout_s=0.5)
    finally:
        slow.close()
    assert path.read_text() == previous


def test_cli_reports_a_network_error_and_keeps_the_overlay(tmp_path, monkeypatch, capsys):
    overlay = tmp_path / "overlay.json"
    overlay.write_text('{"keep": true}')
    monkeypatch.setenv("HER2CDS_CTGOV_API_URL", "http://127.0.0.1:9/api/v2")
    monkeypatch.setenv("HER2CDS_TRIAL_OVERLAY", str(overlay))
    assert main(["trials", "refresh", "--min-interval", "0"]) == 1
    assert "left untouched" in capsys.readouterr().err
    assert overlay.read_text() == '{"keep": true}'


def test_cli_refresh_names_missing_trials(tmp_path, registry, monkeypatch, capsys):
    monkeypatch.setenv("HER2CDS_CTGOV_API_URL", registry.url)
    monkeypatch.setenv("HER2CDS_TRIAL_OVERLAY", str(tmp_path / "o.json"))
    assert main(["trials", "refresh", "--min-interval", "0"]) == 0
    out = capsys.readouterr().out
    assert "not found in the registry: NCT04278144" in out and "recruiting or not yet recruiting" in out


def test_stale_overlay_is_flagged_in_card_and_health(tmp_path, knowledge):
    old = (datetime.now(UTC) - timedelta(days=45)).isoformat(timespec="seconds")
    overlay = {
        "refreshedAt": old,
        "trials": {t["nct"]: {"overallStatus": "RECRUITING", "lastUpdatePostDate": None, "refreshedAt": old} for t in knowledge.trials},
        "missingFromRegistry": [],
    }
    (tmp_path / "overlay.json").write_text(json.dumps(overlay))
    app = create_app(settings_for(tmp_path, "http://127.0.0.1:9"))
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
    assert app.extensions["her2cds"]["store"].audits()[-1].knowledge_version == knowledge.version
