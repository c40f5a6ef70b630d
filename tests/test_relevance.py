"""Order hooks decide relevance on the draft orders alone, before any data is gathered (interface.md,
additions): nothing HER2-relevant -> {"cards": []} at once, no 412, no FHIR request."""
from __future__ import annotations

import copy

import pytest

from tests import fhir_builders as b
from tests.conftest import call, load_request

ATORVASTATIN = b.draft_order("p-rel", "atorvastatin 20 MG Oral Tablet", "617311", mid="statin")
HOOKS = ["order-sign", "order-select"]


def order_request(hook: str, order: dict | None, prefetch: bool) -> dict:
    """A real fixture's order call with its draft order replaced (and its prefetch kept or removed)."""
    request = copy.deepcopy(load_request("crc-ihc3-positive-cetuximab-sign"))
    request["hook"] = hook
    pid = request["context"]["patientId"]
    entries = [{"resource": {**order, "subject": {"reference": f"Patient/{pid}"}}}] if order else []
    request["context"]["draftOrders"] = {"resourceType": "Bundle", "entry": entries}  # the sandbox's shape: no type
    if hook == "order-select":
        request["context"]["selections"] = [f"MedicationRequest/{order['id']}"] if order else []
    if not prefetch:
        request["prefetch"] = {}
    return request


class Spy:
    """Stands in for the FHIR-server fallback and counts the calls it gets."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *_args, **_kwargs):
        self.calls += 1
        return {}, {}


@pytest.fixture()
def spy(app, monkeypatch):
    fetcher = Spy()
    monkeypatch.setattr(app.extensions["her2cds"], "fetcher", fetcher)
    return fetcher


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("prefetch", [True, False])
def test_non_oncology_order_answers_no_cards_without_reading_data(client, spy, hook, prefetch):
    request = order_request(hook, ATORVASTATIN, prefetch)
    request["fhirServer"] = "https://ehr.example.org/fhir"
    code, body = call(client, request)
    assert (code, body) == (200, {"cards": []})
    assert spy.calls == 0


@pytest.mark.parametrize("hook", HOOKS)
def test_non_oncology_order_without_prefetch_or_server_is_not_412(client, hook):
    code, body = call(client, order_request(hook, ATORVASTATIN, prefetch=False))
    assert (code, body) == (200, {"cards": []})


@pytest.mark.parametrize("hook", HOOKS)
def test_call_without_any_order_is_not_412(client, spy, hook):
    code, body = call(client, order_request(hook, None, prefetch=False))
    assert (code, body) == (200, {"cards": []}) and spy.calls == 0


@pytest.mark.parametrize("hook", HOOKS)
def test_relevant_order_still_needs_the_essential_data(client, hook):
    cetuximab = b.draft_order("p-rel", "cetuximab 2 MG/ML Injectable Solution", "1657589", mid="cx")
    code, body = call(client, order_request(hook, cetuximab, prefetch=False))
    assert code == 412 and "conditions" in body["reason"]


def test_relevant_order_reads_the_data(client, spy):
    cetuximab = b.draft_order("p-rel", "cetuximab", "318341", mid="cx")
    request = order_request("order-sign", cetuximab, prefetch=False)
    request["fhirServer"] = "https://ehr.example.org/fhir"
    call(client, request)
    assert spy.calls == 1


def test_her2_test_order_is_relevant(client, spy):
    request = order_request("order-sign", b.test_order("p-rel", "18474-7", "HER2 IHC", sid="ihc"), prefetch=False)
    request["fhirServer"] = "https://ehr.example.org/fhir"
    call(client, request)
    assert spy.calls == 1


def test_medication_referenced_in_the_draft_bundle_counts(client, spy):
    order = b.draft_order("p-rel", "x", mid="r")
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/med1"}
    request = order_request("order-sign", order, prefetch=False)
    request["context"]["draftOrders"]["entry"].append(
        {"resource": {"resourceType": "Medication", "id": "med1", "code": {"text": "Erbitux 100 MG"}}})
    request["fhirServer"] = "https://ehr.example.org/fhir"
    call(client, request)
    assert spy.calls == 1


# ---------------------------------------------------------------- against the project's FHIR server (Medplum)
from tests.test_fhir_fallback import TOKEN, fhir_server, make_client, server_log  # noqa: E402,F401 - the server fixture


def _with_server(request: dict, base: str) -> dict:
    request["fhirServer"] = f"{base}/fhir"
    request["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                    "scope": "patient/*.read", "subject": "cds-service"}
    return request


@pytest.mark.slow
@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("prefetch", [True, False])
def test_non_oncology_order_makes_no_request_to_the_fhir_server(fhir_server, hook, prefetch):  # noqa: F811
    before = len(server_log(fhir_server))
    code, body = call(make_client(), _with_server(order_request(hook, ATORVASTATIN, prefetch), fhir_server))
    assert (code, body) == (200, {"cards": []})
    assert server_log(fhir_server)[before:] == []


@pytest.mark.slow
@pytest.mark.parametrize("hook", HOOKS)
def test_oncology_order_does_query_the_fhir_server(fhir_server, hook):  # noqa: F811 - the control
    cetuximab = b.draft_order("p-rel", "cetuximab 2 MG/ML Injectable Solution", "1657589", mid="cx")
    before = len(server_log(fhir_server))
    code, body = call(make_client(), _with_server(order_request(hook, cetuximab, prefetch=False), fhir_server))
    assert code == 200
    assert "anti-egfr-her2-positive" in [c["extension"]["her2cds"].get("warning") for c in body["cards"]]
    assert len(server_log(fhir_server)[before:]) >= 6
