"""The service as a real process (`her2-cds serve`, gunicorn) on loopback, with its memory measured.

Memory is the resident set (RSS) of the whole process tree (master and workers), read from /proc:
`peak_growth()` reports the highest RSS reached since `mark()` minus the RSS at `mark()`, using the
kernel's high-water mark (VmHWM, reset through /proc/PID/clear_refs) and, where that reset is not
permitted, 20 ms sampling.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(pid: int, field: str) -> int:
    """A /proc/PID/status memory field in bytes (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            pids += _tree(int(child))
    return pids


class ServiceProcess:
    """`with ServiceProcess(env) as service:` -> service.url; stopped and reaped on exit."""

    def __init__(self, env: dict[str, str] | None = None, workers: int | None = None, threads: int | None = None) -> None:
        """`workers`/`threads` None: `her2-cds serve`'s own choice (gevent workers when threads is unset)."""
        self.port = _free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="her2cds-svc-")
        full_env = {key: value for key, value in os.environ.items()
                    if key not in ("HER2CDS_WORKERS", "HER2CDS_THREADS", "WEB_CONCURRENCY")}
        full_env |= {"HOST": "127.0.0.1", "PORT": str(self.port), "HER2CDS_PSEUDONYM_KEY": "attack-test",
                     "DATABASE_URL": f"sqlite:///{self.tmp.name}/db.sqlite3", "HER2CDS_LOG_LEVEL": "ERROR",
                     **({"HER2CDS_WORKERS": str(workers)} if workers else {}),
                     **({"HER2CDS_THREADS": str(threads)} if threads else {}), **(env or {})}
        self.log = open(Path(self.tmp.name) / "service.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1"],
                                     cwd=self.tmp.name, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self._sampled = 0
        self._sampling = False
        self._sampler: threading.Thread | None = None
        self._baseline = 0
        self._hwm_reset = False

    def __enter__(self) -> ServiceProcess:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("service did not start within 60 s")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._sampling = False
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        self.tmp.cleanup()

    # ------------------------------------------------------------------ memory
    def rss(self) -> int:
        return sum(_status(pid, "VmRSS") for pid in _tree(self.proc.pid))

    def mark(self) -> None:
        """Start measuring: baseline RSS now, high-water marks reset, sampling on."""
        self._baseline = self.rss()
        try:
            for pid in _tree(self.proc.pid):
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            self._hwm_reset = True
        except OSError:
            self._hwm_reset = False
        self._sampled = self._baseline
        self._sampling = True

        def sample() -> None:
            while self._sampling:
                self._sampled = max(self._sampled, self.rss())
                time.sleep(0.02)

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def peak_growth(self) -> int:
        """Highest RSS of the tree since mark(), minus the RSS at mark() (bytes)."""
        self._sampling = False
        if self._sampler:
            self._sampler.join()
        peak = self._sampled
        if self._hwm_reset:
            peak = max(peak, sum(_status(pid, "VmHWM") for pid in _tree(self.proc.pid)))
        return peak - self._baseline
