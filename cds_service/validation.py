"""CDS Hooks request envelope: parse the body and check what every hook call must carry."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import ApiError


@dataclass(frozen=True)
class HookRequest:
    """A validated hook call. `context` and `prefetch` are the client's JSON, unchanged."""

    hook: str
    hook_instance: str
    patient_id: str
    context: dict
    prefetch: dict
    fhir_server: str | None
    access_token: str | None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(data: bytes, content_type: str | None) -> dict:
    """The request body as a JSON object, or an ApiError (415, 400)."""
    mimetype = (content_type or "").split(";")[0].strip().lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "unsupported-media-type", "Content-Type must be application/json")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid-json", "request body is not UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "invalid-json", "request body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid-json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid-request", "request body must be a JSON object")
    return body


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid-request", f"'{field}' is required and must be a non-empty string", field)
    return value


def validate_hook_request(body: dict, expected_hook: str) -> HookRequest:
    """Check hook, hookInstance, context.patientId, fhirServer, fhirAuthorization, prefetch."""
    hook = _string(body.get("hook"), "hook")
    if hook != expected_hook:
        raise ApiError(400, "invalid-request", f"'hook' must be '{expected_hook}' for this service, got '{hook}'", "hook")
    instance = _string(body.get("hookInstance"), "hookInstance")
    context = body.get("context")
    if not isinstance(context, dict):
        raise ApiError(400, "invalid-request", "'context' is required and must be an object", "context")
    patient_id = _string(context.get("patientId"), "context.patientId")
    server = body.get("fhirServer")
    if server is not None and (not isinstance(server, str) or not server.strip()):
        raise ApiError(400, "invalid-request", "'fhirServer' must be a URL string", "fhirServer")
    auth = body.get("fhirAuthorization")
    token = None
    if auth is not None:
        if not isinstance(auth, dict) or not isinstance(auth.get("access_token"), str):
            raise ApiError(400, "invalid-request", "'fhirAuthorization' must be an object with 'access_token'", "fhirAuthorization")
        token = auth["access_token"]
    prefetch = body.get("prefetch")
    if prefetch is None:
        prefetch = {}
    if not isinstance(prefetch, dict):
        raise ApiError(400, "invalid-request", "'prefetch' must be an object", "prefetch")
    return HookRequest(hook, instance, patient_id, context, prefetch, server or None, token)
