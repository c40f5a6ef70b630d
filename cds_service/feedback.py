"""CDS Hooks 2.0 feedback: validate the shape of each feedback entry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .errors import ApiError
from .storage import OUTCOME_TIMESTAMP_CHARS

OUTCOMES = {"accepted", "overridden"}


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > OUTCOME_TIMESTAMP_CHARS:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _fail(reason: str, field: str) -> ApiError:
    return ApiError(400, "invalid-feedback", reason, field)


def validate_feedback(body: dict) -> list[dict]:
    """The feedback entries (`feedback` array, or one entry as the body); ApiError if malformed."""
    items = body.get("feedback", [body]) if "feedback" in body else [body]
    if not isinstance(items, list) or not items:
        raise _fail("'feedback' must be a non-empty array", "feedback")
    for i, item in enumerate(items):
        where = f"feedback[{i}]" if "feedback" in body else ""
        prefix = f"{where}." if where else ""
        if not isinstance(item, dict):
            raise _fail(f"{where or 'body'} must be an object", where or "body")
        if not isinstance(item.get("card"), str) or not _is_uuid(item["card"]):
            raise _fail("'card' must be the uuid of a card", f"{prefix}card")
        if not isinstance(item.get("outcome"), str) or item["outcome"] not in OUTCOMES:
            raise _fail("'outcome' must be 'accepted' or 'overridden'", f"{prefix}outcome")
        if not _is_datetime(item.get("outcomeTimestamp")):
            raise _fail("'outcomeTimestamp' must be an ISO 8601 date-time", f"{prefix}outcomeTimestamp")
        accepted = item.get("acceptedSuggestions")
        if accepted is not None and (
            not isinstance(accepted, list) or not all(isinstance(s, dict) and isinstance(s.get("id"), str) for s in accepted)
        ):
            raise _fail("'acceptedSuggestions' must be an array of {id}", f"{prefix}acceptedSuggestions")
        if item["outcome"] == "accepted" and item.get("overrideReason") is not None:
            raise _fail("'overrideReason' is only allowed with outcome 'overridden'", f"{prefix}overrideReason")
        reason: Any = item.get("overrideReason")
        if reason is not None and not isinstance(reason, dict):
            raise _fail("'overrideReason' must be an object", f"{prefix}overrideReason")
    return items
