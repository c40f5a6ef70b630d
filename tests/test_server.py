"""`her2-cds serve`: its gunicorn configuration, start checks before listening, one pseudonym key for
all workers, and slow clients (loopback, bounded) that neither stall normal calls nor stay open."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from bench.slow_clients import attack
from cds_service.server import check_in_child, gunicorn_options, with_shared_pseudonym_key
from cds_service.settings import Settings
from tests.conftest import ROOT, answer_json, free_port, load_request


def test_default_is_gevent_workers_one_request_per_connection_with_read_deadline():
    options = gunicorn_options(Settings.from_env({}))
    assert options["worker_class"] == "gevent" and options["workers"] == 2
    assert options["keepalive"] == 10  # the async worker's deadline for a request's line and headers
    assert options["timeout"] == 30 and options["graceful_timeout"] == 20


def test_overrides_workers_threads_and_timeouts():
    env = {"WEB_CONCURRENCY": "3", "HER2CDS_THREADS": "4", "HER2CDS_TIMEOUT_S": "60", "HER2CDS_GRACEFUL_TIMEOUT_S": "5"}
    options = gunicorn_options(Settings.from_env(env))
    assert (options["workers"], options["worker_class"], options["threads"]) == (3, "gthread", 4)
    assert (options["timeout"], options["graceful_timeout"]) == (60, 5)
    assert gunicorn_options(Settings.from_env({"HER2CDS_WORKERS": "5", "WEB_CONCURRENCY": "3"}))["workers"] == 5
    assert gunicorn_options(Settings.from_env({"HER2CDS_THREADS": "1"}))["worker_class"] == "sync"
    assert gunicorn_options(Settings.from_env({"HER2CDS_READ_TIMEOUT_S": "3"}))["keepalive"] == 3


def test_local_mode_draws_one_key_and_keeps_a_configured_one():
    drawn = with_shared_pseudonym_key(Settings.from_env({}))
    assert drawn.pseudonym_key and len(drawn.pseudonym_key) == 64
    assert with_shared_pseudonym_key(drawn).pseudonym_key == drawn.pseudonym_key
    assert with_shared_pseudonym_key(Settings.from_env({"HER2CDS_PSEUDONYM_KEY": "k"})).pseudonym_key == "k"


def test_start_checks_run_in_a_child_and_report_one_line():
    assert check_in_child(lambda: None) is None

    def failing() -> None:
        import requests  # noqa: F401 - what the real checks import; it must stay out of this process

        raise ValueError("HER2CDS_X must be\n a number")

    before = "urllib3" in sys.modules
    assert check_in_child(failing) == ("HER2CDS_X must be a number", 1)
    assert ("urllib3" in sys.modules) == before

    class Refused(Exception):
        exit_status = 2

    def refused() -> None:
        raise Refused("refusing to start")

    assert check_in_child(refused) == ("refusing to start", 2)  # the error's own exit status


def _serve(env: dict, tmp_path) -> subprocess.Popen:
    full = dict(os.environ, HER2CDS_LOG_LEVEL="WARNING", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
                PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"), **env)
    return subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1"], cwd=ROOT, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> list[int]:
    return [int(c) for c in (Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def _wait_ready(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if requests.get(f"{base}/healthz/ready", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError("server did not start")


@pytest.mark.slow
@pytest.mark.parametrize("env, message", [
    ({"HER2CDS_TIMEOUT_S": "soon"}, "HER2CDS_TIMEOUT_S"),
    ({"HER2CDS_KNOWLEDGE_DIR": "/nonexistent/knowledge"}, "her2-cds: error: knowledge files: "),
])
def test_bad_configuration_is_one_line_and_nothing_listens(tmp_path, env, message):
    port = free_port()
    proc = _serve({"PORT": str(port), **env}, tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], err
    assert "Listening at" not in err


@pytest.mark.slow
def test_workers_share_one_pseudonym_key_also_after_a_respawn(tmp_path):
    port = free_port()
    proc = _serve({"PORT": str(port), "HER2CDS_WORKERS": "2"}, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc)
        request = load_request("gastric-ihc3")
        for _ in range(6):  # connections close after each answer, so calls spread over both workers
            assert requests.post(f"{base}/cds-services/her2-patient-view", json=request, timeout=30).status_code == 200
        for worker in _children(proc.pid):  # kill each original worker in turn: the master respawns them
            os.kill(worker, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while worker in _children(proc.pid) or len(_children(proc.pid)) < 2:
                assert time.monotonic() < deadline, "no respawn"
                time.sleep(0.3)
        _wait_ready(base, proc)
        for _ in range(6):
            assert requests.post(f"{base}/cds-services/her2-patient-view", json=request, timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    from cds_service.storage import Store

    audits = Store(f"sqlite:///{tmp_path}/db.sqlite3", auto_migrate=False).audits()
    assert len(audits) == 12
    assert len({a.patient_key for a in audits}) == 1



def test_accepted_connections_send_without_nagle_delay():
    """gunicorn's listener sets TCP_NODELAY and accepted sockets inherit it: a response's headers and
    body (two writes) never wait for the client's delayed ACK."""
    import logging
    import socket

    from gunicorn.config import Config
    from gunicorn.sock import create_sockets

    config, port = Config(), free_port()
    config.set("bind", f"127.0.0.1:{port}")
    listener = create_sockets(config, logging.getLogger("gunicorn.error"))[0]
    try:
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        listener.close()


