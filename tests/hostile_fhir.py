"""A malicious FHIR server on loopback, for the attack tests and `scripts/attack_figures.py`.

One server plays every attack; the first path segment of the base URL picks it:
`http://127.0.0.1:<port>/<mode>/fhir`. Modes:

- `ok`: a well-behaved server answering every search from the gastric IHC 3+ fixture's prefetch;
- `bomb`: gzip bomb, about 1 MB on the wire expanding to 1 GiB of zeros;
- `huge`: 100 MB of plain JSON, no Content-Length (read until the server closes);
- `huge-length`: the same with a Content-Length;
- `dense[:N]`: the Condition search answers N entries `{"a":1}` (default 2.4 million, 19.2 MB:
  just under the default cap), the JSON that costs most memory per byte to parse; the rest as `ok`;
- `drip`: headers, then one byte every 0.5 s for ever; `drip-headers`: the status line and
  headers themselves one byte every 0.5 s;
- `paging`: every page has a `next` link to another page, without end;
- `redirect-loop`: 302 to itself; `redirect-away:<port>`: 302 to another origin (loopback port);
  `redirect-https`: 302 to https on the same host and port; `redirect-file`: 302 to file:///etc/passwd.

`stats` records what each mode served, how many connections are open, and when the client hung
up on a dripping answer (`closed_at`), so tests can tell that the service stopped reading, and when.
"""
from __future__ import annotations

import copy
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

GIB = 1 << 30
DRIP_INTERVAL_S = 0.5
DENSE_ENTRIES = 2_400_000  # 19.2 MB: just under the default cap
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "requests" / "gastric-ihc3.json"


def fixture_request() -> dict:
    """The HER2-positive gastric fixture (IHC 3+): its prefetch is what the `ok` mode serves."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def request_via(base: str) -> dict:
    """The fixture's patient-view call with no prefetch: every key must come from `base`."""
    request = copy.deepcopy(fixture_request())
    request["prefetch"] = {}
    request["fhirServer"] = base
    request["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/*.read", "subject": "cds"}
    return request


