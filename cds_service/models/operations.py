"""Discovery, health and error bodies."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Text, WireModel


class ErrorBody(WireModel):
    """Every 4xx/5xx answer: a short machine code, a human reason, the request id, the field at fault."""

    error: Text
    reason: Text
    request_id: str
    field: str | None = None


class ServiceDescription(WireModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]
    usage_requirements: str | None = None


class Discovery(WireModel):
    services: list[ServiceDescription]


DatabaseState = Literal["ok", "unavailable", "migrations-pending"]
PENDING = "when migrations are pending: the schema revision found and the one this release needs"


class Health(WireModel):
    status: Literal["ok", "degraded"]
    knowledge_version: str
    database: DatabaseState
    schema_revision: str | None = Field(None, description=PENDING)
    trial_overlay: dict[str, Any] = Field(description="presence and age of the trial-status overlay")
    authentication: str


class Liveness(WireModel):
    status: Literal["alive"]


class Readiness(WireModel):
    status: Literal["ready", "not-ready"]
    knowledge_version: str
    database: DatabaseState
    schema_revision: str | None = Field(None, description=PENDING)
