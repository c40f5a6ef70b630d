"""FHIR-server fallback: fetch the prefetch keys the EHR did not send, bounded in time, bytes and connections.

- **Deadline.** All network work runs on one asyncio event loop per process (aiohttp). The budget
  `HER2CDS_FHIR_BUDGET_S` is a real deadline on the whole fetch: when it ends, every query of the
  call is cancelled wherever it is (DNS, connect, TLS, headers, body, redirect, next page) and its
  connection closed. Nothing reads on after the EHR has been answered.
- **Size.** Bodies are streamed and decompressed here (gzip, deflate), counting bytes *after*
  decompression against `HER2CDS_FHIR_MAX_RESPONSE_BYTES`: the cap holds for each response and
  for all responses of one hook call together (keys and pages share it), so one call never
  holds more than the cap in FHIR JSON. No body is held whole before it has been counted.
  Parsing is bounded too: a call's bodies may hold at most `MAX_JSON_TOKENS` JSON tokens
  (counted as `{ [ , :` before parsing), so the parsed objects stay within about 64 bytes a token
  (~64 MB) even for the densest valid JSON; FHIR data runs at about 10 bytes a token. Calls wait
  on FHIR servers side by side (gevent workers), so what they hold together is bounded as well:
  one FHIR server's calls at most one call's worth, the process `PROCESS_SHARES` calls' worth.
- **Bulkhead.** At most `MAX_CONNECTIONS_PER_SERVER` of the process's `MAX_CONNECTIONS`
  connections go to one FHIR server (scheme, host, port): a slow server holds only its share.
- Pooled keep-alive connections, retries on connection errors and 5xx, keys in parallel,
  `Bundle.link[next]` paging up to `MAX_PAGES`; redirects and next links only to the same origin;
  no cookies, no proxies from the environment.
- **SSRF.** https only (unless `HER2CDS_ALLOW_HTTP_FHIR=1`, local development), only registered
  bases when issuers are trusted, patient ids that are FHIR ids; a base that is neither registered
  nor allowed by the development switch is connected to only at public addresses, checked after
  DNS resolution (`netguard`).
- Every network failure reads the same to the caller (`unavailable()`): no closed-port, TLS,
  timeout or not-JSON oracle. The log says why, without patient data.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from .netguard import DestinationRefused, GuardedResolver, check_host
from .settings import Settings
from .validation import HookRequest

log = logging.getLogger("her2cds.fhir")
FHIR_ID = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9\-.]{1,64}$")
MAX_PAGES = 10
PAGE_SIZE = 100
MAX_REDIRECTS = 3
RETRIES = 2  # after the first try, on connection errors and RETRY_STATUSES
RETRY_STATUSES = frozenset({500, 502, 503, 504})
BACKOFF_S = 0.05
CONNECT_TIMEOUT_S = 1.0  # one connection attempt, so that a retry still fits in the budget
MAX_CONNECTIONS = 64  # per process
MAX_CONNECTIONS_PER_SERVER = 8  # per (scheme, host, port): the bulkhead
MAX_JSON_TOKENS = 1_000_000  # per hook call; ~10 MB of typical FHIR JSON
PROCESS_SHARES = 4  # the process holds at most 4 calls' worth of bytes and tokens; one FHIR server, 1
GRACE_S = 1.0  # the loop ends each query at the deadline; this only covers a loop that is stalled
REDIRECTS = frozenset({301, 302, 303, 307, 308})
INFLATE_STEP = 256 * 1024  # zlib builds each output in blocks and copies them once: keep each small


class FallbackRefused(Exception):
    """The fhirServer may not be used (scheme, allow-list, patient id)."""


class FetchFailed(Exception):
    """One query failed. The message goes to the log only; the caller reads `unavailable()`."""


def unavailable(key: str) -> str:
    """The one reason given for a key the FHIR server did not supply, whatever went wrong."""
    return f"'{key}' was not prefetched and could not be obtained from the FHIR server"


def fallback_query(template: str, patient_id: str) -> str:
    """A prefetch template as a search to send: the patient as a typed reference, a page size."""
    query = template.replace("patient={{context.patientId}}", "patient=Patient/{{context.patientId}}")
    query = query.replace("{{context.patientId}}", quote(patient_id, safe=""))
    if "?" in query:
        query += f"&_count={PAGE_SIZE}"
    return query


def _origin(url: URL) -> tuple[str | None, str | None, int | None]:
    return url.scheme.lower(), (url.host or "").lower(), url.port


def _url(text: str, base: URL | None = None) -> URL:
    try:
        url = URL(text)
        return base.join(url) if base is not None and not url.is_absolute() else url
    except (ValueError, TypeError):
        raise FetchFailed("unparseable URL in a redirect or next link") from None


class _Inflater:
    """Content-Encoding decoded here, never producing more than the byte limit allows."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        wbits = {"": None, "identity": None, "gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
                 "deflate": zlib.MAX_WBITS}
        if encoding not in wbits:
            raise FetchFailed(f"unsupported Content-Encoding {encoding[:20]!r}")
        self.wbits = wbits[encoding]
        self._d = zlib.decompressobj(self.wbits) if self.wbits is not None else None

    def feed(self, data: bytes, limit: int) -> Iterator[bytes]:
        """The decoded bytes of `data` in pieces, decompressing no further than `limit` + 1 bytes."""
        if self._d is None:
            yield data
            return
        produced = 0
        while data and produced <= limit:
            try:
                piece = self._d.decompress(data, min(limit - produced + 1, INFLATE_STEP))
            except zlib.error:
                raise FetchFailed("corrupt compressed body") from None
            produced += len(piece)
            yield piece
            if self._d.eof and self._d.unused_data:  # a further gzip member
                data = self._d.unused_data
                self._d = zlib.decompressobj(self.wbits)
            else:
                data = self._d.unconsumed_tail

    def finish(self) -> None:
        if self._d is not None and not self._d.eof:
            raise FetchFailed("truncated compressed body")


