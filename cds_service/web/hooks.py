"""Blueprint `hooks`: discovery and the hook calls. The service declaration drives every step."""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, g, request

from .. import metrics
from ..data_access import check_resource_cap, gather
from ..discovery import discovery_document
from ..errors import ApiError
from ..models import CardsResponse, HookRequest
from ..services import SERVICES, Service
from ..storage import pseudonym
from ..validation import parse_json_body, validate
from .caller import Caller, authenticate
from .extension import Runtime, runtime
from .responses import json_response

log = logging.getLogger("her2cds")
bp = Blueprint("hooks", __name__)


def find_service(service_id: str) -> Service:
    """The declared service, or a 404 ApiError."""
    service = SERVICES.get(service_id)
    if service is None:
        raise ApiError(404, "unknown-service", f"no CDS service '{service_id}'")
    return service


@bp.get("/cds-services")
def discovery() -> Response:
    return json_response(discovery_document(runtime().engine.knowledge))


def _cards(state: Runtime, service: Service, call: HookRequest, caller: Caller) -> list[dict]:
    """Relevance first (request alone), then data (prefetch, else the FHIR server), then the handler."""
    if service.relevant is not None and not service.relevant(state.engine, call):
        return []  # nothing this service speaks about: no data read, no FHIR request, no 412
    data = gather(call, service.templates, lambda r, t: state.fetcher(r, t, caller.fhir_servers),
                  state.settings.max_resources_per_call)
    for key in data.unavailable:
        metrics.FHIR_FAILURES.labels(key).inc()
    missing = [key for key in service.essential if key in data.unavailable]
    if missing:
        raise ApiError(412, "prefetch-missing", "cannot assess: " + "; ".join(data.unavailable[k] for k in missing))
    return service.handler(state.engine, call, data)


@bp.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    service = find_service(service_id)
    g.service_id = service.id
    state = runtime()
    caller = authenticate()
    call = validate(service.request_model, parse_json_body(request.get_data(cache=False), request.content_type))
    check_resource_cap(call, state.settings.max_resources_per_call)
    cards = _cards(state, service, call, caller)
    answer = CardsResponse.model_validate({"cards": cards})  # the contract, checked at the boundary
    latency = round((time.perf_counter() - g.started) * 1000, 1)
    try:
        state.store.record_call(call.hook_instance, service.id, latency, pseudonym(state.pseudonym_key, call.patient_id),
                                state.engine.knowledge.version_label, cards, issuer=caller.issuer)
    except Exception:  # noqa: BLE001 - the advice still goes out; the failure is logged loudly
        metrics.AUDIT_FAILURES.inc()
        log.exception("AUDIT WRITE FAILED: cards returned without an audit record", extra={"service": service.id})
    for card in answer.cards:
        metrics.CARDS.labels(service.id, card.source.topic.code).inc()
    log.info("hook answered", extra={"service": service.id, "cards": len(cards), "ms": latency})
    return json_response(answer)
