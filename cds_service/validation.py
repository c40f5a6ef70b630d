"""The request boundary: JSON body parsing, and model validation errors as 400 answers naming the field."""
from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ApiError
from .models import HookRequest

M = TypeVar("M", bound=BaseModel)
__all__ = ["HookRequest", "field_path", "parse_json_body", "validate"]


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


def field_path(loc: tuple) -> str:
    """A pydantic error location as the client's JSON path: feedback[0].card, context.patientId."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validate(model: type[M], body: dict, error: str = "invalid-request") -> M:
    """`body` as `model`, or a 400 ApiError naming the first field at fault."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_path(tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        message = message[0].lower() + message[1:] if message else "invalid"
        raise ApiError(400, error, f"'{field}': {message}" if field else message, field or None) from None
