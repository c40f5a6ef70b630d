"""CDS Hooks 2.0 request: the envelope, `fhirAuthorization` and the context of each hook.

Strict where the spec and the contract are (hook, UUID `hookInstance`, a usable `patientId`),
liberal where real clients differ (interface.md, "Real clients"): FHIR content (draft orders,
prefetch) is kept as JSON and read as far as possible later, never rejected here.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from .base import Uuid, WireModel


def _not_a_path_segment(value: str) -> str:
    if value.strip() in (".", ".."):
        raise ValueError("must be a patient id, not '.' or '..'")
    return value


PatientId = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"\S"), AfterValidator(_not_a_path_segment),
    Field(json_schema_extra={"not": {"enum": [".", ".."]}}),
]
OptionalId = Annotated[str, StringConstraints(max_length=256)] | None


class FhirAuthorization(BaseModel):
    """The bearer token the service may use on `fhirServer` (spec names are snake_case)."""

    model_config = ConfigDict(extra="ignore")

    access_token: Annotated[str, StringConstraints(min_length=1, max_length=16384)]
    token_type: str | None = None
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class HookContext(WireModel):
    """Context members every hook of this service has."""

    patient_id: PatientId
    user_id: OptionalId = None
    encounter_id: OptionalId = None


class PatientViewContext(HookContext):
    """patient-view: the chart of `patientId` was opened."""


class OrderSignContext(HookContext):
    """order-sign: `draftOrders` (a FHIR Bundle, read leniently) are about to be signed."""

    draft_orders: dict[str, Any] | None = Field(None, description="FHIR Bundle of draft orders (R4, or DSTU2 MedicationOrder)")

    def orders(self) -> dict[str, Any]:
        """The context as the order readers take it (plain JSON names)."""
        return {"draftOrders": self.draft_orders}


class OrderSelectContext(OrderSignContext):
    """order-select: the clinician selected `selections` among `draftOrders`."""

    selections: list[Annotated[str, StringConstraints(max_length=512)]] | None = None

    def orders(self) -> dict[str, Any]:
        return {"draftOrders": self.draft_orders, "selections": self.selections}


class HookRequest(WireModel):
    """A CDS Hooks call. `prefetch` values stay plain JSON (resources or Bundles)."""

    hook: str
    hook_instance: Uuid
    fhir_server: Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"\S")] | None = None
    fhir_authorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, Any] = Field(default_factory=dict)

    @field_validator("prefetch", mode="before")
    @classmethod
    def _absent_prefetch(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def patient_id(self) -> str:
        return self.context.patient_id

    @property
    def access_token(self) -> str | None:
        return self.fhir_authorization.access_token if self.fhir_authorization else None


class PatientViewRequest(HookRequest):
    hook: Literal["patient-view"]
    context: PatientViewContext


class OrderSelectRequest(HookRequest):
    hook: Literal["order-select"]
    context: OrderSelectContext


class OrderSignRequest(HookRequest):
    hook: Literal["order-sign"]
    context: OrderSignContext


REQUEST_FOR_HOOK: dict[str, type[HookRequest]] = {
    "patient-view": PatientViewRequest, "order-select": OrderSelectRequest, "order-sign": OrderSignRequest,
}
