"""Structured JSON log lines with the request id on every line. Never log patient data."""
from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "requestId": _request_id(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _request_id() -> str | None:
    if "flask" not in sys.modules:  # gunicorn's master formats lines too and must not import Flask
        return None
    try:
        from flask import g, has_request_context
        return g.get("request_id") if has_request_context() else None
    except RuntimeError:
        return None


def configure_logging(level: str = "INFO") -> None:
    """Route the service's logger to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("her2cds")
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.propagate = True
    # urllib3 logs request URLs (which carry patient ids in FHIR searches) on retries and at DEBUG.
    # The FHIR fallback logs its own failures without patient data, so urllib3's logger is off.
    logging.getLogger("urllib3").setLevel(logging.CRITICAL + 1)  # children inherit it
