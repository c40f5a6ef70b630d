"""Typed wire models: the CDS Hooks rules live in their validators, and the served OpenAPI document
(generated from them) says the same: every bad shape below is refused by both."""
from __future__ import annotations

import copy
import json
import uuid

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from cds_service.models import (
    Card,
    CardsResponse,
    Discovery,
    ErrorBody,
    FeedbackRequest,
    OrderSelectRequest,
    OrderSignRequest,
    PatientViewRequest,
)
from cds_service.openapi import REF, build_document
from cds_service.services import SERVICES
from tests.conftest import load_request

GOOD_CARD = {
    "uuid": "0f4ad1e8-5c1b-4f7e-9a47-6b6f6d4c2a10",
    "summary": "x" * 139,
    "indicator": "warning",
    "detail": "**markdown**",
    "source": {"label": "CRC review", "url": "https://example.org/review",
               "topic": {"system": "urn:her2-cds:topic", "code": "order-warning", "display": "Order warning"}},
    "suggestions": [{"label": "Remove", "uuid": "8b0f0c62-77a4-4e93-9a56-6a3f3d1f2b11", "isRecommended": False,
                     "actions": [{"type": "delete", "description": "Delete the draft", "resourceId": "MedicationRequest/1"},
                                 {"type": "create", "description": "Order ISH",
                                  "resource": {"resourceType": "ServiceRequest", "status": "draft"}}]}],
    "selectionBehavior": "any",
    "overrideReasons": [{"system": "urn:her2-cds:override-reason", "code": "trial", "display": "Trial protocol"}],
    "links": [{"label": "NCT05253651", "url": "https://clinicaltrials.gov/study/NCT05253651", "type": "absolute"}],
    "extension": {"her2cds": {"warning": "anti-egfr-her2-positive", "rules": ["crc.warning.anti-egfr"], "later": 1},
                  "other": {"kept": True}},
}


def _set(path: str, value):
    def change(card):
        node = card
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return change


_DELETE = object()
BAD_CARDS = {
    "summary of 140 characters": _set("summary", "x" * 140),
    "empty summary": _set("summary", ""),
    "suggestions without selectionBehavior": _set("selectionBehavior", _DELETE),
    "unknown selectionBehavior": _set("selectionBehavior", "all"),
    "indicator outside the spec": _set("indicator", "hard-stop"),
    "card without uuid": _set("uuid", _DELETE),
    "card uuid not a uuid": _set("uuid", "card-1"),
    "delete without resourceId": _set("suggestions.0.actions.0.resourceId", _DELETE),
    "create without resource": _set("suggestions.0.actions.1.resource", _DELETE),
    "create resource without resourceType": _set("suggestions.0.actions.1.resource", {"status": "draft"}),
    "action without description": _set("suggestions.0.actions.0.description", _DELETE),
    "suggestion without actions": _set("suggestions.0.actions", []),
    "override reason without display": _set("overrideReasons.0.display", _DELETE),
    "link url not absolute": _set("links.0.url", "/study/NCT05253651"),
    "link of unknown type": _set("links.0.type", "relative"),
    "appContext on an absolute link": _set("links.0.appContext", "x"),
    "topic outside the contract": _set("source.topic.code", "her2-gossip"),
    "foreign topic system": _set("source.topic.system", "http://example.org"),
    "warning code outside the contract": _set("extension.her2cds.warning", "made-up"),
    "trial id not an NCT number": _set("extension.her2cds", {"trials": ["EUCTR-1"]}),
    "rule id empty": _set("extension.her2cds", {"rules": [""]}),
}


@pytest.fixture(scope="module")
def served(app):
    return app.test_client().get("/openapi.json").get_json()


def doc_validator(doc: dict, name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": REF.format(model=name), "components": doc["components"]},
                                           format_checker=jsonschema.FormatChecker())


def test_a_good_card_passes_model_and_document(served):
    Card.model_validate(GOOD_CARD)
    doc_validator(served, "CardsResponse").validate({"cards": [GOOD_CARD]})


@pytest.mark.parametrize("case", sorted(BAD_CARDS))
def test_bad_cards_are_refused_by_the_model_and_by_the_served_document(served, case):
    card = copy.deepcopy(GOOD_CARD)
    BAD_CARDS[case](card)
    with pytest.raises(ValidationError):
        Card.model_validate(card)
    assert list(doc_validator(served, "CardsResponse").iter_errors({"cards": [card]})), case


def test_serialising_keeps_exactly_what_the_card_builder_gave():
    dumped = json.loads(CardsResponse.model_validate({"cards": [GOOD_CARD]}).model_dump_json(exclude_none=True))
    assert dumped == {"cards": [GOOD_CARD]}