def gzip_bomb(expanded: int = GIB, block: int = 1 << 20) -> bytes:
    """A gzip stream of `expanded` zero bytes, cheap to build: one flushed deflate block repeated.

    A full flush makes each block independent of the ones before it, so the same compressed
    block can be sent again and again. The trailer is left out: no client should get that far.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = compressor.compress(b"\0" * block) + compressor.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + chunk * (expanded // block)


@dataclass
class Stats:
    requests: dict[str, int] = field(default_factory=dict)
    bytes_sent: dict[str, int] = field(default_factory=dict)
    open_connections: int = 0
    closed_at: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str, key: str, amount: int = 1) -> None:
        with self.lock:
            table = getattr(self, name)
            table[key] = table.get(key, 0) + amount


class HostileFhirServer:
    """Start with `HostileFhirServer()`; `base(mode)` gives the fhirServer URL to send."""

    def __init__(self) -> None:
        self.stats = Stats()
        self.bomb = gzip_bomb()
        self.dense: dict[int, bytes] = {}
        self._dense(DENSE_ENTRIES)
        self.prefetch = fixture_request()["prefetch"]
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server.stats.lock:
                    server.stats.open_connections += 1

            def finish(self) -> None:
                with server.stats.lock:
                    server.stats.open_connections -= 1
                try:
                    super().finish()
                except OSError:
                    pass

            def do_GET(self):  # noqa: N802 - http.server API
                mode, _, rest = self.path.lstrip("/").partition("/")
                server.stats.count("requests", mode.split(":")[0])
                try:
                    server.answer(self, mode, rest)
                except (BrokenPipeError, ConnectionResetError):
                    server.stats.closed_at.append(time.monotonic())
                self.close_connection = True

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256  # many fetches connect at once; the default backlog of 5 drops SYNs

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def base(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/fhir"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------ answers
    @staticmethod
    def _head(handler: BaseHTTPRequestHandler, headers: dict, status: int = 200) -> None:
        """Status line and headers (None values left out), flushed."""
        handler.send_response(status)
        for name, value in {"Content-Type": "application/fhir+json", **headers}.items():
            if value is not None:
                handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.flush()

    def _send(self, handler: BaseHTTPRequestHandler, mode: str, body: bytes, headers: dict | None = None,
              status: int = 200) -> None:
        self._head(handler, {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}, status)
        handler.wfile.write(body)
        self.stats.count("bytes_sent", mode, len(body))

    def _stream(self, handler: BaseHTTPRequestHandler, mode: str, pieces, interval: float = 0.0) -> None:
        for piece in pieces:
            handler.wfile.write(piece)
            handler.wfile.flush()
            self.stats.count("bytes_sent", mode, len(piece))
            if interval:
                time.sleep(interval)

    def answer(self, handler: BaseHTTPRequestHandler, mode: str, rest: str) -> None:
        name = mode.split(":")[0]
        if name == "ok":
            return self._send(handler, name, json.dumps(self._search(rest)).encode())
        if name == "bomb":
            self._head(handler, {"Content-Encoding": "gzip", "Content-Length": str(len(self.bomb))})
            return self._stream(handler, name, (self.bomb[i:i + 65536] for i in range(0, len(self.bomb), 65536)))
        if name in ("huge", "huge-length"):
            block = b'{"resource":{"resourceType":"Observation","status":"final"}},' * 1000
            pieces = [b'{"resourceType":"Bundle","entry":[', *(block for _ in range(100_000_000 // len(block))), b'{}]}']
            length = str(sum(len(p) for p in pieces)) if name == "huge-length" else None
            self._head(handler, {"Content-Length": length, "Connection": "close"})
            return self._stream(handler, name, pieces)
        if name == "dense" and "/Condition" in rest:
            return self._send(handler, name, self._dense(int(mode.split(":")[1]) if ":" in mode else DENSE_ENTRIES))
        if name == "dense":
            return self._send(handler, name, json.dumps(self._search(rest)).encode())
        if name == "drip":
            self._head(handler, {"Content-Length": "100000"})
            return self._stream(handler, name, iter(lambda: b" ", None), DRIP_INTERVAL_S)
        if name == "drip-headers":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n" + b"X-Slow: " + b"a" * 100000
            return self._stream(handler, name, (head[i:i + 1] for i in range(len(head))), DRIP_INTERVAL_S)
        if name == "paging":
            page = int(rest.split("page=")[-1]) if "page=" in rest else 0
            link = f"http://127.0.0.1:{self.port}/paging/fhir/Condition?page={page + 1}"
            body = {"resourceType": "Bundle", "type": "searchset", "entry": [], "link": [{"relation": "next", "url": link}]}
            return self._send(handler, name, json.dumps(body).encode())
        if name.startswith("redirect"):
            target = {"redirect-loop": f"http://127.0.0.1:{self.port}/{mode}/{rest}",
                      "redirect-https": f"https://127.0.0.1:{self.port}/{mode}/{rest}",
                      "redirect-file": "file:///etc/passwd"}.get(name)
            if name == "redirect-away":
                target = f"http://127.0.0.1:{mode.split(':')[1]}/ok/fhir/{rest}"
            return self._send(handler, name, b"", {"Location": target}, status=302)
        return self._send(handler, name, b"not found", {"Content-Type": "text/plain"}, status=404)

    def _dense(self, count: int) -> bytes:
        """Built once per size, so a test measuring memory does not count the server's own copy."""
        if count not in self.dense:
            self.dense[count] = b'{"resourceType":"Bundle","type":"searchset","entry":[' + b'{"a":1},' * count + b"{}]}"
        return self.dense[count]

    def _search(self, rest: str) -> dict:
        """The fixture prefetch value for a read or search path (an empty searchset otherwise)."""
        resource_type = urlsplit(rest).path.split("/")[1] if "/" in rest else ""
        key = {"Patient": "patient", "Condition": "conditions", "Observation": "her2Observations",
               "DiagnosticReport": "her2Reports", "MedicationRequest": "medicationRequests",
               "MedicationStatement": "medicationStatements", "Specimen": "specimens"}.get(resource_type)
        value = self.prefetch.get(key) if key else None
        return value or {"resourceType": "Bundle", "type": "searchset", "entry": []}
