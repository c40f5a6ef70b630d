"""JSON answers: the response helper, error handlers, request ids, security headers and hook metrics."""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from .. import metrics
from ..data_access import TooManyResources
from ..errors import ApiError
from ..models import ErrorBody

log = logging.getLogger("her2cds")
HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large", 415: "unsupported-media-type"}
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def json_response(body: BaseModel | bytes | dict | list, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON answer; models are serialised without their unset (None) members."""
    if isinstance(body, BaseModel):
        data: bytes | str = body.model_dump_json(exclude_none=True)
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(data, status=status, mimetype="application/json", headers=headers)


def error_response(status: int, code: str, reason: str, field: str | None = None, headers: dict | None = None) -> Response:
    body = ErrorBody(error=code, reason=reason, request_id=g.get("request_id", ""), field=field)
    return json_response(body, status, headers)


def _start() -> None:
    g.request_id = request.headers.get("X-Request-ID", "")[:128] or uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    response.headers.update(SECURITY_HEADERS)
    service = g.get("service_id")
    if service is not None:
        metrics.HOOK_CALLS.labels(service, str(response.status_code)).inc()
        metrics.HOOK_LATENCY.labels(service).observe(time.perf_counter() - g.started)
    return response


def _api_error(exc: ApiError) -> Response:
    log.info("request rejected", extra={"status": exc.status, "error": exc.code, "path": request.path})
    headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.code}"'} \
        if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.reason, exc.field, headers)


def _too_many(exc: TooManyResources) -> Response:
    log.info("request rejected", extra={"status": 413, "error": "too-many-resources", "path": request.path})
    return error_response(413, "too-many-resources", str(exc))


def _http_error(exc: HTTPException) -> Response:
    reason = exc.description or exc.name
    if exc.code == 413:
        limit = request.max_content_length
        reason = f"request body exceeds the limit of {limit} bytes"
    headers: dict[str, Any] | None = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else None
    return error_response(exc.code or 500, HTTP_CODES.get(exc.code or 500, "http-error"), reason, headers=headers)


def _unexpected(exc: Exception) -> Response:
    log.exception("unexpected error", extra={"path": request.path})
    return error_response(500, "internal-error", "unexpected error; it has been logged")


def init_app(app: Flask) -> None:
    """Register the request hooks and error handlers on `app`."""
    app.before_request(_start)
    app.after_request(_finish)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(TooManyResources, _too_many)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
