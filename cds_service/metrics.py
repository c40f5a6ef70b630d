"""Prometheus metrics per service. Under gunicorn (several worker processes) the multiprocess
collector aggregates all workers: `her2-cds serve` sets PROMETHEUS_MULTIPROC_DIR before forking."""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

HOOK_CALLS = Counter("her2cds_hook_calls_total", "Hook calls by service and HTTP status", ["service", "status"])
HOOK_LATENCY = Histogram("her2cds_hook_latency_seconds", "Hook call latency by service", ["service"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
CARDS = Counter("her2cds_cards_total", "Cards returned by service and topic", ["service", "topic"])
FHIR_FAILURES = Counter("her2cds_fhir_fallback_failures_total", "Prefetch keys the FHIR-server fallback could not read",
                        ["key"])
AUTH_FAILURES = Counter("her2cds_auth_failures_total", "Calls rejected by the JWT check, by reason", ["reason"])
AUDIT_FAILURES = Counter("her2cds_audit_write_failures_total", "Hook calls whose audit record could not be written")


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics (all gunicorn workers when in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