class _Pool:
    """Bytes and JSON tokens the fallback may hold at once: for one FHIR server, or for the process.

    Under gevent workers many calls wait on FHIR servers at once; these pools bound what they hold
    together, and a server's own pool keeps one hostile server from taking the process's share.
    """

    def __init__(self, name: str, max_bytes: int, tokens: int) -> None:
        self.name, self.bytes, self.tokens = name, max_bytes, tokens


class _Allowance:
    """What one hook call may still read (bytes after decompression) and parse (JSON tokens).

    Its keys and pages share it, and every byte and token also counts against the pools of its
    FHIR server and of the process: bytes until the body is parsed, tokens until the call's
    fallback is over. All of it runs on the event loop's thread, so no locks.
    """

    def __init__(self, total: int, pools: tuple[_Pool, ...]) -> None:
        self.total = self.left = total
        self.tokens_left = MAX_JSON_TOKENS
        self.pools = pools
        self.held_tokens = 0

    def room(self) -> int:
        return max(0, min(self.left, *(pool.bytes for pool in self.pools)))

    def take_bytes(self, n: int) -> None:
        """Count `n` more bytes; FetchFailed when the call's cap or a pool is exceeded."""
        self.left -= n
        for pool in self.pools:
            pool.bytes -= n
        if self.left < 0:
            raise FetchFailed(f"responses exceed the {self.total}-byte cap after decompression")
        for pool in self.pools:
            if pool.bytes < 0:
                raise FetchFailed(f"the {pool.name}'s share of fallback memory is in use")

    def give_back_bytes(self, n: int) -> None:
        """A body was parsed or dropped: its bytes no longer count against the pools."""
        for pool in self.pools:
            pool.bytes += n

    def spend_tokens(self, pieces: list[bytes]) -> None:
        """Count a body's JSON tokens (an upper bound, at C speed) before it is joined and parsed."""
        tokens = sum(piece.count(c) for piece in pieces for c in (b"{", b"[", b",", b":"))
        self.tokens_left -= tokens
        if self.tokens_left < 0:
            raise FetchFailed(f"responses hold more than {MAX_JSON_TOKENS} JSON tokens")
        if any(pool.tokens < tokens for pool in self.pools):
            raise FetchFailed("the fallback's share of parsed data is in use")
        self.held_tokens += tokens
        for pool in self.pools:
            pool.tokens -= tokens

    def release(self) -> None:
        """The call's fallback is over: its parsed data no longer counts against the pools."""
        for pool in self.pools:
            pool.tokens += self.held_tokens
        self.held_tokens = 0


