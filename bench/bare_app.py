"""Baselines under the same server as the service: `bare` only parses the JSON body; `floor` parses it
and validates every FHIR resource in it with `fhir.resources` (the work no hook call can skip)."""
from __future__ import annotations

import json
from collections.abc import Iterator

from fhir.resources.R4B import get_fhir_model_class
from flask import Flask, Response, request

ANSWER = b'{"cards":[]}'


def _resources(body: dict) -> Iterator[dict]:
    """Every resource of a hook request: prefetch bundles' entries, single prefetch resources, draft orders."""
    values = list((body.get("prefetch") or {}).values()) + [(body.get("context") or {}).get("draftOrders")]
    for value in values:
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Bundle":
            yield from (entry["resource"] for entry in value.get("entry", []) if "resource" in entry)
        else:
            yield value


def _make(validate: bool) -> Flask:
    app = Flask(__name__)

    @app.post("/cds-services/<service_id>")
    def call(service_id: str) -> Response:
        body = json.loads(request.get_data(cache=False))
        if validate:
            for resource in _resources(body):
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        return Response(ANSWER, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', mimetype="application/json")

    return app


bare = _make(validate=False)
floor = _make(validate=True)
