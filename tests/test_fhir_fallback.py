"""Prefetch vs FHIR-server fallback against a real FHIR search engine (Medplum, in-memory), on loopback."""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest
import requests

from cds_service import fhir_client
from cds_service.app import create_app
from cds_service.settings import Settings
from tests.conftest import FIXTURES, ROOT, call, status_ext

pytestmark = pytest.mark.slow  # servers, processes, fuzzing, PostgreSQL or the FHIR server

SERVER_DIR = ROOT / "tests" / "fhir_server"
TOKEN = "test-token-123"
REQUESTS = sorted(p.stem for p in (FIXTURES / "requests").glob("*.json"))


@pytest.fixture(scope="module")
def fhir_server():
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir() or not shutil.which("node"):
        message = "Medplum FHIR server not installed: run `npm ci --prefix tests/fhir_server`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.Popen(["node", "server.mjs", "--fixtures", str(FIXTURES / "patients"), "--token", TOKEN],
                            cwd=SERVER_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("LISTENING"), proc.stderr.read()
    port = int(line.split()[1])
    base = f"http://127.0.0.1:{port}"
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def control(base: str, **settings) -> None:
    defaults = {"delayMs": 0, "failNext": 0, "failStatus": 503, "mode": "normal"}
    requests.post(f"{base}/__control", json={**defaults, **settings}, timeout=5).raise_for_status()


def server_log(base: str) -> list[dict]:
    return requests.get(f"{base}/__log", timeout=5).json()


@pytest.fixture()
def server(fhir_server):
    control(fhir_server)
    yield fhir_server
    control(fhir_server)


def make_client(**env):
    settings = Settings.from_env({"HER2CDS_ALLOW_HTTP_FHIR": "1", **env})
    return create_app(settings).test_client()


def without_prefetch(request: dict, base: str, keep: tuple[str, ...] = ()) -> dict:
    request = copy.deepcopy(request)
    request["prefetch"] = {k: v for k, v in request["prefetch"].items() if k in keep}
    request["fhirServer"] = f"{base}/fhir"
    request["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/*.read", "subject": "cds-service"}
    return request


def comparable(cards: list[dict]) -> str:
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "uuid"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return json.dumps(strip(cards), sort_keys=True)


@pytest.mark.parametrize("name", REQUESTS)
def test_same_cards_via_prefetch_and_via_fhir_server(server, name):
    client = make_client()
    request = json.loads((FIXTURES / "requests" / f"{name}.json").read_text())
    code_a, by_prefetch = call(client, request)
    code_b, by_server = call(client, without_prefetch(request, server))
    assert code_a == code_b == 200
    assert comparable(by_server["cards"]) == comparable(by_prefetch["cards"])


def test_queries_are_real_fhir_searches_with_the_bearer_token(server):
    before = len(server_log(server))
    request = json.loads((FIXTURES / "requests" / "crc-ras-mutant.json").read_text())
    code, body = call(make_client(), without_prefetch(request, server))
    assert code == 200 and status_ext(body["cards"])["status"] == "positive"
    sent = server_log(server)[before:]
    paths = sorted(entry["url"].split("?")[0] for entry in sent)
    assert paths == ["/fhir/Condition", "/fhir/DiagnosticReport", "/fhir/MedicationRequest", "/fhir/MedicationStatement",
                     "/fhir/Observation", "/fhir/Patient/crc-ras", "/fhir/Specimen"]
    assert all(entry["method"] == "GET" and entry["auth"] == f"Bearer {TOKEN}" for entry in sent)
    observation = unquote(next(e["url"] for e in sent if e["url"].startswith("/fhir/Observation")))
    assert "patient=Patient/crc-ras&code=http://loinc.org|18474-7,http://loinc.org|85319-2" in observation


def test_paging_through_next_links(server, monkeypatch):
    monkeypatch.setattr(fhir_client, "PAGE_SIZE", 2)
    before = len(server_log(server))
    request = json.loads((FIXTURES / "requests" / "crc-ras-mutant.json").read_text())
    code, by_server = call(make_client(), without_prefetch(request, server))
    _, by_prefetch = call(make_client(), request)
    assert comparable(by_server["cards"]) == comparable(by_prefetch["cards"])
    offsets = [e["url"] for e in server_log(server)[before:] if "_offset=" in e["url"]]
    assert any(u.startswith("/fhir/Observation") and "_offset=4" in u for u in offsets)


def _timed_call(client, request):
    started = time.monotonic()
    code, body = call(client, request)
    return code, body, time.monotonic() - started


def fallback_reasons(caplog) -> set[str]:
    """The reasons the fallback logged (the client only ever sees fhir_client.unavailable())."""
    return {r.reason for r in caplog.records if r.getMessage() == "FHIR fallback failed"}


BUDGET_S = 1  # HER2CDS_FHIR_BUDGET_S of the budget test
HOLD_S = 20  # how long the test server holds each answer in that test


