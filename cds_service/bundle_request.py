"""A hook request built from a patient's FHIR Bundle, as an EHR would send it (`her2-cds call
--patient-bundle`): for checking a hospital's own data mapping without an EHR.

Each prefetch key gets the Bundle's resources that its template's search would find: the resource
type, and for each token parameter (`code=`, `category=`) a coding among the listed ones. Draft
MedicationRequests and ServiceRequests become the order hooks' `draftOrders` (all of them selected
for order-select). What no key would carry is returned by name, so a mapping gap is seen rather
than silently dropped.
"""
from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

from .services.declaration import Service

ORDER_TYPES = ("MedicationRequest", "ServiceRequest")


class BundleError(ValueError):
    """The file is not a Bundle this builder can use (the message is one line)."""


def _resources(bundle: Any) -> list[dict]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleError("not a FHIR Bundle (a JSON object with \"resourceType\": \"Bundle\")")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise BundleError("Bundle.entry is not a list")
    found = [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return [r for r in found if isinstance(r.get("resourceType"), str)]


def _codings(value: Any) -> list[dict]:
    concepts = value if isinstance(value, list) else [value]
    return [c for concept in concepts if isinstance(concept, dict)
            for c in concept.get("coding") or [] if isinstance(c, dict)]


def _matches(resource: dict, query: str) -> bool:
    """Whether a search `Type?query` finds `resource`: every token parameter (other than patient)
    must match one of its `system|code` values on the element of the same name."""
    for name, value in parse_qsl(query):
        if name == "patient":
            continue
        wanted = {tuple(v.split("|", 1)) if "|" in v else ("", v) for v in value.split(",")}
        found = {(c.get("system", ""), c.get("code")) for c in _codings(resource.get(name))}
        if not any((system, code) in found or (not system and any(f[1] == code for f in found)) for system, code in wanted):
            return False
    return True


def _searchset(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{r['resourceType']}/{r.get('id', '')}", "resource": r, "search": {"mode": "match"}}
                      for r in resources]}


def request_from_bundle(bundle: Any, hook: str, service: Service) -> tuple[dict, list[str]]:
    """(the hook request, the resources no prefetch key would carry) for the one Patient in `bundle`."""
    resources = _resources(bundle)
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    if len(patients) != 1 or not isinstance(patients[0].get("id"), str):
        raise BundleError(f"the Bundle must hold exactly one Patient with an id (found {len(patients)})")
    patient = patients[0]
    drafts = [r for r in resources if r["resourceType"] in ORDER_TYPES and r.get("status") == "draft"]
    on_file = [r for r in resources if r not in drafts and r is not patient]
    prefetch: dict[str, Any] = {}
    carried: set[int] = {id(patient)}
    for key, template in service.templates.items():
        if template.startswith("Patient/"):
            prefetch[key] = patient
            continue
        rtype, _, query = template.partition("?")
        found = [r for r in on_file if r["resourceType"] == rtype and _matches(r, query)]
        carried.update(id(r) for r in found)
        prefetch[key] = _searchset(found)
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient["id"]}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": r} for r in drafts]}
        carried.update(id(r) for r in drafts)
    if hook == "order-select":
        context["selections"] = [f"{r['resourceType']}/{r.get('id', '')}" for r in drafts]
    left_out = [f"{r['resourceType']}/{r.get('id', '?')}" for r in resources if id(r) not in carried]
    request = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context, "prefetch": prefetch}
    return request, left_out
