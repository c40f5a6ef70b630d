"""Slow-client attack (loopback only, bounded): trickle headers or bodies byte by byte on many
connections while normal hook calls go on, and measure both sides.

    python -m bench.slow_clients [--connections 256] [--seconds 30] [--interval 0.5] [--url URL]

Without --url it starts `her2-cds serve` (its default configuration) on a free loopback port. For
each mode (slow headers, slow bodies) it opens N connections that send one byte every --interval
seconds and never finish, and meanwhile sends normal order-sign calls one after another. It reports
the normal calls' latency (p50/p95/max, failures) and how many trickling connections the server
closed, and after how long. The figures go into docs/benchmarks.md by hand (with the machine).
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench import workload
from bench.run_bench import wait_up

ROOT = Path(__file__).resolve().parent.parent
PATH = "/cds-services/her2-order-sign"


@dataclass
class Trickler:
    """N connections that each send one more byte every `interval` seconds and never complete."""

    host: str
    port: int
    count: int
    mode: str  # "headers" or "bodies"
    interval: float = 0.5
    opened_at: dict[int, float] = field(default_factory=dict)
    closed_after: list[float] = field(default_factory=list)
    refused: int = 0

    def _prefix(self) -> bytes:
        if self.mode == "headers":  # the request line, then headers that never end
            return f"POST {PATH} HTTP/1.1\r\nHost: {self.host}\r\n".encode()
        return (f"POST {PATH} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: 100000\r\n\r\n{{").encode()

    def run(self, stop: threading.Event) -> None:
        sel = selectors.DefaultSelector()
        socks: list[socket.socket] = []
        for _ in range(self.count):
            sock = socket.socket()
            sock.settimeout(5)
            try:
                sock.connect((self.host, self.port))
                sock.sendall(self._prefix())
            except OSError:
                self.refused += 1
                sock.close()
                continue
            sock.setblocking(False)
            self.opened_at[sock.fileno()] = time.monotonic()
            sel.register(sock, selectors.EVENT_READ)
            socks.append(sock)
        filler = b"X-Trickle: " if self.mode == "headers" else b" "
        step = 0
        while not stop.is_set() and socks:
            for key, _ in sel.select(timeout=0):  # readable: the server answered (408/400) or closed
                self._closed(key.fileobj, sel, socks)
            byte = filler[step % len(filler):step % len(filler) + 1] if self.mode == "headers" else filler
            for sock in list(socks):
                try:
                    sock.send(byte)
                except OSError:
                    self._closed(sock, sel, socks)
            step += 1
            stop.wait(self.interval)
        for sock in socks:
            sock.close()

    def _closed(self, sock: socket.socket, sel: selectors.BaseSelector, socks: list[socket.socket]) -> None:
        if sock not in socks:
            return
        try:
            while sock.recv(65536):  # drain an error response; b"" means closed
                pass
        except BlockingIOError:
            return  # data but not closed yet
        except OSError:
            pass
        self.closed_after.append(time.monotonic() - self.opened_at[sock.fileno()])
        sel.unregister(sock)
        socks.remove(sock)
        sock.close()


def normal_calls(base: str, bodies: list[bytes], stop: threading.Event, timeout: float = 30) -> list[tuple[int, float]]:
    """Order-sign calls one after another until `stop`: [(status or 0 for a failure, seconds)]."""
    results = []
    i = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            status = requests.post(base + PATH, data=bodies[i % len(bodies)], timeout=timeout,
                                   headers={"Content-Type": "application/json", "Connection": "close"}).status_code
        except requests.RequestException:
            status = 0
        results.append((status, time.monotonic() - started))
        i += 1
        stop.wait(0.1)
    return results


def attack(base: str, connections: int, mode: str, seconds: float, interval: float = 0.5) -> dict:
    """Trickle on `connections` sockets for `seconds` while normal calls go on; the figures."""
    split = urlsplit(base)
    bodies = [json.dumps(r).encode() for r in workload.pool(50, seed=7)]
    trickler = Trickler(split.hostname or "127.0.0.1", split.port or 80, connections, mode, interval)
    stop = threading.Event()
    thread = threading.Thread(target=trickler.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(min(2.0, seconds / 4))  # the trickling connections are open before normal calls start
    calls_stop = threading.Event()
    results: list[tuple[int, float]] = []
    caller = threading.Thread(target=lambda: results.extend(normal_calls(base, bodies, calls_stop)), daemon=True)
    caller.start()
    time.sleep(seconds)
    calls_stop.set()
    caller.join(timeout=60)
    stop.set()
    thread.join(timeout=30)
    ok = sorted(t for s, t in results if s == 200)
    return {"mode": mode, "connections": connections, "refused": trickler.refused, "seconds": seconds,
            "calls": len(results), "ok": len(ok), "failed": len(results) - len(ok),
            "p50_ms": round(statistics.median(ok) * 1000, 1) if ok else None,
            "p95_ms": round(ok[int(len(ok) * 0.95) - 1] * 1000, 1) if len(ok) >= 20 else None,
            "max_ms": round(ok[-1] * 1000, 1) if ok else None,
            "closed_by_server": len(trickler.closed_after),
            "closed_after_s_min": round(min(trickler.closed_after), 1) if trickler.closed_after else None,
            "closed_after_s_max": round(max(trickler.closed_after), 1) if trickler.closed_after else None}


def start_serve(env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`her2-cds serve` on a free loopback port (its default configuration unless `env` says otherwise)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="her2cds-slow-"))
    full_env = dict(os.environ, PORT=str(port), HER2CDS_LOG_LEVEL="WARNING", DATABASE_URL=f"sqlite:///{tmp}/db.sqlite3",
                    PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"), **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--host", "127.0.0.1"], cwd=ROOT,
                            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base, proc)
    except RuntimeError:
        proc.kill()
        raise
    return proc, base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service (loopback only); default: start her2-cds serve")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between two bytes on each connection")
    parser.add_argument("--modes", default="headers,bodies")
    args = parser.parse_args()
    proc = None
    base = args.url
    if base is None:
        proc, base = start_serve()
    elif urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")
    try:
        for mode in args.modes.split(","):
            print(json.dumps(attack(base, args.connections, mode, args.seconds, args.interval)), flush=True)
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