@pytest.mark.slow
def test_a_worker_serving_calls_runs_one_os_thread(tmp_path):
    """No OS thread competes with the calls of a gevent worker for the GIL: nothing starts one at import
    or when a call is answered from its prefetch (the fallback's event loop is made on first use)."""
    port = free_port()
    proc = _serve({"PORT": str(port), "HER2CDS_WORKERS": "2"}, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc)
        for _ in range(6):  # one connection per call: both workers serve some
            answer = requests.post(f"{base}/cds-services/her2-patient-view", json=load_request("gastric-ihc3"), timeout=30)
            assert answer.status_code == 200
        assert {len(list(Path(f"/proc/{worker}/task").iterdir())) for worker in _children(proc.pid)} == {1}
    finally:
        proc.terminate()
        proc.wait(timeout=60)

SLOW_CONNECTIONS = 256  # per mode, as in issue 17; bench/slow_clients.py measures the latency figures
READ_TIMEOUT_S = 3


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["headers", "bodies"])
def test_slow_clients_do_not_stall_normal_calls_and_are_closed(tmp_path, mode):
    port = free_port()
    proc = _serve({"PORT": str(port), "HER2CDS_READ_TIMEOUT_S": str(READ_TIMEOUT_S),
                   "HER2CDS_PSEUDONYM_KEY": "test"}, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc)
        figures = attack(base, SLOW_CONNECTIONS, mode, seconds=4 * READ_TIMEOUT_S, interval=0.25)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert figures["refused"] == 0
    assert figures["calls"] >= 5 and figures["failed"] == 0, figures  # every normal call answered (30 s client timeout)
    assert figures["closed_by_server"] == SLOW_CONNECTIONS, figures  # all trickling connections were closed ...
    assert figures["closed_after_s_min"] >= READ_TIMEOUT_S * 0.9, figures  # ... by the read deadline, not before
    assert figures["closed_after_s_max"] <= READ_TIMEOUT_S * 3, figures


class _HeldFhir(BaseHTTPRequestHandler):
    """A FHIR server that answers only when the test releases it (an empty searchset)."""

    release = threading.Event()
    waiting = 0
    lock = threading.Lock()

    def do_GET(self):  # noqa: N802
        with _HeldFhir.lock:
            _HeldFhir.waiting += 1
        _HeldFhir.release.wait(timeout=60)
        answer_json(self, {"resourceType": "Bundle", "type": "searchset", "entry": []})

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_calls_waiting_on_a_fhir_server_do_not_hold_the_workers(tmp_path):
    """More fallback calls than workers wait on a FHIR server; prefetch calls are still answered."""
    fhir = ThreadingHTTPServer(("127.0.0.1", 0), _HeldFhir)
    threading.Thread(target=fhir.serve_forever, daemon=True).start()
    port = free_port()
    proc = _serve({"PORT": str(port), "HER2CDS_ALLOW_HTTP_FHIR": "1", "HER2CDS_FHIR_BUDGET_S": "60",
                   "HER2CDS_PSEUDONYM_KEY": "test"}, tmp_path)
    base = f"http://127.0.0.1:{port}"
    waiting_calls = 4  # the default has 2 workers
    slow_request = load_request("gastric-ihc3")
    del slow_request["prefetch"]["her2Observations"]
    slow_request["fhirServer"] = f"http://127.0.0.1:{fhir.server_address[1]}/fhir"
    statuses: list[int] = []
    try:
        _wait_ready(base, proc)
        callers = [threading.Thread(target=lambda: statuses.append(requests.post(
            f"{base}/cds-services/her2-patient-view", json=slow_request, timeout=90).status_code)) for _ in range(waiting_calls)]
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 60
        while _HeldFhir.waiting < waiting_calls:
            assert time.monotonic() < deadline, "the fallback calls did not reach the FHIR server"
            time.sleep(0.1)
        for _ in range(4):  # answered while every fallback call is still held
            response = requests.post(f"{base}/cds-services/her2-patient-view", json=load_request("gastric-ihc3"), timeout=30)
            assert response.status_code == 200 and response.json()["cards"]
        assert statuses == [] and not _HeldFhir.release.is_set()
        _HeldFhir.release.set()
        for caller in callers:
            caller.join(timeout=90)
        assert statuses == [200] * waiting_calls
    finally:
        _HeldFhir.release.set()
        fhir.shutdown()
        proc.terminate()
        proc.wait(timeout=60)
