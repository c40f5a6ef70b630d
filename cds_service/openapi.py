"""The OpenAPI 3.1 document, generated from the wire models and the service declarations.

Served at /openapi.json and /openapi.yaml; never written by hand. Schemas are pydantic's JSON
Schema (2020-12, what OpenAPI 3.1 uses), with the spec rules the models carry.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic.json_schema import models_json_schema

from .models import (
    CardsResponse,
    Discovery,
    ErrorBody,
    FeedbackAccepted,
    FeedbackRequest,
    Health,
    Liveness,
    Readiness,
)
from .services import SERVICES

REF = "#/components/schemas/{model}"
HOOK_ERRORS = {
    "400": "Malformed request (the field at fault is named)",
    "401": "JWT missing or invalid (trusted issuers configured)",
    "412": "An essential prefetch key could be had neither from prefetch nor from fhirServer",
    "413": "Body larger than the limit, or more resources than HER2CDS_MAX_RESOURCES_PER_CALL",
    "415": "Content-Type is not application/json",
    "500": "Unexpected error (logged; the answer carries the request id)",
}
FEEDBACK_ERRORS = {k: v for k, v in HOOK_ERRORS.items() if k != "412"} | {
    "400": "Malformed feedback, or a card not issued by this service to this caller",
    "413": "Body larger than HER2CDS_MAX_FEEDBACK_BYTES"}


def _version() -> str:
    try:
        return version("her2-cds")
    except PackageNotFoundError:
        return "0.0.0"


def _schemas() -> dict[str, Any]:
    models = [(s.request_model, "validation") for s in SERVICES.values()]
    models += [(FeedbackRequest, "validation")]
    models += [(m, "serialization") for m in (CardsResponse, FeedbackAccepted, Discovery, Health, Liveness, Readiness, ErrorBody)]
    _, definitions = models_json_schema(models, ref_template=REF)
    return definitions["$defs"]


def _json(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": REF.format(model=schema)}}}}


def _errors(codes: dict[str, str]) -> dict:
    return {code: _json("ErrorBody", text) for code, text in codes.items()}


def _post(operation_id: str, summary: str, tag: str, request_schema: str, ok: dict, errors: dict[str, str]) -> dict:
    return {"post": {
        "operationId": operation_id, "summary": summary, "tags": [tag], "security": [{}, {"cdsHooksJwt": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=request_schema)}}}},
        "responses": {"200": ok, **_errors(errors)},
    }}


def _get(operation_id: str, summary: str, responses: dict) -> dict:
    return {"get": {"operationId": operation_id, "summary": summary, "tags": ["operations"], "responses": responses}}


def build_document() -> dict:
    """The whole OpenAPI document as plain JSON data."""
    paths: dict[str, Any] = {"/cds-services": {"get": {
        "operationId": "discovery", "summary": "CDS Hooks discovery", "tags": ["discovery"],
        "responses": {"200": _json("Discovery", "The services")}}}}
    for s in SERVICES.values():
        operation = s.id.replace("-", "_")
        paths[f"/cds-services/{s.id}"] = _post(operation, f"{s.title} ({s.hook})", "hooks", s.request_model.__name__,
                                               _json("CardsResponse", "Cards (possibly none)"), HOOK_ERRORS)
    for s in SERVICES.values():
        paths[f"/cds-services/{s.id}/feedback"] = _post(
            s.id.replace("-", "_") + "_feedback", "CDS Hooks feedback on a card this service issued", "feedback",
            "FeedbackRequest", _json("FeedbackAccepted", "Stored"), FEEDBACK_ERRORS)
    paths["/healthz"] = _get("health", "Knowledge version, database, trial overlay, authentication mode",
                             {"200": _json("Health", "Healthy"), "503": _json("Health", "Database unavailable")})
    paths["/healthz/live"] = _get("liveness", "The process answers", {"200": _json("Liveness", "Alive")})
    paths["/healthz/ready"] = _get("readiness", "Knowledge loaded and database reachable",
                                   {"200": _json("Readiness", "Ready"), "503": _json("Readiness", "Not ready")})
    paths["/metrics"] = _get("metrics", "Prometheus metrics", {"200": {
        "description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}})
    paths["/openapi.json"] = _get("openapi_json", "This document (JSON)", {"200": {
        "description": "OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}})
    paths["/openapi.yaml"] = _get("openapi_yaml", "This document (YAML)", {"200": {
        "description": "OpenAPI document", "content": {"application/yaml": {"schema": {"type": "string"}}}}})
    return {
        "openapi": "3.1.0",
        "info": {"title": "HER2 CDS Hooks service", "version": _version(),
                 "description": "CDS Hooks 2.0 services for HER2 in colorectal and gastric/GEJ cancer. Generated from the "
                                "service's models; errors are JSON with a reason and the request id."},
        "paths": paths,
        "components": {
            "securitySchemes": {"cdsHooksJwt": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "CDS Hooks 2.0 JWT (ES384/RS384), required when trusted issuers are configured"}},
            "schemas": _schemas(),
        },
    }
