"""Patient data for a hook call: prefetch first; missing keys from the EHR's FHIR server."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .fhir_read import ParsedResources, iter_resources, parse_resources
from .models import HookRequest

# fetch(request, {key: prefetch template}) -> ({key: value}, {key: why it failed})
Fetcher = Callable[[HookRequest, dict[str, str]], tuple[dict[str, Any], dict[str, str]]]


class TooManyResources(Exception):
    """A call carries (or its FHIR server returned) more resources than the configured cap."""

    def __init__(self, count: int, cap: int) -> None:
        super().__init__(f"{count} resources exceed the cap of {cap} per call (HER2CDS_MAX_RESOURCES_PER_CALL)")
        self.count = count
        self.cap = cap


@dataclass
class PatientData:
    """Parsed resources plus which prefetch keys could (not) be obtained, and why."""

    parsed: ParsedResources
    available: set[str] = field(default_factory=set)
    unavailable: dict[str, str] = field(default_factory=dict)


def count_resources(values: Any) -> int:
    """How many resources a prefetch value (or several, or a Bundle) holds."""
    return sum(1 for _ in iter_resources(values))


def check_resource_cap(request: HookRequest, cap: int) -> None:
    """TooManyResources when the request itself carries more than `cap` resources (before any parsing)."""
    draft = getattr(request.context, "draft_orders", None)
    count = count_resources(list(request.prefetch.values())) + count_resources(draft)
    if count > cap:
        raise TooManyResources(count, cap)


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


def gather(request: HookRequest, templates: Mapping[str, str], fetch: Fetcher | None = None,
           max_resources: int | None = None) -> PatientData:
    """Collect every declared prefetch key from the request, fetching the absent or null ones."""
    values: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    to_fetch: dict[str, str] = {}
    for key, template in templates.items():
        value = request.prefetch.get(key)
        if value is None:
            to_fetch[key] = template
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
    if max_resources is not None and (count := count_resources(list(values.values()))) > max_resources:
        raise TooManyResources(count, max_resources)
    parsed = ParsedResources()
    kept = []
    for key, value in values.items():
        for resource in iter_resources(value):
            if _other_patient(resource, request.patient_id):
                parsed.issues.append(f"a {resource.get('resourceType')} in '{key}' belongs to another patient; not used")
            else:
                kept.append(resource)
    parse_resources(kept, parsed)
    draft = getattr(request.context, "draft_orders", None)
    if isinstance(draft, dict):
        medications = [r for r in iter_resources(draft) if isinstance(r, dict) and r.get("resourceType") == "Medication"]
        parse_resources(medications, parsed)
    return PatientData(parsed, set(values), unavailable)
