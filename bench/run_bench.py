"""Load benchmark (not a test): the service vs a bare Flask endpoint, same gunicorn settings, same run.

    python -m bench.run_bench [--seconds 10] [--connections 8] [--write docs/benchmarks.md]

Starts, on loopback only: the service (`gunicorn cds_service.wsgi:app`), a bare Flask app returning
a fixed {"cards": []} (`gunicorn bench.bare_app:app`) with identical worker settings, and the Medplum
test FHIR server. Drives each with wrk (bounded by --seconds) and prints throughput and
p50/p95/p99 latency, with the ratio ours/bare. Needs wrk (Debian package `wrk`) and Node.js.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench import workload

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, "p50": %.3f, "p95": %.3f, "p99": %.3f}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""
WRK_GET_SCRIPT = WRK_SCRIPT.replace('wrk.method = "POST"', 'wrk.method = "GET"').replace(
    'wrk.body = f:read("*a")', 'wrk.body = nil; f:read("*a")').replace(
    'wrk.headers["Content-Type"] = "application/json"', 'wrk.headers["Authorization"] = "Bearer bench-token"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def gunicorn(app: str, port: int, workers: int, threads: int, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--threads", str(threads), "--log-level", "warning"]
    log = open(Path(tempfile.gettempdir()) / f"her2cds-bench-{port}.log", "w")  # noqa: SIM115 - lives with the process
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def run_wrk(url: str, body: Path | None, seconds: int, connections: int, script: str = WRK_SCRIPT) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    env = dict(os.environ, BENCH_BODY=str(body) if body else os.devnull)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", fh.name, url],
                         capture_output=True, text=True, env=env, timeout=seconds + 30).stdout
    line = next(item for item in out.splitlines() if item.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--write", help="write the results table into this markdown file")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="her2cds-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        ours_port, bare_port = free_port(), free_port()
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3", HER2CDS_LOG_LEVEL="WARNING",
                   HER2CDS_ALLOW_HTTP_FHIR="1", HER2CDS_PSEUDONYM_KEY="bench", PYTHONPATH=str(ROOT))
        procs.append(gunicorn("cds_service.wsgi:app", ours_port, args.workers, args.threads, env))
        procs.append(gunicorn("bench.bare_app:app", bare_port, args.workers, args.threads, env))
        fhir = subprocess.Popen(["node", "server.mjs", "--fixtures", str(ROOT / "fixtures" / "patients"), "--token", "bench-token"],
                                cwd=ROOT / "tests" / "fhir_server", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(fhir)
        fhir_port = int(fhir.stdout.readline().split()[1])
        ours, bare, fhir_base = (f"http://127.0.0.1:{p}" for p in (ours_port, bare_port, fhir_port))
        wait_http(f"{ours}/healthz")
        wait_http(bare)
        bodies = {}
        for name, request in (("patient-view", workload.patient_view()), ("order-sign", workload.order_sign()),
                              ("no-prefetch", workload.no_prefetch(f"{fhir_base}/fhir"))):
            bodies[name] = tmp / f"{name}.json"
            bodies[name].write_text(json.dumps(request))
        rows = []
        bare_result = run_wrk(bare, bodies["order-sign"], args.seconds, args.connections)
        rows.append(("bare Flask {\"cards\": []} (order-sign body)", bare_result, None))
        for name, path in (("patient-view", "her2-patient-view"), ("order-sign", "her2-order-sign"),
                           ("no-prefetch patient-view", "her2-patient-view")):
            key = "no-prefetch" if name.startswith("no-prefetch") else name
            check = requests.post(f"{ours}/cds-services/{path}", data=bodies[key].read_bytes(),
                                  headers={"Content-Type": "application/json"}, timeout=10)
            assert check.status_code == 200 and check.json()["cards"], check.text[:300]
            result = run_wrk(f"{ours}/cds-services/{path}", bodies[key], args.seconds, args.connections)
            rows.append((name, result, result["rps"] / bare_result["rps"]))
        query = ("/fhir/Observation?patient=Patient/crc-ras&code=http://loinc.org|18474-7,http://loinc.org|69548-6"
                 "&_count=100")
        direct = run_wrk(fhir_base + query, None, args.seconds, args.connections, WRK_GET_SCRIPT)
        rows.append(("Medplum FHIR server alone (one Observation search)", direct, None))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    table = ["| workload | requests/s | p50 ms | p95 ms | p99 ms | errors | ours/bare throughput |",
             "|---|---|---|---|---|---|---|"]
    for name, r, ratio in rows:
        table.append(f"| {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p95']:.2f} | {r['p99']:.2f} | "
                     f"{r['errors'] + r['non2xx']} | {'' if ratio is None else f'{ratio:.0%}'} |")
    no_prefetch = next(r for n, r, _ in rows if n.startswith("no-prefetch"))
    machine = (f"{platform.node()}: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
               f"gunicorn {args.workers} workers x {args.threads} threads, wrk 2 threads x {args.connections} connections, "
               f"{args.seconds} s per workload, all on one machine (loopback)")
    summary = (f"no-prefetch p50 / FHIR server p50 = {no_prefetch['p50'] / direct['p50']:.1f}x "
               f"(the hook makes 6 parallel searches)")
    print(machine)
    print("\n".join(table))
    print(summary)
    if args.write:
        target = Path(args.write)
        text = target.read_text() if target.exists() else ""
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        block = f"{start}\n_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine}._\n\n" \
                + "\n".join(table) + f"\n\n{summary}\n{end}"
        text = text.split(start)[0] + block + text.split(end)[1] if start in text else text + "\n" + block + "\n"
        target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
