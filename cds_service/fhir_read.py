"""Incoming FHIR: validated with fhir.resources (R4B models, R4-compatible), read as plain dicts.

Real clients send slightly-off FHIR (the CDS Hooks sandbox sends single objects where R4 has
arrays, and DSTU2 `MedicationOrder`). We repair what is unambiguous, validate each resource on
its own, and report what still fails instead of rejecting the call.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError
from pydantic_core import to_json

# Resources the rules read. Others in a prefetch are ignored without comment.
READ_TYPES = {"Patient", "Condition", "Observation", "Specimen", "DiagnosticReport", "MedicationRequest",
              "MedicationStatement", "Medication", "ServiceRequest"}
_MODEL_CACHE: dict[str, type] = {}


@dataclass
class ParsedResources:
    """Resources by type (plain dicts that passed validation) and the problems found."""

    by_type: dict[str, list[dict]] = field(default_factory=dict)
    by_ref: dict[str, dict] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    rejected: dict[str, dict] = field(default_factory=dict)  # "Type/id" -> a resource that failed validation

    def add(self, resource: dict) -> None:
        rtype = resource["resourceType"]
        self.by_type.setdefault(rtype, []).append(resource)
        if isinstance(resource.get("id"), str):
            self.by_ref.setdefault(f"{rtype}/{resource['id']}", resource)

    def of(self, rtype: str) -> list[dict]:
        return self.by_type.get(rtype, [])


def _model(rtype: str) -> type:
    if rtype not in _MODEL_CACHE:
        _MODEL_CACHE[rtype] = get_fhir_model_class(rtype)
    return _MODEL_CACHE[rtype]


def _set_path(node: Any, loc: tuple, value: Any) -> None:
    for key in loc[:-1]:
        node = node[key]
    node[loc[-1]] = value


def _get_path(node: Any, loc: tuple) -> Any:
    for key in loc:
        node = node[key]
    return node


def medication_order_as_request(resource: dict) -> dict:
    """A DSTU2 MedicationOrder (the sandbox's default server) as an R4 MedicationRequest."""
    converted = {k: v for k, v in resource.items() if k in {
        "id", "medicationCodeableConcept", "medicationReference", "contained", "note"}}
    converted["resourceType"] = "MedicationRequest"
    converted["status"] = "draft" if resource.get("status") in (None, "draft") else "active"
    converted["intent"] = "order"
    patient = resource.get("patient") or resource.get("subject")
    converted["subject"] = patient if isinstance(patient, dict) else {"reference": "Patient/unknown"}
    if isinstance(resource.get("dateWritten"), str):
        converted["authoredOn"] = resource["dateWritten"]
    return converted


_OUTCOMES: OrderedDict[bytes, tuple[dict | None, str | None, bool]] = OrderedDict()
OUTCOME_CACHE_SIZE = 4096


def validate_resource(resource: Any) -> tuple[dict | None, str | None]:
    """Validate one resource (outcome cached by content: an EHR sends the same patient's resources
    for patient-view, order-select and order-sign). (dict, None) or (None, why)."""
    try:  # the content as compact JSON, by pydantic-core (about 4x faster than json.dumps)
        key = to_json(resource)
    except (TypeError, ValueError, RecursionError):
        return _validate(resource)
    cached = _OUTCOMES.get(key)
    if cached is None:
        valid, problem = _validate(resource)
        repaired = valid is not None and valid is not resource
        cached = (valid if repaired else None, problem, valid is not None)
        _OUTCOMES[key] = cached
        if len(_OUTCOMES) > OUTCOME_CACHE_SIZE:
            _OUTCOMES.popitem(last=False)
    else:
        _OUTCOMES.move_to_end(key)
    repaired_copy, problem, ok = cached
    if not ok:
        return None, problem
    return (repaired_copy if repaired_copy is not None else resource), None


def _validate(resource: Any) -> tuple[dict | None, str | None]:
    """Validate one resource; repair single objects where arrays belong. (dict, None) or (None, why)."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return None, "an entry is not a FHIR resource (no resourceType)"
    rtype = resource["resourceType"]
    try:
        model = _model(rtype)
    except (ValueError, KeyError):
        return None, f"{rtype} is not an R4 resource type"
    candidate = resource
    for _attempt in range(3):
        try:
            model.model_validate(candidate)
            return candidate, None
        except ValidationError as exc:
            errors = exc.errors()
        except (TypeError, ValueError, RecursionError) as exc:
            return None, f"{rtype}/{resource.get('id', '?')} could not be read ({type(exc).__name__}); not used"
        fixable = [e for e in errors if e.get("type") == "list_type" and e.get("loc")]
        if len(fixable) != len(errors):
            return None, _describe(rtype, resource, errors)
        if candidate is resource:
            candidate = copy.deepcopy(resource)
        for err in fixable:
            loc = tuple(err["loc"])
            try:
                _set_path(candidate, loc, [_get_path(candidate, loc)])
            except (KeyError, IndexError, TypeError):
                return None, _describe(rtype, resource, errors)
    return None, f"{rtype}/{resource.get('id', '?')} is not valid FHIR R4; not used"


def _describe(rtype: str, resource: dict, errors: list[dict]) -> str:
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    rid = resource.get("id") if isinstance(resource.get("id"), str) else "?"
    return f"{rtype}/{rid} is not valid FHIR R4 ({where}: {first.get('msg', 'invalid')}); not used"


def iter_resources(value: Any) -> Iterable[Any]:
    """Resources in a prefetch value: a resource, a Bundle (its entries), or a list of either."""
    if isinstance(value, list):
        for item in value:
            yield from iter_resources(item)
    elif isinstance(value, dict):
        if value.get("resourceType") == "Bundle":
            entries = value.get("entry")
            if isinstance(entries, list):
                for entry in entries:
                    if isinstance(entry, dict) and "resource" in entry:
                        yield from iter_resources(entry["resource"])
        else:
            yield value


def parse_resources(values: Iterable[Any], parsed: ParsedResources | None = None) -> ParsedResources:
    """Validate every resource in `values` (resources or Bundles) into a ParsedResources."""
    parsed = parsed or ParsedResources()
    for resource in (r for v in values for r in iter_resources(v)):
        if isinstance(resource, dict) and resource.get("resourceType") == "MedicationOrder":
            resource = medication_order_as_request(resource)
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if isinstance(rtype, str) and rtype not in READ_TYPES:
            continue
        valid, problem = validate_resource(resource)
        if valid is not None:
            parsed.add(valid)
        elif problem:
            parsed.issues.append(problem)
            if isinstance(resource, dict) and isinstance(resource.get("id"), str):
                parsed.rejected.setdefault(f"{rtype}/{resource['id']}", resource)
    return parsed


def parse_datetime(value: Any) -> datetime | None:
    """A FHIR date/dateTime/instant as an aware datetime (partial dates to their first day)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=UTC)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def codings(concept: Any) -> list[dict]:
    """The codings of a CodeableConcept as {system, code, display} holding only strings.

    Orders are read before (or despite) validation, so values may have any JSON type; keeping
    strings only means no caller can trip over an object where a code belongs.
    """
    if not isinstance(concept, dict):
        return []
    items = concept.get("coding")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return []
    return [{k: c[k] for k in ("system", "code", "display") if isinstance(c.get(k), str)}
            for c in items if isinstance(c, dict)]


def concept_texts(concept: Any) -> list[str]:
    """`text` and every coding `display` of a CodeableConcept."""
    if not isinstance(concept, dict):
        return []
    texts = [concept["text"]] if isinstance(concept.get("text"), str) else []
    texts += [c["display"] for c in codings(concept) if isinstance(c.get("display"), str)]
    return texts


def has_code(concept: Any, systems: str | Iterable[str], codes: Iterable[str]) -> bool:
    systems = {systems} if isinstance(systems, str) else set(systems)
    codes = set(codes)
    return any(c.get("system") in systems and c.get("code") in codes for c in codings(concept))
