"""FHIR-server fallback: fetch the prefetch keys the EHR did not send, within a time budget.

One pooled `requests.Session` per process with bounded urllib3 retries (connection errors and
5xx), queries in parallel, `Bundle.link[next]` paging up to a cap, and guards against server-side
request forgery: https only (unless configured), only registered base URLs when issuers are
trusted, no redirects or next links to another origin, and patient ids that are FHIR ids.
"""
from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .settings import Settings
from .validation import HookRequest

log = logging.getLogger("her2cds.fhir")
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_PAGES = 10
PAGE_SIZE = 100
MAX_REDIRECTS = 3


class FallbackRefused(Exception):
    """The fhirServer may not be used (scheme, allow-list, patient id)."""


def fallback_query(template: str, patient_id: str) -> str:
    """A prefetch template as a search to send: the patient as a typed reference, a page size."""
    query = template.replace("patient={{context.patientId}}", "patient=Patient/{{context.patientId}}")
    query = query.replace("{{context.patientId}}", quote(patient_id, safe=""))
    if "?" in query:
        query += f"&_count={PAGE_SIZE}"
    return query


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class FhirFetcher:
    """Callable used by data_access.gather: (request, {key: template}) -> (values, failures)."""

    def __init__(self, settings: Settings, allowed_bases: list[str] | None = None) -> None:
        self.budget = settings.fhir_budget_s
        self.allow_http = settings.allow_http_fhir
        self.allowed_bases = [b.rstrip("/") for b in allowed_bases] if allowed_bases else None
        retry = Retry(total=2, connect=2, read=0, status=2, backoff_factor=0.05,
                      status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                      raise_on_status=False, respect_retry_after_header=False, redirect=0)
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_connections=16, pool_maxsize=32)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fhir")

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
        try:
            base = self.check_server(request.fhir_server or "", allowed_bases)
            if not FHIR_ID.match(request.patient_id):
                raise FallbackRefused("context.patientId is not a FHIR id; it cannot be put in a query")
        except FallbackRefused as exc:
            log.warning("FHIR fallback refused", extra={"reason": str(exc)})
            return {}, {key: f"'{key}' was not prefetched and {exc}" for key in templates}
        deadline = time.monotonic() + self.budget
        futures = {key: self.pool.submit(self._fetch, base, fallback_query(t, request.patient_id),
                                         request.access_token, deadline)
                   for key, t in templates.items()}
        wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
        values: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for key, future in futures.items():
            if not future.done():
                future.cancel()
                failures[key] = f"'{key}' could not be fetched from the FHIR server within {self.budget:g} s"
            elif future.exception() is not None:
                failures[key] = f"'{key}' could not be fetched from the FHIR server: {future.exception()}"
            else:
                values[key] = future.result()
        for key, why in failures.items():
            log.warning("FHIR fallback failed", extra={"key": key, "host": urlsplit(base).hostname,
                                                       "reason": why.split(": ", 1)[-1]})
        return values, failures

    # ------------------------------------------------------------------ one query
    def _get(self, url: str, token: str | None, deadline: float, origin: tuple[str, str]) -> Any:
        headers = {"Accept": "application/fhir+json, application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for _ in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("time budget spent")
            try:
                response = self.session.get(url, headers=headers, allow_redirects=False,
                                            timeout=(min(1.0, remaining), remaining))
            except requests.Timeout:
                raise TimeoutError("timed out") from None
            except requests.RequestException as exc:
                raise ConnectionError(f"connection failed ({type(exc).__name__})") from None
            if response.is_redirect:
                target = urljoin(url, response.headers.get("Location", ""))
                if _origin(target) != origin:
                    raise PermissionError("redirect to another host refused")
                url = target
                continue
            if response.status_code in (401, 403):
                raise PermissionError(f"not authorised (HTTP {response.status_code})")
            if response.status_code >= 400:
                raise ConnectionError(f"HTTP {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                raise ValueError("response is not JSON") from None
            if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
                raise ValueError("response is not a FHIR resource")
            if body["resourceType"] == "OperationOutcome":
                raise ValueError("server answered with an OperationOutcome")
            return body
        raise PermissionError("too many redirects")

    def _fetch(self, base: str, query: str, token: str | None, deadline: float) -> Any:
        origin = _origin(base)
        url = f"{base}/{query}"
        first = self._get(url, token, deadline, origin)
        if "?" not in query:  # a read, e.g. Patient/123
            return first
        if first["resourceType"] != "Bundle":
            raise ValueError("search did not return a Bundle")
        entries = list(first.get("entry") or [])
        page, pages = first, 1
        while pages < MAX_PAGES:
            next_url = next((item.get("url") for item in page.get("link") or []
                             if isinstance(item, dict) and item.get("relation") == "next"), None)
            if not next_url:
                break
            if _origin(next_url) != origin:
                raise PermissionError("next link to another host refused")
            page = self._get(next_url, token, deadline, origin)
            if page.get("resourceType") != "Bundle":
                raise ValueError("next page is not a Bundle")
            entries += page.get("entry") or []
            pages += 1
        bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        if pages == MAX_PAGES and any(item.get("relation") == "next" for item in page.get("link") or []):
            log.warning("FHIR paging cap reached", extra={"pages": pages})
        return bundle