# ---------------------------------------------------------------- requests
def test_hook_instance_must_be_a_uuid(served):
    for bad in ("hook-instance-1", "x" * 129, "", "12345678-1234-1234-1234-12345678901"):
        request = load_request("crc-ihc3-positive") | {"hookInstance": bad}
        with pytest.raises(ValidationError):
            PatientViewRequest.model_validate(request)
        assert list(doc_validator(served, "PatientViewRequest").iter_errors(request)), bad
    request = load_request("crc-ihc3-positive") | {"hookInstance": str(uuid.uuid4()).upper()}
    assert PatientViewRequest.model_validate(request).hook_instance == request["hookInstance"].lower()


@pytest.mark.parametrize("patient_id", [".", "..", " ", ""])
def test_patient_id_that_is_a_path_segment_or_blank_is_refused(served, patient_id):
    request = load_request("crc-ihc3-positive")
    request["context"]["patientId"] = patient_id
    with pytest.raises(ValidationError):
        PatientViewRequest.model_validate(request)
    if patient_id.strip():
        assert list(doc_validator(served, "PatientViewRequest").iter_errors(request))


def test_each_hook_has_its_own_request_model(served):
    request = load_request("crc-ihc3-positive-cetuximab-sign")
    assert OrderSignRequest.model_validate(request).context.draft_orders["entry"]
    with pytest.raises(ValidationError):
        PatientViewRequest.model_validate(request)  # hook must be patient-view
    assert list(doc_validator(served, "PatientViewRequest").iter_errors(request))
    doc_validator(served, "OrderSignRequest").validate(request)


SANDBOX_ORDER = {"resourceType": "MedicationOrder", "id": "mo1", "status": "draft",
                 "patient": {"reference": "Patient/p1"},
                 "medicationCodeableConcept": {"text": "Cetuximab 2 MG/ML Injectable Solution"}}


@pytest.mark.parametrize("context", [
    {"patientId": "p1", "userId": "Practitioner/1", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": SANDBOX_ORDER}]},
     "selections": ["MedicationOrder/mo1"]},
    {"patientId": "p1", "userId": "Practitioner/1", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": "m", "category": {"text": "outpatient"}, "reasonCode": {"text": "x"}}}]}},
    {"patientId": "p1", "userId": "Practitioner/1", "draftOrders": {"resourceType": "Bundle", "entry": []}, "selections": []},
    {"patientId": "p1"},
])
def test_the_public_sandbox_request_shapes_are_accepted(served, context):
    request = {"hook": "order-select", "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": {"conditions": None}}
    parsed = OrderSelectRequest.model_validate(request)
    assert parsed.prefetch == {"conditions": None} and parsed.fhir_authorization is None
    doc_validator(served, "OrderSelectRequest").validate(request)


def test_feedback_bounds_are_in_model_and_document(served):
    item = {"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}
    FeedbackRequest.model_validate({"feedback": [item] * 50})
    for bad in ({"feedback": [item] * 51}, {"feedback": []},
                {"feedback": [item | {"acceptedSuggestions": [{"id": "s"}] * 21}]},
                {"feedback": [item | {"outcome": "overridden", "overrideReason": {"userComment": "x" * 2001}}]}):
        with pytest.raises(ValidationError):
            FeedbackRequest.model_validate(bad)
        assert list(doc_validator(served, "FeedbackRequest").iter_errors(bad))


# ---------------------------------------------------------------- the document is the models'
def test_served_document_is_the_one_generated_from_the_models(app, served):
    assert served == build_document()
    assert yaml.safe_load(app.test_client().get("/openapi.yaml").get_data(as_text=True)) == served
    assert served["openapi"] == "3.1.0"


@pytest.mark.parametrize("model, mode", [(CardsResponse, "serialization"), (Discovery, "serialization"),
                                         (ErrorBody, "serialization"), (FeedbackRequest, "validation"),
                                         (PatientViewRequest, "validation"), (OrderSelectRequest, "validation"),
                                         (OrderSignRequest, "validation")])
def test_document_schemas_are_the_models_schemas(served, model, mode):
    schema = model.model_json_schema(mode=mode, ref_template=REF)
    nested = schema.pop("$defs", {})
    schemas = served["components"]["schemas"]
    assert schemas[model.__name__] == schema
    for name, definition in nested.items():
        assert schemas[name] == definition, name


def test_every_route_is_documented_and_every_documented_path_is_routed(app, served):
    routed = set()
    for rule in app.url_map.iter_rules():
        methods = {m.lower() for m in rule.methods} - {"head", "options"}
        paths = [rule.rule.replace("<service_id>", s) for s in SERVICES] if "<service_id>" in rule.rule else [rule.rule]
        routed |= {(p, m) for p in paths for m in methods}
    documented = {(path, method) for path, item in served["paths"].items() for method in item}
    assert documented == routed


def test_each_declared_service_has_its_request_model_in_the_document(served):
    for service in SERVICES.values():
        body = served["paths"][f"/cds-services/{service.id}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": REF.format(model=service.request_model.__name__)}
        assert served["components"]["schemas"][service.request_model.__name__]["properties"]["hook"]["const"] == service.hook
