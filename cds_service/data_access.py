"""Patient data for a hook call: prefetch first; missing keys from the EHR's FHIR server."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .discovery import PREFETCH
from .fhir_read import ParsedResources, iter_resources, parse_resources
from .validation import HookRequest

# fetch(request, {key: prefetch template}) -> ({key: value}, {key: why it failed})
Fetcher = Callable[[HookRequest, dict[str, str]], tuple[dict[str, Any], dict[str, str]]]


@dataclass
class PatientData:
    """Parsed resources plus which prefetch keys could (not) be obtained, and why."""

    parsed: ParsedResources
    available: set[str] = field(default_factory=set)
    unavailable: dict[str, str] = field(default_factory=dict)


def _usable(value: Any) -> str | None:
    """Why a prefetch value cannot be used, or None if it can."""
    if isinstance(value, list):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return "not a FHIR resource or Bundle"
    if value["resourceType"] == "OperationOutcome":
        return "the EHR returned an OperationOutcome instead of data"
    return None


def _other_patient(resource: Any, patient_id: str) -> bool:
    if not isinstance(resource, dict):
        return False
    if resource.get("resourceType") == "Patient":
        return isinstance(resource.get("id"), str) and resource["id"] != patient_id
    for key in ("subject", "patient"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            parts = ref["reference"].split("/")
            if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1] != patient_id:
                return True
    return False


def gather(request: HookRequest, fetch: Fetcher | None = None) -> PatientData:
    """Collect every prefetch key from the request, fetching the absent or null ones."""
    values: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    to_fetch: dict[str, str] = {}
    for key in PREFETCH:
        value = request.prefetch.get(key)
        if value is None:
            to_fetch[key] = PREFETCH[key]
            continue
        problem = _usable(value)
        if problem:
            unavailable[key] = f"prefetch '{key}': {problem}"
        else:
            values[key] = value
    if to_fetch:
        if request.fhir_server and fetch is not None:
            fetched, failures = fetch(request, to_fetch)
            unavailable.update(failures)
            values.update({k: v for k, v in fetched.items() if v is not None})
        else:
            for key in to_fetch:
                unavailable[key] = f"'{key}' was not prefetched and no fhirServer was given"
    parsed = ParsedResources()
    kept = []
    for key, value in values.items():
        for resource in iter_resources(value):
            if _other_patient(resource, request.patient_id):
                parsed.issues.append(f"a {resource.get('resourceType')} in '{key}' belongs to another patient; not used")
            else:
                kept.append(resource)
    parse_resources(kept, parsed)
    draft = request.context.get("draftOrders")
    if isinstance(draft, dict):
        medications = [r for r in iter_resources(draft) if isinstance(r, dict) and r.get("resourceType") == "Medication"]
        parse_resources(medications, parsed)
    return PatientData(parsed, set(values), unavailable)
