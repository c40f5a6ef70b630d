"""Figures for docs/security.md (#17): the service under a hostile FHIR server, measured in one run.

    .venv/bin/python scripts/attack_figures.py [--seconds 10] [--write docs/security.md]

Everything runs on loopback: the service as a real process (`her2-cds serve`, gunicorn) and the
malicious FHIR server of the attack tests (`tests/hostile_fhir.py`) plus a well-behaved one on
another port (the "healthy EHR"). Measured:

1. memory: peak RSS growth of the service's process tree per scenario (a fresh service each,
   one gevent worker, warmed up first): a healthy fallback call, gzip bomb, 100 MB plain body
   (one call and sixteen concurrent calls), and the JSON that costs most to parse, over and just
   under the token allowance;
2. starvation: healthy-EHR calls/s and latency (closed loop, 4 clients) with no attack, then
   while 8 clients keep calling with a fhirServer that drips one byte every 0.5 s;
3. reading after the answer: when the dripping server sees its connections closed, relative to
   the moment the service answered the EHR.

The machine's load average is printed with the figures: rerun on a quiet machine for the record.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_service.discovery import PREFETCH  # noqa: E402
from tests.hostile_fhir import HostileFhirServer, request_via  # noqa: E402
from tests.service_process import ServiceProcess  # noqa: E402

PV = "/cds-services/her2-patient-view"
MB = 1_000_000
START, END = "<!-- attack-figures:start -->", "<!-- attack-figures:end -->"


def post(service: ServiceProcess, base: str, timeout: float = 120) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.post(service.url + PV, json=request_via(base), timeout=timeout)
    return response.status_code, time.monotonic() - started


def memory(hostile: HostileFhirServer, healthy: HostileFhirServer) -> list[str]:
    rows = ["| scenario | calls | answers | peak RSS growth of the service | seconds |", "|---|---|---|---|---|"]
    scenarios = [(f"healthy fallback ({len(PREFETCH)} queries)", "ok", 1, healthy), ("gzip bomb, 1 GiB expanded", "bomb", 1, hostile),
                 ("gzip bomb, 1 GiB expanded", "bomb", 16, hostile), ("plain body, 100 MB, no length", "huge", 1, hostile),
                 ("plain body, 100 MB, no length", "huge", 16, hostile),
                 ("19.2 MB of `{\"a\":1}` entries (costliest JSON to parse, 7.2 M tokens)", "dense", 1, hostile),
                 ("330,000 such entries (0.99 M tokens, just inside the token allowance)", "dense:330000", 1, hostile)]
    for label, mode, calls, server in scenarios:
        with ServiceProcess({"HER2CDS_ALLOW_HTTP_FHIR": "1"}, workers=1) as service:
            for _ in range(3):
                post(service, healthy.base("ok"))
            service.mark()
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=calls) as pool:
                futures = [pool.submit(post, service, server.base(mode)) for _ in range(calls)]
                answers = [f.result()[0] for f in futures]
            elapsed = time.monotonic() - started
            growth = service.peak_growth()
        summary = ", ".join(f"{answers.count(c)}x {c}" for c in sorted(set(answers)))
        rows.append(f"| {label} | {calls} | {summary} | {growth / MB:.0f} MB | {elapsed:.1f} |")
        print(rows[-1], flush=True)
    return rows


def closed_loop(service: ServiceProcess, base: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        while time.monotonic() < stop:
            try:
                code, took = post(service, base, timeout=30)
            except requests.RequestException:
                code, took = 0, 0.0
            with lock:
                if code == 200:
                    latencies.append(took)
                else:
                    errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {"rate": len(latencies) / seconds, "errors": errors,
            "p50": statistics.median(latencies) * 1000 if latencies else float("nan"),
            "p95": latencies[int(0.95 * (len(latencies) - 1))] * 1000 if latencies else float("nan")}


def starvation(hostile: HostileFhirServer, healthy: HostileFhirServer, seconds: float) -> list[str]:
    rows = ["| healthy EHR load (4 clients, fallback for every key) | calls/s | p50 ms | p95 ms | failed calls |",
            "|---|---|---|---|---|"]
    with ServiceProcess({"HER2CDS_ALLOW_HTTP_FHIR": "1"}) as service:
        for _ in range(5):
            post(service, healthy.base("ok"))
        quiet = closed_loop(service, healthy.base("ok"), 4, seconds)
        rows.append(f"| no attack | {quiet['rate']:.1f} | {quiet['p50']:.0f} | {quiet['p95']:.0f} | {quiet['errors']} |")
        print(rows[-1], flush=True)
        attack_stop = threading.Event()
        attack_answers: list[int] = []

        def attacker() -> None:
            while not attack_stop.is_set():
                try:
                    attack_answers.append(post(service, hostile.base("drip"), timeout=30)[0])
                except requests.RequestException:
                    attack_answers.append(0)

        attackers = [threading.Thread(target=attacker) for _ in range(8)]
        for t in attackers:
            t.start()
        time.sleep(1.0)
        loaded = closed_loop(service, healthy.base("ok"), 4, seconds)
        attack_stop.set()
        for t in attackers:
            t.join()
        rows.append(f"| while 8 clients call with a dripping fhirServer (1 byte / 0.5 s) | {loaded['rate']:.1f} | "
                    f"{loaded['p50']:.0f} | {loaded['p95']:.0f} | {loaded['errors']} |")
        print(rows[-1], flush=True)
        rows.append(f"\nThe 8 attacking clients got {len(attack_answers)} answers, "
                    f"{attack_answers.count(412)} of them 412 (uniform reason) after the 3 s budget; "
                    f"service: `her2-cds serve` defaults (gevent workers).")
    return rows


def reading_after_answer(hostile: HostileFhirServer) -> list[str]:
    with ServiceProcess({"HER2CDS_ALLOW_HTTP_FHIR": "1"}, workers=1) as service:
        before_closed = len(hostile.stats.closed_at)
        before_requests = hostile.stats.requests.get("drip", 0)
        started = time.monotonic()
        code, _ = post(service, hostile.base("drip"))
        answered = time.monotonic()
        opened = hostile.stats.requests.get("drip", 0) - before_requests
        while len(hostile.stats.closed_at) - before_closed < opened and time.monotonic() < answered + 30:
            time.sleep(0.02)
        closed = hostile.stats.closed_at[before_closed:]
    last = max(closed) - answered if closed else float("nan")
    return [f"A call whose fhirServer drips 1 byte / 0.5 s was answered {code} after {answered - started:.2f} s "
            f"(budget 3 s); the server saw all {len(closed)} of {opened} connections closed at most {last:.2f} s "
            f"after that answer (it notices on its next write, every 0.5 s)."]


def render(seconds: float, load_before: tuple, load_after: tuple, parts: list[list[str]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"_Measured {when} on {platform.node()}: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"load average {load_before[0]:.2f} before and {load_after[0]:.2f} after (1 min; other test "
            f"suites share this machine), {seconds:g} s per load phase. Command: "
            f"`.venv/bin/python scripts/attack_figures.py --seconds {seconds:g} --write docs/security.md`._")
    titles = ["Memory per call under attack", "Healthy EHR under fallback starvation", "Reading after the answer"]
    body = [head]
    for title, rows in zip(titles, parts, strict=True):
        body += ["", f"**{title}**", "", *rows]
    return "\n".join(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase")
    parser.add_argument("--write", type=Path, help="replace the figures block of this markdown file")
    args = parser.parse_args()
    hostile, healthy = HostileFhirServer(), HostileFhirServer()
    load_before = os.getloadavg()
    try:
        parts = [memory(hostile, healthy), starvation(hostile, healthy, args.seconds), reading_after_answer(hostile)]
    finally:
        hostile.close()
        healthy.close()
    text = render(args.seconds, load_before, os.getloadavg(), parts)
    print(text)
    if args.write:
        doc = args.write.read_text(encoding="utf-8")
        if START not in doc or END not in doc:
            raise SystemExit(f"{args.write} has no {START} ... {END} block")
        head, rest = doc.split(START, 1)
        args.write.write_text(head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
