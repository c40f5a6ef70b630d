"""Deployment: hadolint on the Dockerfile, Kubernetes manifests against the schemas, the serve
command everywhere, graceful shutdown under gunicorn, and two replicas sharing one PostgreSQL."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kubernetes_validate
import pytest
import requests
import yaml

from tests.conftest import ROOT, free_port, load_request
from tests.jwt_helpers import Issuer

pytestmark = pytest.mark.slow  # servers, processes, fuzzing, PostgreSQL or the FHIR server

K8S = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"


def readme_serve_command() -> list[str]:
    """The README's install-and-run line, reduced to the command that serves."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(item for item in text.splitlines() if "her2-cds serve" in item and "pip install" in item)
    return Path(line.split("&&")[-1].split()[0]).name.split() + line.split("&&")[-1].split()[1:]


def test_readme_serve_command_is_her2_cds_serve():
    assert readme_serve_command() == ["her2-cds", "serve"]


def test_hadolint_passes():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_hardened_and_serves_like_the_readme():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"python:3\.11-slim@sha256:[0-9a-f]{64}", text), "base image must be pinned by digest"
    assert text.count("FROM ") >= 2 and " AS build" in text
    assert "USER 10001" in text and "HEALTHCHECK" in text and "STOPSIGNAL SIGTERM" in text
    cmd = json.loads(re.search(r'^CMD (\[.*\])$', text, re.M).group(1))
    assert cmd == readme_serve_command()


def manifests() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


@pytest.mark.parametrize("path, doc", manifests(), ids=lambda v: v.name if isinstance(v, Path) else v.get("kind", ""))
def test_manifest_is_valid_kubernetes(path, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomizations_list_existing_files():
    for kustomization in K8S.rglob("kustomization.yaml"):
        data = yaml.safe_load(kustomization.read_text())
        for resource in data["resources"]:
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


def test_manifests_cover_the_deployment_needs():
    kinds = {doc["kind"] for _, doc in manifests()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Job",
            "CronJob", "Ingress"} <= kinds
    deployment = next(doc for _, doc in manifests() if doc["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == readme_serve_command()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz/ready"
    secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
    assert secrets == {"DATABASE_URL", "HER2CDS_PSEUDONYM_KEY"}
    assert deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    job = next(doc for _, doc in manifests() if doc["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["her2-cds", "db", "upgrade"]
    cron = next(doc for _, doc in manifests() if doc["kind"] == "CronJob")
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] == ["her2-cds", "trials", "refresh"]


# ---------------------------------------------------------------- processes on loopback
def start_service(env_extra: dict, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PORT=str(port), HER2CDS_WORKERS="2", HER2CDS_LOG_LEVEL="WARNING",
               PROMETHEUS_MULTIPROC_DIR=str(tmp / f"metrics-{port}"), **env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz/ready", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(proc.stderr.read())


class _SlowFhir(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        time.sleep(1.5)
        body = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_sigterm_lets_in_flight_requests_finish(tmp_path):
    fhir = ThreadingHTTPServer(("127.0.0.1", 0), _SlowFhir)
    threading.Thread(target=fhir.serve_forever, daemon=True).start()
    proc, base = start_service({"HER2CDS_ALLOW_HTTP_FHIR": "1", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}, tmp_path)
    request = load_request("gastric-ihc3")
    del request["prefetch"]["her2Observations"]
    request["fhirServer"] = f"http://127.0.0.1:{fhir.server_address[1]}/fhir"
    result: dict = {}

    def slow_call():
        response = requests.post(f"{base}/cds-services/her2-patient-view", json=request, timeout=20)
        result["status"], result["body"] = response.status_code, response.json()

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.5)  # the call is now waiting on the slow FHIR server
    proc.send_signal(signal.SIGTERM)
    caller.join(timeout=20)
    proc.wait(timeout=30)
    fhir.shutdown()
    assert result["status"] == 200, result
    status = result["body"]["cards"][0]
    assert status["extension"]["her2cds"]["status"] == "not-tested"  # the slow server's bundle is empty
    assert "could not be fetched" not in status["detail"]  # it answered within the budget, after SIGTERM
    assert proc.returncode == 0



def test_two_replicas_share_replay_store_and_feedback(tmp_path, postgres_url):
    issuer = Issuer()
    public = "https://cds.example.org"
    env = {"DATABASE_URL": postgres_url, "HER2CDS_TRUSTED_ISSUERS_FILE": issuer.issuers_file(tmp_path / "issuers.json"),
           "HER2CDS_PUBLIC_BASE_URL": public, "HER2CDS_PSEUDONYM_KEY": "shared-key"}
    a, base_a = start_service(env, tmp_path)
    b, base_b = start_service(env, tmp_path)
    try:
        path = "/cds-services/her2-order-sign"
        request = load_request("crc-ihc3-positive-cetuximab-sign")
        token = issuer.token(public + path)
        first = requests.post(base_a + path, json=request, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert first.status_code == 200
        replay = requests.post(base_b + path, json=request, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert replay.status_code == 401 and replay.json()["error"] == "replayed-jti"
        warning = next(c for c in first.json()["cards"] if c["source"]["topic"]["code"] == "order-warning")
        feedback = {"feedback": [{"card": warning["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00Z",
                                  "overrideReason": {"reason": {"code": "trial-protocol", "system": "urn:her2-cds:override-reason"}}}]}
        fb_path = path + "/feedback"
        stored = requests.post(base_b + fb_path, json=feedback, timeout=10,
                               headers={"Authorization": f"Bearer {issuer.token(public + fb_path)}"})
        assert stored.status_code == 200, stored.text  # B knows the card A issued
        from cds_service.storage import Store

        rows = Store(postgres_url, auto_migrate=False).feedback_for(warning["uuid"])
        assert [r.outcome for r in rows] == ["overridden"]
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.wait(timeout=30)
        issuer.close()


def test_metrics_aggregate_across_gunicorn_workers(tmp_path):
    proc, base = start_service({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}, tmp_path)
    try:
        for _ in range(6):
            requests.post(f"{base}/cds-services/her2-patient-view", json=load_request("gastric-ihc3"), timeout=10)
        text = requests.get(f"{base}/metrics", timeout=10).text
        calls = re.search(r'her2cds_hook_calls_total\{service="her2-patient-view",status="200"\} (\S+)', text)
        assert calls and float(calls.group(1)) == 6.0
        assert "her2cds_hook_latency_seconds_bucket" in text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
