"""Who is calling: the verified CDS Hooks JWT of the request (when trusted issuers are configured)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import request

from .. import metrics
from ..errors import ApiError
from ..security import AuthError
from .extension import runtime

log = logging.getLogger("her2cds")


@dataclass(frozen=True)
class Caller:
    """`issuer` None: unsigned mode. `fhir_servers` None: any FHIR server (unsigned mode)."""

    issuer: str | None = None
    fhir_servers: list[str] | None = None


def authenticate() -> Caller:
    """The verified caller, or a 401 ApiError. The JWT audience is the configured public URL + path."""
    state = runtime()
    if state.verifier is None:
        return Caller()
    audience = f"{state.settings.public_base_url}{request.path}"  # required in JWT mode (startup.preflight)
    try:
        claims = state.verifier.verify(request.headers.get("Authorization"), audience)
    except AuthError as exc:
        metrics.AUTH_FAILURES.labels(exc.code).inc()
        log.warning("call rejected: JWT check failed", extra={"reason": exc.code, "path": request.path})
        raise ApiError(401, exc.code, exc.reason) from None
    issuer = claims["_issuer"]
    return Caller(issuer.iss, issuer.fhir_servers)
