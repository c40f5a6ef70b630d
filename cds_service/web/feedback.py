"""Blueprint `feedback`: CDS Hooks feedback on cards, accepted only from the EHR the card was issued to."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from ..errors import ApiError
from ..models import FeedbackAccepted, FeedbackRequest
from ..validation import parse_json_body, validate
from .caller import authenticate
from .extension import runtime
from .hooks import find_service
from .responses import json_response

log = logging.getLogger("her2cds")
bp = Blueprint("feedback", __name__)


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    service = find_service(service_id)
    state = runtime()
    caller = authenticate()
    request.max_content_length = state.settings.max_feedback_bytes
    body = parse_json_body(request.get_data(cache=False), request.content_type)
    if "feedback" not in body:  # one entry sent as the body: read liberally
        body = {"feedback": [body]}
    items = validate(FeedbackRequest, body, "invalid-feedback").feedback
    for i, item in enumerate(items):
        issued = state.store.issued(item.card)
        # Another EHR's card reads exactly like an unknown one: no way to probe which cards exist.
        if issued is None or issued.service != service.id or issued.issuer != caller.issuer:
            raise ApiError(400, "unknown-card", f"card {item.card} was not issued by {service.id} to this caller",
                           f"feedback[{i}].card")
    state.store.add_feedback(service.id, [item.model_dump(exclude_none=True) for item in items])
    log.info("feedback stored", extra={"service": service.id, "items": len(items)})
    return json_response(FeedbackAccepted(accepted=len(items)))
