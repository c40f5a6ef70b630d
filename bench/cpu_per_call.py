"""CPU per hook call, in-process (no HTTP server, no load generator): figures that do not depend on
how busy the machine is, to compare the service with the floor and a change with the one before.

    python -m bench.cpu_per_call [--calls 300] [--only ours|floor] [--profile FILE]
    python -m bench.cpu_per_call --instructions [--calls 30]    # under valgrind: instructions per call

Builds a pool of distinct order-sign calls (bench/workload.py: one synthetic patient each, 30
resources, no body repeated), then calls each WSGI app directly with a prepared environ and
reports `time.process_time` per call (mean, median of 5 rounds over the pool). The floor is
bench/bare_app.py's endpoint (parse + fhir.resources validation of every resource); ours is the
service's app with an SQLite database (audit records written). Warm-up calls use other patients,
so the validation cache never answers.

CPU time still varies with what else runs (caches, frequency). `--instructions` runs each app
under valgrind's callgrind (Debian package `valgrind`) for one round and reports the instructions
executed by the measured calls alone (the same patients every time, so two versions of the code
compare exactly); it takes about 3 minutes, most of it valgrind starting Python.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.pool import ThreadPool
from pathlib import Path

from werkzeug.test import EnvironBuilder

from bench import workload

PATH = "/cds-services/her2-order-sign"


def pool(n: int, seed: int) -> list[bytes]:
    """n distinct order-sign bodies; patient (and so resource) ids differ between seeds too."""
    rng = random.Random(seed)
    return [json.dumps(workload.order_sign_for(f"cpu{seed}-{i:04d}", rng), separators=(",", ":")).encode()
            for i in range(n)]


def environs(bodies: list[bytes]) -> list[dict]:
    return [EnvironBuilder(path=PATH, method="POST", data=body, content_type="application/json").get_environ()
            for body in bodies]


def call(app: Callable, environ: dict) -> int:
    status = []
    for _ in app(environ, lambda s, h, e=None: status.append(s)):
        pass
    return int(status[0].split()[0])


def build(which: str) -> Callable:
    if which == "floor":
        from bench.bare_app import floor

        return floor
    from cds_service.app import create_app
    from cds_service.settings import Settings

    db = Path(tempfile.mkdtemp(prefix="her2cds-cpu-")) / "db.sqlite3"
    return create_app(Settings.from_env({"DATABASE_URL": f"sqlite:///{db}", "HER2CDS_LOG_LEVEL": "WARNING",
                                         "HER2CDS_PSEUDONYM_KEY": "bench"}))


def measure(app: Callable, bodies: list[bytes], rounds: int, profile: cProfile.Profile | None = None) -> list[float]:
    """CPU ms per call, one figure per round over all `bodies` (fresh environs each round)."""
    per_round = []
    for _ in range(rounds):
        envs = environs(bodies)
        if profile:
            profile.enable()
        os.getppid()  # marks the start of the measured calls for callgrind (--dump-before=os_getppid)
        started = time.process_time()
        for environ in envs:
            status = call(app, environ)
            assert status == 200, status
        per_round.append((time.process_time() - started) * 1000 / len(envs))
        os.getppid()  # ... and their end
        if profile:
            profile.disable()
    return per_round


def instructions(which: str, calls: int, folder: Path) -> float:
    """Instructions per call of `which`, counted by callgrind between the marks `measure` sets."""
    out = folder / f"{which}.callgrind"
    subprocess.run(["valgrind", "--tool=callgrind", "--dump-before=os_getppid", f"--callgrind-out-file={out}",
                    sys.executable, "-m", "bench.cpu_per_call", "--calls", str(calls), "--rounds", "1", "--only", which],
                   check=True, capture_output=True)
    # Parts: .1 start-up, .2 warm-up calls, .3 between the rounds, .4 the measured calls, then the rest.
    totals = next(line for line in (folder / f"{which}.callgrind.4").read_text().splitlines() if line.startswith("totals:"))
    return int(totals.split()[1]) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="distinct patients per round (the pool)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["ours", "floor"])
    parser.add_argument("--profile", help="write a cProfile of the measured calls here (with --only)")
    parser.add_argument("--instructions", action="store_true", help="count instructions per call under callgrind")
    args = parser.parse_args()
    if args.instructions:
        folder = Path(tempfile.mkdtemp(prefix="her2cds-callgrind-"))
        try:
            with ThreadPool(2) as pool_:  # one valgrind per app, side by side
                counts = pool_.map(lambda which: instructions(which, args.calls, folder), ["floor", "ours"])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        for which, count in zip(["floor", "ours"], counts, strict=True):
            print(f"{which}: {count / 1e6:.2f} M instructions per call ({args.calls} calls)")
        print(f"ours / floor: {counts[1] / counts[0]:.2f}; floor / ours: {counts[0] / counts[1]:.0%}")
        return 0
    # More patients than the validation cache holds across rounds: each round's resources are new to it.
    pools = [pool(args.calls, seed) for seed in range(args.rounds + 1)]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.calls} distinct order-sign calls per round, {args.rounds} rounds",
          file=sys.stderr)
    for which in [args.only] if args.only else ["floor", "ours"]:
        app = build(which)
        measure(app, pools[0][:20], 1)  # warm-up: imports, first-call caches, with patients not measured
        profile = cProfile.Profile() if args.profile else None
        costs = []
        for seed in range(1, args.rounds + 1):
            costs += measure(app, pools[seed], 1, profile)
        if profile:
            profile.dump_stats(args.profile)
        print(f"{which}: CPU ms per call: median {statistics.median(costs):.2f}, min {min(costs):.2f}, "
              f"max {max(costs):.2f} ({args.rounds} rounds of {args.calls})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