def test_slow_server_answers_within_the_budget(server, caplog):
    # The budget is the behaviour: the server holds each answer HOLD_S, so an answer within 10x the
    # budget (half of HOLD_S, a margin no loaded machine reaches) was cut by the budget, not the server.
    control(server, delayMs=HOLD_S * 1000)
    request = json.loads((FIXTURES / "requests" / "crc-ihc3-positive.json").read_text())
    client = make_client(HER2CDS_FHIR_BUDGET_S=str(BUDGET_S))
    code, body, elapsed = _timed_call(client, without_prefetch(request, server))
    assert code == 412 and elapsed < 10 * BUDGET_S
    assert body["reason"] == "cannot assess: " + fhir_client.unavailable("conditions")
    assert fallback_reasons(caplog) == {"time budget of 1 s spent"}
    code, body, elapsed = _timed_call(client, without_prefetch(request, server, keep=("conditions",)))
    assert code == 200 and elapsed < 10 * BUDGET_S
    status = body["cards"][0]
    assert status["extension"]["her2cds"]["status"] == "indeterminate"
    assert fhir_client.unavailable("her2Observations") in status["detail"]


def test_stopped_server_fails_fast(server, caplog):
    request = json.loads((FIXTURES / "requests" / "crc-ihc3-positive.json").read_text())
    dead = without_prefetch(request, "http://127.0.0.1:9")
    # a refused connection ends the fetch at once, not at the budget: half of a 60 s budget is a wide margin
    budget_s = 60
    code, body, elapsed = _timed_call(make_client(HER2CDS_FHIR_BUDGET_S=str(budget_s)), dead)
    assert code == 412 and elapsed < budget_s / 2
    assert body["reason"] == "cannot assess: " + fhir_client.unavailable("conditions")
    assert fallback_reasons(caplog) == {"connection failed (ConnectionRefusedError)"}


@pytest.mark.parametrize("mode, logged", [("401", "HTTP 401"), ("html", "response is not JSON"),
                                          ("not-fhir", "response is not a FHIR resource")])
def test_unusable_server_answers_read_the_same_and_are_logged(server, caplog, mode, logged):
    control(server, mode=mode)
    request = json.loads((FIXTURES / "requests" / "crc-ihc3-positive.json").read_text())
    code, body = call(make_client(), without_prefetch(request, server, keep=("conditions",)))
    assert code == 200
    assert fhir_client.unavailable("her2Observations") in body["cards"][0]["detail"]
    assert logged not in json.dumps(body)
    assert logged in fallback_reasons(caplog)


def test_wrong_token_is_not_authorised(server, caplog):
    request = without_prefetch(json.loads((FIXTURES / "requests" / "crc-ihc3-positive.json").read_text()), server)
    request["fhirAuthorization"]["access_token"] = "wrong"
    code, body = call(make_client(), request)
    assert code == 412 and body["reason"] == "cannot assess: " + fhir_client.unavailable("conditions")
    assert "HTTP 401" in fallback_reasons(caplog)


def test_transient_5xx_is_retried(server):
    control(server, failNext=2, failStatus=503)
    request = json.loads((FIXTURES / "requests" / "gastric-ihc3.json").read_text())
    code, body = call(make_client(), without_prefetch(request, server))
    assert code == 200 and status_ext(body["cards"])["status"] == "positive"


def test_http_server_refused_unless_allowed(server):
    request = without_prefetch(json.loads((FIXTURES / "requests" / "gastric-ihc3.json").read_text()), server)
    code, body = call(create_app(Settings.from_env({})).test_client(), request)
    assert code == 412 and "must use https" in body["reason"]


def test_patient_id_that_is_not_a_fhir_id_is_never_put_in_a_url(server):
    request = without_prefetch(json.loads((FIXTURES / "requests" / "gastric-ihc3.json").read_text()), server)
    request["context"]["patientId"] = "x&_include=*"
    before = len(server_log(server))
    code, body = call(make_client(), request)
    assert code == 412 and "not a FHIR id" in body["reason"]
    assert server_log(server)[before:] == []


class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.2:1/fhir/Condition")
        self.end_headers()

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # all keys connect at once; the default backlog of 5 drops SYNs under load


def test_redirect_to_another_host_is_refused(caplog):
    httpd = _Server(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        request = without_prefetch(json.loads((FIXTURES / "requests" / "gastric-ihc3.json").read_text()), base)
        code, body = call(make_client(), request)
        assert code == 412 and body["reason"] == "cannot assess: " + fhir_client.unavailable("conditions")
        assert fallback_reasons(caplog) == {"redirect to another origin refused"}
    finally:
        httpd.shutdown()


def test_registered_base_urls_only_when_configured():
    fetcher = fhir_client.FhirFetcher(Settings.from_env({}), allowed_bases=["https://ehr.example.org/fhir"])
    assert fetcher.check_server("https://ehr.example.org/fhir/") == "https://ehr.example.org/fhir"
    with pytest.raises(fhir_client.FallbackRefused, match="not registered"):
        fetcher.check_server("https://evil.example.net/fhir")
    with pytest.raises(fhir_client.FallbackRefused, match="credentials"):
        fhir_client.FhirFetcher(Settings.from_env({})).check_server("https://user:pw@ehr.example.org/fhir")
