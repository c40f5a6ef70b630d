"""Load benchmark (not a test): the service against its baselines, same server settings, same run.

    python -m bench.run_bench [--seconds 10] [--patients 400] [--compare] [--write docs/benchmarks.md]

On loopback only it starts, each with the configuration `her2-cds serve` uses by default
(cds_service/server.py):
- bare:  an endpoint that only parses the JSON body (`bench.baseline bare`);
- floor: an endpoint that parses it and validates every FHIR resource with fhir.resources, the
  work no hook call can skip (`bench.baseline floor`);
- ours:  `her2-cds serve` itself, default configuration (audit records to SQLite).
With --compare also the threaded configurations (HER2CDS_THREADS=4: the former default of
2 workers x 4 threads; HER2CDS_THREADS=1: 2 sync workers). Each is driven by wrk with
bench/rotate.lua over a pool of distinct order-sign calls (one synthetic patient each, 30
resources of prefetch, no body repeated: bench/workload.py): first 1 connection (idle latency),
then 8 (throughput and tail latency). Needs wrk (Debian package `wrk`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import requests

from bench import workload
from cds_service.server import gunicorn_options
from cds_service.settings import Settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
PATH = "/cds-services/her2-order-sign"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def start(name: str, args: list[str], env: dict, log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=dict(env, PORT=str(port), HOST="127.0.0.1"),
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_up(base: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{base}: the server exited ({proc.returncode})")
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError(f"{base} did not come up")


def worker_times(master: int) -> tuple[int, float, float] | None:
    """(workers, seconds on a CPU, seconds runnable but waiting for one), summed over all threads of the
    server's worker processes (/proc/<pid>/task/*/schedstat); None where the kernel does not say.
    On a shared machine this separates a server that waits (idle) from one that waits for the CPU."""
    try:
        workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        on_cpu = runnable = 0
        for pid in workers:
            for task in Path(f"/proc/{pid}/task").iterdir():
                ran, waited, _ = (task / "schedstat").read_text().split()
                on_cpu, runnable = on_cpu + int(ran), runnable + int(waited)
    except OSError:
        return None
    return len(workers), on_cpu / 1e9, runnable / 1e9


def run_wrk(url: str, body_list: Path, seconds: int, connections: int, master: int | None = None) -> dict:
    """wrk's figures; with `master` (the server's pid) also its workers' CPU time over the run."""
    threads = 1 if connections == 1 else 2
    before, started = (worker_times(master) if master else None), time.monotonic()
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
                          "-s", str(ROOT / "bench" / "rotate.lua"), url], capture_output=True, text=True,
                         env=dict(os.environ, BENCH_LIST=str(body_list)), timeout=seconds + 60).stdout
    line = next(item for item in out.splitlines() if item.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["rps"] = result["requests"] / result["seconds"]
    after = worker_times(master) if master else None
    if before and after and before[0] == after[0]:
        wall = after[0] * (time.monotonic() - started)
        on_cpu, runnable = after[1] - before[1], after[2] - before[2]
        result.update(cpu_ms=1000 * on_cpu / max(result["requests"], 1), share=(on_cpu / wall, runnable / wall,
                                                                                max(0.0, 1 - (on_cpu + runnable) / wall)))
    return result


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="per measurement")
    parser.add_argument("--patients", type=int, default=400, help="distinct patients in the pool (>= 300)")
    parser.add_argument("--compare", action="store_true", help="also the threaded server configurations")
    parser.add_argument("--write", help="write the results into this markdown file (between the bench markers)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="her2cds-bench-"))
    bodies = workload.write_pool(tmp / "pool", args.patients)
    body_list = tmp / "pool.list"
    body_list.write_text("".join(f"{p}\n" for p in bodies))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HER2CDS_") and k not in ("WEB_CONCURRENCY", "PORT", "HOST")}
    env.update(HER2CDS_LOG_LEVEL="WARNING", HER2CDS_PSEUDONYM_KEY="bench", PYTHONPATH=str(ROOT))
    targets = [("bare (parse only)", ["bench.baseline", "bare"], {}),
               ("floor (parse + fhir.resources validation)", ["bench.baseline", "floor"], {}),
               ("ours: her2-cds serve, default", ["cds_service.cli", "serve"], {})]
    if args.compare:
        targets += [("ours: HER2CDS_THREADS=4 (2 x 4 threads)", ["cds_service.cli", "serve"], {"HER2CDS_THREADS": "4"}),
                    ("ours: HER2CDS_THREADS=1 (2 sync workers)", ["cds_service.cli", "serve"], {"HER2CDS_THREADS": "1"})]
    load_before = os.getloadavg()
    results: list[tuple[str, dict, dict]] = []
    try:
        for i, (name, cmd, extra) in enumerate(targets):  # one server at a time: nothing else of ours runs meanwhile
            server_env = dict(env, DATABASE_URL=f"sqlite:///{tmp}/bench-{i}.sqlite3",
                              PROMETHEUS_MULTIPROC_DIR=str(tmp / f"metrics-{i}"), **extra)
            proc, base = start(f"server-{i}", cmd, server_env, tmp)
            try:
                wait_up(base, proc)
                check = requests.post(base + PATH, data=bodies[0].read_bytes(), timeout=30,
                                      headers={"Content-Type": "application/json"})
                assert check.status_code == 200, check.text[:300]
                if cmd[0] == "cds_service.cli":
                    assert check.json()["cards"], "the service answered no card for a relevant order"
                run_wrk(base + PATH, body_list, 2, 8)  # warm-up: imports, first connections, caches of code
                idle = run_wrk(base + PATH, body_list, args.seconds, 1, proc.pid)
                busy = run_wrk(base + PATH, body_list, args.seconds, 8, proc.pid)
                results.append((name, idle, busy))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    text = report(results, args, load_before, load_after)
    print(text)
    if args.write:
        target = Path(args.write)
        old = target.read_text() if target.exists() else ""
        block = f"{START}\n{text}\n{END}"
        target.write_text(old.split(START)[0] + block + old.split(END)[1] if START in old else old + "\n" + block + "\n")
    return 0


def report(results: list[tuple[str, dict, dict]], args: argparse.Namespace, load_before: tuple, load_after: tuple) -> str:
    by_name = {name: (idle, busy) for name, idle, busy in results}
    bare, floor = by_name["bare (parse only)"], by_name["floor (parse + fhir.resources validation)"]
    options = gunicorn_options(Settings.from_env({}))
    lines = [f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; load average "
             f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min). Server settings for all rows unless named: "
             f"gunicorn {version('gunicorn')}, {options['workers']} x {options['worker_class']} workers (gevent "
             f"{version('gevent')}). Pool: {args.patients} distinct order-sign calls, 30 resources each; wrk, "
             f"{args.seconds} s per measurement, on the same machine (loopback)._", "",
             "| server | 1 conn: p50 ms | 1 conn: p99 ms | 8 conn: requests/s | 8 conn: p50 ms | 8 conn: p99 ms | errors "
             "| 8 conn: worker CPU ms per call | 8 conn: workers on CPU / waiting for a CPU / idle |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, idle, busy in results:
        errors = idle["errors"] + idle["non2xx"] + busy["errors"] + busy["non2xx"]
        cpu = f"{busy['cpu_ms']:.2f}" if "cpu_ms" in busy else "—"
        share = " / ".join(f"{x:.0%}" for x in busy["share"]) if "share" in busy else "—"
        lines.append(f"| {name} | {idle['p50']:.1f} | {idle['p99']:.1f} | {busy['rps']:.0f} | {busy['p50']:.1f} | "
                     f"{busy['p99']:.1f} | {errors} | {cpu} | {share} |")
    lines += ["", "| ratio | 8 conn throughput | 1 conn p50 | 8 conn worker CPU per call |", "|---|---|---|---|"]
    for name, idle, busy in results:
        if name.startswith("ours"):
            for base_name, (b_idle, b_busy) in (("floor", floor), ("bare", bare)):
                cpu = f"{busy['cpu_ms'] / b_busy['cpu_ms']:.2f}x" if "cpu_ms" in busy and "cpu_ms" in b_busy else "—"
                lines.append(f"| {name} / {base_name} | {busy['rps'] / b_busy['rps']:.0%} | "
                             f"{idle['p50'] / b_idle['p50']:.2f}x | {cpu} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
