"""Benchmark (not a test): one hook call with a 10,000-resource prefetch, in-process.

    python -m bench.large_prefetch [--runs 5]

`tests/test_openapi_and_fuzz.py::test_ten_thousand_resource_prefetch` checks what the answer is;
this measures how long it takes, against the fixture's own small request (the same call without
the 10,000 extra Observations) timed in the same run on the same machine as the baseline.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = "crc-ihc3-positive"


def large_request(extra: int = 10_000) -> dict:
    """The fixture's patient-view request with `extra` unrelated Observations added to its prefetch."""
    import json

    request = json.loads((ROOT / "fixtures" / "requests" / f"{FIXTURE}.json").read_text(encoding="utf-8"))
    entries = request["prefetch"]["her2Observations"]["entry"]
    subject = entries[0]["resource"]["subject"]["reference"]
    request["prefetch"]["her2Observations"]["entry"] = entries + [
        {"resource": {"resourceType": "Observation", "id": f"x{i}", "status": "final",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                      "subject": {"reference": subject}, "valueQuantity": {"value": i}}}
        for i in range(extra)]
    return request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from cds_service.app import create_app
    from cds_service.settings import Settings

    db = Path(tempfile.mkdtemp(prefix="her2cds-bench-")) / "bench.sqlite3"
    client = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{db}", "HER2CDS_LOG_LEVEL": "WARNING"})).test_client()
    rows = []
    for name, request in (("baseline: fixture as is", large_request(0)), ("10,000 extra Observations", large_request())):
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.post("/cds-services/her2-patient-view", json=request)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
        rows.append((name, statistics.median(times), max(times)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.node()}: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
          f"load average {load:.2f}, {args.runs} runs each, in-process (Flask test client)")
    print("| request | median s | max s |\n|---|---|---|")
    for name, median, worst in rows:
        print(f"| {name} | {median:.3f} | {worst:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