def _fhir_json(body: bytes) -> dict:
    """A FHIR resource from a response body (runs in a worker thread: parsing is CPU work)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchFailed("response is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FetchFailed("response is not a FHIR resource")
    if data["resourceType"] == "OperationOutcome":
        raise FetchFailed("server answered with an OperationOutcome")
    return data


class _Network:
    """The process's event loop (in a daemon thread) and its two pooled HTTP sessions.

    `trusted` sessions serve registered bases and local development; the other one resolves
    through the SSRF guard. Re-created in a forked child (gunicorn workers).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._pools: dict[Any, _Pool] = {}  # per origin, and "process"

    def get_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                loop.set_default_executor(ThreadPoolExecutor(max_workers=16, thread_name_prefix="fhir-io"))
                threading.Thread(target=loop.run_forever, name="fhir-fallback", daemon=True).start()
                if self.loop is None:
                    atexit.register(self.close)
                self.loop, self._pid, self._sessions, self._pools = loop, os.getpid(), {}, {}
            return self.loop

    def pools(self, origin: tuple, max_bytes: int) -> tuple[_Pool, _Pool]:
        """The pools of this FHIR server and of the process (call on the loop)."""
        if "process" not in self._pools:
            self._pools["process"] = _Pool("process", PROCESS_SHARES * max_bytes, PROCESS_SHARES * MAX_JSON_TOKENS)
        if origin not in self._pools:
            if len(self._pools) > 1024:  # forget idle servers' pools (all their bytes and tokens are back)
                idle = [k for k, p in self._pools.items() if k != "process" and p.tokens == MAX_JSON_TOKENS
                        and p.bytes == max_bytes]
                for key in idle:
                    del self._pools[key]
            self._pools[origin] = _Pool("FHIR server", max_bytes, MAX_JSON_TOKENS)
        return self._pools[origin], self._pools["process"]

    def close(self) -> None:
        """Close this process's sessions (at exit), so no connection is left half-open."""
        loop, sessions = self.loop, list(self._sessions.values())
        if loop is None or self._pid != os.getpid() or not loop.is_running() or not sessions:
            return

        async def close_all() -> None:
            for session in sessions:
                await session.close()

        try:
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=2)
        except Exception:  # noqa: BLE001 - best effort at interpreter exit
            pass

    def session(self, trusted: bool) -> aiohttp.ClientSession:
        """The pooled session (call on the loop)."""
        if trusted not in self._sessions:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=MAX_CONNECTIONS_PER_SERVER,
                                             resolver=None if trusted else GuardedResolver())
            self._sessions[trusted] = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S))
        return self._sessions[trusted]


NETWORK = _Network()


