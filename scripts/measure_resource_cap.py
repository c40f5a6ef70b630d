"""How the cost of one hook call grows with the resources it carries (sizes HER2CDS_MAX_RESOURCES_PER_CALL).

In-process (Flask test client, no HTTP server), patient-view, colorectal patient whose prefetch
carries N HER2 observations (IHC and ISH, distinct ids and dates) and N/4 medication statements;
every run uses fresh ids, so the validation cache never answers. Prints CPU milliseconds per call.

    .venv/bin/python scripts/measure_resource_cap.py [N ...]
"""
from __future__ import annotations

import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cds_service.app import create_app  # noqa: E402
from cds_service.settings import Settings  # noqa: E402
from tests import fhir_builders as b  # noqa: E402

RUN = itertools.count()


def request_with(n: int) -> dict:
    run = next(RUN)
    pid = "cap"
    observations = []
    for i in range(n):
        date = f"20{10 + i % 14:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        obs = b.ihc(pid, ["0", "1+", "2+", "3+"][i % 4], 10 + i % 80, date=date) if i % 2 else b.ish(pid, 1.0 + i % 7, date=date)
        obs["id"] = f"r{run}-o{i}"
        observations.append(obs)
    history = [b.medication(pid, "FOLFOX", date="2023-01-01", mid=f"r{run}-m{i}") for i in range(n // 4)]
    resources = [b.patient(pid), b.crc(pid), b.liver_mets(pid), *observations, *history]
    return b.hook_request("patient-view", pid, resources)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [30, 250, 500, 1000, 2000, 4000]
    db = Path(tempfile.mkdtemp(prefix="her2cds-cap-")) / "db.sqlite3"
    client = create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{db}", "HER2CDS_MAX_RESOURCES_PER_CALL": "1000000",
                                           "HER2CDS_LOG_LEVEL": "WARNING"})).test_client()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| resources in the call | CPU ms per call (median of 3) | per resource |")
    print("|---:|---:|---:|")
    for n in sizes:
        costs = []
        for _ in range(3):
            request = request_with(n)
            total = sum(len(v["entry"]) if v.get("resourceType") == "Bundle" else 1 for v in request["prefetch"].values())
            started = time.process_time()
            response = client.post("/cds-services/her2-patient-view", json=request)
            costs.append((time.process_time() - started) * 1000)
            assert response.status_code == 200, response.get_data()[:300]
        median = statistics.median(costs)
        print(f"| {total} | {median:.0f} | {median / total:.2f} |")


if __name__ == "__main__":
    main()
