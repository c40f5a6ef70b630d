"""Flask app factory: the web layer. Validates the envelope, runs a service, answers JSON."""
from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from flask_cors import CORS
from werkzeug.exceptions import HTTPException

from . import metrics
from .data_access import PatientData, gather
from .discovery import ESSENTIAL_KEYS, SERVICES, discovery_document
from .engine import Engine
from .errors import ApiError
from .feedback import validate_feedback
from .fhir_client import FhirFetcher
from .knowledge import load_knowledge
from .logging_setup import configure_logging
from .security import AuthError, Verifier, load_issuers
from .services import order_select, order_sign, patient_view
from .settings import Settings
from .storage import Store, pseudonym
from .trial_registry import OverlayReader
from .validation import HookRequest, parse_json_body, validate_hook_request

log = logging.getLogger("her2cds")
HANDLERS: dict[str, Callable[[Engine, HookRequest, PatientData], list[dict]]] = {
    "her2-patient-view": patient_view.handle,
    "her2-order-select": order_select.handle,
    "her2-order-sign": order_sign.handle,
}


def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
                    mimetype="application/json", headers=headers)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service. Knowledge files are loaded and validated here, once."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    knowledge = load_knowledge(settings.knowledge_dir)
    store = Store(settings.database_url, auto_migrate=settings.db_auto_migrate)
    overlay = OverlayReader(store, settings.trial_overlay_max_age_days)
    engine = Engine(knowledge, overlay)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["her2cds"] = {"settings": settings, "engine": engine}
    CORS(app, resources={r"/cds-services*": {"origins": "*"}, r"/healthz": {"origins": "*"}},
         allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "OPTIONS"], max_age=600)
    app.extensions["her2cds"]["store"] = store
    unsigned = settings.trusted_issuers_file is None
    verifier = None
    if unsigned:
        log.warning("NO TRUSTED ISSUERS CONFIGURED: unsigned CDS Hooks calls are accepted. "
                    "For local use only; set HER2CDS_TRUSTED_ISSUERS_FILE in production.")
    else:
        verifier = Verifier(load_issuers(settings.trusted_issuers_file), store.remember_jti, settings.jwt_leeway_s)
    pseudonym_key = (settings.pseudonym_key or "").encode() or secrets.token_bytes(32)
    if not settings.pseudonym_key:
        log.warning("HER2CDS_PSEUDONYM_KEY is not set: a random key was generated for this process; "
                    "audit patient keys will not match across restarts or replicas.")
    fetcher = FhirFetcher(settings)

    def authenticate() -> list[str] | None:
        """Verify the caller when issuers are configured; the FHIR bases it may use (None: any)."""
        if verifier is None:
            return None
        base = (settings.public_base_url or request.host_url).rstrip("/")
        try:
            claims = verifier.verify(request.headers.get("Authorization"), base + request.path)
        except AuthError as exc:
            metrics.AUTH_FAILURES.labels(exc.code).inc()
            log.warning("call rejected: JWT check failed", extra={"reason": exc.code, "path": request.path})
            raise ApiError(401, exc.code, exc.reason) from None
        return claims["_issuer"].fhir_servers

    @app.before_request
    def _start() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        service = request.view_args.get("service_id") if request.view_args else None
        if request.endpoint == "call_service" and service in SERVICES:
            metrics.HOOK_CALLS.labels(service, str(response.status_code)).inc()
            metrics.HOOK_LATENCY.labels(service).observe(time.perf_counter() - g.started)
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        log.info("request rejected", extra={"status": exc.status, "error": exc.code, "path": request.path})
        headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.code}"'} \
            if exc.status == 401 else None
        return _json(exc.body(g.get("request_id", "")), exc.status, headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        codes = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large", 415: "unsupported-media-type"}
        reason = exc.description or exc.name
        if exc.code == 413:
            reason = f"request body exceeds the limit of {settings.max_body_bytes} bytes"
        headers = {"Allow": ", ".join(exc.valid_methods)} if getattr(exc, "valid_methods", None) else None
        body = {"error": codes.get(exc.code or 500, "http-error"), "reason": reason, "requestId": g.get("request_id", "")}
        return _json(body, exc.code or 500, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error", extra={"path": request.path})
        return _json({"error": "internal-error", "reason": "unexpected error; it has been logged",
                      "requestId": g.get("request_id", "")}, 500)

    @app.get("/cds-services")
    def discovery() -> Response:
        return _json(discovery_document(engine.knowledge))

    openapi_text = (Path(__file__).parent / "openapi.yaml").read_text(encoding="utf-8")

    @app.get("/openapi.yaml")
    def openapi() -> Response:
        return Response(openapi_text, mimetype="application/yaml")

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        body, content_type = metrics.render()
        return Response(body, content_type=content_type)

    @app.get("/healthz/live")
    def live() -> Response:
        """Liveness: the process answers (no dependency checks, so a database outage never kills pods)."""
        return _json({"status": "alive"})

    @app.get("/healthz/ready")
    def ready() -> Response:
        """Readiness: knowledge loaded and validated (at start-up), the database answers and its schema
        is at this release's newest migration (pods wait for the migration job)."""
        database = store.check()
        body = {"status": "ready" if database == "ok" else "not-ready", "knowledgeVersion": engine.knowledge.version_label,
                "database": database}
        return _json(body, 200 if database == "ok" else 503)

    @app.get("/healthz")
    def healthz() -> Response:
        database = store.check()
        body = {"status": "ok" if database == "ok" else "degraded", "knowledgeVersion": engine.knowledge.version_label,
                "database": database, "trialOverlay": overlay.health(),
                "authentication": "DISABLED: unsigned calls accepted (local use only)" if unsigned else "jwt"}
        return _json(body, 200 if database == "ok" else 503)

    @app.post("/cds-services/<service_id>")
    def call_service(service_id: str) -> Response:
        if service_id not in SERVICES:
            raise ApiError(404, "unknown-service", f"no CDS service '{service_id}'")
        allowed_bases = authenticate()
        body = parse_json_body(request.get_data(cache=False), request.content_type)
        hook_request = validate_hook_request(body, SERVICES[service_id]["hook"])
        data = gather(hook_request, lambda r, t: fetcher(r, t, allowed_bases))
        for key in data.unavailable:
            metrics.FHIR_FAILURES.labels(key).inc()
        if all(key in data.unavailable for key in ESSENTIAL_KEYS):
            raise ApiError(412, "prefetch-missing",
                           "cannot assess: " + "; ".join(data.unavailable[k] for k in ESSENTIAL_KEYS))
        cards = HANDLERS[service_id](engine, hook_request, data)
        latency = round((time.perf_counter() - g.started) * 1000, 1)
        try:
            store.record_call(hook_request.hook_instance, service_id, latency,
                              pseudonym(pseudonym_key, hook_request.patient_id), engine.knowledge.version, cards)
        except Exception:  # noqa: BLE001 - the advice still goes out; the failure is logged loudly
            metrics.AUDIT_FAILURES.inc()
            log.exception("AUDIT WRITE FAILED: cards returned without an audit record", extra={"service": service_id})
        for card in cards:
            metrics.CARDS.labels(service_id, card["source"]["topic"]["code"]).inc()
        log.info("hook answered", extra={"service": service_id, "cards": len(cards), "ms": latency})
        return _json({"cards": cards})

    @app.post("/cds-services/<service_id>/feedback")
    def feedback(service_id: str) -> Response:
        if service_id not in SERVICES:
            raise ApiError(404, "unknown-service", f"no CDS service '{service_id}'")
        authenticate()
        body = parse_json_body(request.get_data(cache=False), request.content_type)
        items = validate_feedback(body)
        for i, item in enumerate(items):
            issued = store.issued(item["card"])
            if issued is None or issued.service != service_id:
                raise ApiError(400, "unknown-card", f"card {item['card']} was not issued by {service_id}",
                               f"feedback[{i}].card")
        store.add_feedback(service_id, items)
        log.info("feedback stored", extra={"service": service_id, "items": len(items)})
        return _json({"accepted": len(items)})

    return app
