"""Blueprint `operations`: health, metrics and the OpenAPI document (for operators, not EHRs)."""
from __future__ import annotations

import json

import yaml
from flask import Blueprint, Response

from .. import metrics
from ..models import Health, Liveness, Readiness
from .extension import runtime
from .responses import json_response

bp = Blueprint("operations", __name__)


@bp.get("/healthz/live")
def live() -> Response:
    """Liveness: the process answers (no dependency checks, so a database outage never kills pods)."""
    return json_response(Liveness(status="alive"))


@bp.get("/healthz/ready")
def ready() -> Response:
    """Readiness: knowledge loaded and validated (at start-up), the database answers and its schema is
    at this release's newest migration (new pods wait for the migration job)."""
    state = runtime()
    database, pending = state.store.check()
    body = Readiness(status="ready" if database == "ok" else "not-ready",
                     knowledge_version=state.engine.knowledge.version_label, database=database, schema_revision=pending)
    return json_response(body, 200 if database == "ok" else 503)


@bp.get("/healthz")
def healthz() -> Response:
    state = runtime()
    database, pending = state.store.check()
    body = Health(status="ok" if database == "ok" else "degraded", knowledge_version=state.engine.knowledge.version_label,
                  database=database, schema_revision=pending, trial_overlay=state.overlay.health(),
                  authentication="jwt" if state.verifier else "DISABLED: unsigned calls accepted (local use only)")
    return json_response(body, 200 if database == "ok" else 503)


@bp.get("/metrics")
def metrics_endpoint() -> Response:
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return json_response(runtime().openapi)


@bp.get("/openapi.yaml")
def openapi_yaml() -> Response:
    return Response(yaml.safe_dump(json.loads(json.dumps(runtime().openapi)), sort_keys=False, allow_unicode=True),
                    mimetype="application/yaml")