class FhirFetcher:
    """Callable used by data_access.gather: (request, {key: template}) -> (values, failures)."""

    def __init__(self, settings: Settings, allowed_bases: list[str] | None = None) -> None:
        self.budget = settings.fhir_budget_s
        self.allow_http = settings.allow_http_fhir
        self.max_bytes = settings.fhir_max_response_bytes
        self.allowed_bases = [b.rstrip("/") for b in allowed_bases] if allowed_bases else None

    def check_server(self, server: str, allowed_bases: list[str] | None = None) -> str:
        """The base URL to use, or FallbackRefused saying why."""
        parts = urlsplit(server)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise FallbackRefused("fhirServer is not an http(s) URL")
        if parts.scheme == "http" and not self.allow_http:
            raise FallbackRefused("fhirServer must use https (HER2CDS_ALLOW_HTTP_FHIR is off)")
        if parts.username or parts.password:
            raise FallbackRefused("fhirServer must not carry credentials")
        base = server.rstrip("/")
        allowed = allowed_bases if allowed_bases is not None else self.allowed_bases
        if allowed is not None and base not in {b.rstrip("/") for b in allowed}:
            raise FallbackRefused("fhirServer is not registered for this EHR")
        return base

    def __call__(self, request: HookRequest, templates: dict[str, str],
                 allowed_bases: list[str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
        started = time.monotonic()
        try:
            base = self.check_server(request.fhir_server or "", allowed_bases)
            if not FHIR_ID.match(request.patient_id):
                raise FallbackRefused("context.patientId is not a FHIR id; it cannot be put in a query")
            base_url = URL(base)
        except (FallbackRefused, ValueError) as exc:
            why = str(exc) if isinstance(exc, FallbackRefused) else "fhirServer is not a valid URL"
            log.warning("FHIR fallback refused", extra={"reason": why})
            return {}, {key: f"'{key}' was not prefetched and {why}" for key in templates}
        registered = allowed_bases is not None or self.allowed_bases is not None  # check_server passed
        trusted = self.allow_http or registered
        queries = {key: fallback_query(t, request.patient_id) for key, t in templates.items()}
        outcomes = self._run(base_url, queries, request.access_token, trusted, started + self.budget)
        values = {key: value for key, (value, _) in outcomes.items() if value is not None}
        for key, (_, why) in outcomes.items():
            if why is not None:
                log.warning("FHIR fallback failed", extra={"key": key, "host": base_url.host, "reason": why})
        return values, {key: unavailable(key) for key, (_, why) in outcomes.items() if why is not None}

    def _run(self, base: URL, queries: dict[str, str], token: str | None, trusted: bool,
             deadline: float) -> dict[str, tuple[Any, str | None]]:
        """Run the queries on the loop; each ends by `deadline` (time.monotonic)."""
        if not trusted:
            try:
                check_host(base.host or "")
            except DestinationRefused as exc:
                return {key: (None, f"destination refused: {exc.why}") for key in queries}
        remaining = max(0.0, deadline - time.monotonic())
        future = asyncio.run_coroutine_threadsafe(self._fetch_all(base, queries, token, trusted, remaining),
                                                  NETWORK.get_loop())
        try:
            return future.result(timeout=remaining + GRACE_S)
        except FutureTimeout:
            future.cancel()
            return {key: (None, "event loop stalled past the deadline") for key in queries}

    # ------------------------------------------------------------------ on the loop
    async def _fetch_all(self, base: URL, queries: dict[str, str], token: str | None, trusted: bool,
                         remaining: float) -> dict[str, tuple[Any, str | None]]:
        when = asyncio.get_running_loop().time() + remaining
        session = NETWORK.session(trusted)
        allowance = _Allowance(self.max_bytes, NETWORK.pools(_origin(base), self.max_bytes))
        headers = {"Accept": "application/fhir+json, application/json", "Accept-Encoding": "gzip, deflate"}
        if token:
            headers["Authorization"] = f"Bearer {token}"

        async def one(query: str) -> tuple[Any, str | None]:
            try:
                async with asyncio.timeout_at(when):
                    return await self._fetch(session, base, query, headers, allowance), None
            except TimeoutError:
                return None, f"time budget of {self.budget:g} s spent"
            except FetchFailed as exc:
                return None, str(exc)
            except aiohttp.ClientError as exc:
                return None, f"HTTP exchange failed ({type(exc).__name__})"
            except Exception as exc:  # noqa: BLE001 - a server's answer must never turn into a 500
                log.exception("FHIR fallback: unexpected error", extra={"host": base.host})
                return None, f"unexpected error ({type(exc).__name__})"

        try:
            results = await asyncio.gather(*(one(q) for q in queries.values()))
        finally:
            allowance.release()
        return dict(zip(queries, results, strict=True))

    async def _fetch(self, session: aiohttp.ClientSession, base: URL, query: str, headers: dict,
                     allowance: _Allowance) -> Any:
        """One key: a read, or a search with its next pages merged into one searchset Bundle."""
        origin = _origin(base)
        page, url = await self._get(session, _url(f"{base}/{query}"), headers, origin, allowance)
        if "?" not in query:  # a read, e.g. Patient/123
            return page
        if page["resourceType"] != "Bundle":
            raise FetchFailed("search did not return a Bundle")
        entries = list(page.get("entry") or [])
        pages = 1
        while pages < MAX_PAGES:
            next_link = next((item.get("url") for item in page.get("link") or []
                              if isinstance(item, dict) and item.get("relation") == "next"), None)
            if not isinstance(next_link, str) or not next_link:
                break
            next_url = _url(next_link, url)
            if _origin(next_url) != origin:
                raise FetchFailed("next link to another origin refused")
            page, url = await self._get(session, next_url, headers, origin, allowance)
            if page.get("resourceType") != "Bundle":
                raise FetchFailed("next page is not a Bundle")
            entries += page.get("entry") or []
            pages += 1
        if pages == MAX_PAGES and any(isinstance(item, dict) and item.get("relation") == "next"
                                      for item in page.get("link") or []):
            log.warning("FHIR paging cap reached", extra={"pages": pages})
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries}

    async def _get(self, session: aiohttp.ClientSession, url: URL, headers: dict, origin: tuple,
                   allowance: _Allowance) -> tuple[dict, URL]:
        """(resource, final URL) of one GET, following same-origin redirects."""
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._send(session, url, headers)
            async with response:
                if response.status in REDIRECTS:
                    url = _url(response.headers.get("Location", ""), url)
                    if _origin(url) != origin:
                        raise FetchFailed("redirect to another origin refused")
                    continue
                if response.status != 200:
                    raise FetchFailed(f"HTTP {response.status}")
                pieces = await self._read(response, allowance)
            size = sum(len(piece) for piece in pieces)
            try:
                allowance.spend_tokens(pieces)
                body = b"".join(pieces)
                del pieces[:]
                return await asyncio.to_thread(_fhir_json, body), url
            finally:
                allowance.give_back_bytes(size)
        raise FetchFailed("too many redirects")

    async def _send(self, session: aiohttp.ClientSession, url: URL, headers: dict) -> aiohttp.ClientResponse:
        """The response to a GET, retrying connection errors and 5xx."""
        why = "no attempt"
        for attempt in range(RETRIES + 1):
            if attempt:
                await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                response = await session.get(url, headers=headers, allow_redirects=False)
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, DestinationRefused):
                    raise FetchFailed(f"destination refused: {exc.os_error.why}") from None
                if isinstance(exc, aiohttp.ClientSSLError):  # retrying will not mend a certificate
                    raise FetchFailed(f"TLS failed ({type(exc).__name__})") from None
                why = f"connection failed ({type(exc.os_error).__name__})"
                continue
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:  # e.g. a stale keep-alive
                why = f"connection failed ({type(exc).__name__})"
                continue
            if response.status in RETRY_STATUSES and attempt < RETRIES:
                response.release()
                why = f"HTTP {response.status}"
                continue
            return response
        raise FetchFailed(why)

    @staticmethod
    async def _read(response: aiohttp.ClientResponse, allowance: _Allowance) -> list[bytes]:
        """The body in pieces, decompressed and counted as it streams in; FetchFailed past the allowance."""
        inflater = _Inflater(response.headers.get("Content-Encoding", ""))
        if inflater.wbits is None and (response.content_length or 0) > allowance.left:
            raise FetchFailed(f"responses exceed the {allowance.total}-byte cap (Content-Length)")
        pieces: list[bytes] = []  # kept apart: a growing buffer would be copied as it grows
        size = 0
        try:
            async for chunk in response.content.iter_any():
                for piece in inflater.feed(chunk, allowance.room()):
                    pieces.append(piece)
                    size += len(piece)
                    allowance.take_bytes(len(piece))
            inflater.finish()
        except BaseException:
            allowance.give_back_bytes(size)
            raise
        return pieces
