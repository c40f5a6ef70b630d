"""Typed models of everything on the wire (pydantic); the OpenAPI document is generated from them."""
from .base import Coding, WireModel
from .cards import (
    Action,
    Card,
    CardExtension,
    CardsResponse,
    Her2CdsExtension,
    Link,
    OverrideReason,
    Source,
    Suggestion,
    Topic,
)
from .feedback import AcceptedSuggestion, FeedbackAccepted, FeedbackItem, FeedbackOverrideReason, FeedbackRequest
from .hooks import (
    REQUEST_FOR_HOOK,
    FhirAuthorization,
    HookContext,
    HookRequest,
    OrderSelectContext,
    OrderSelectRequest,
    OrderSignContext,
    OrderSignRequest,
    PatientViewContext,
    PatientViewRequest,
)
from .operations import Discovery, ErrorBody, Health, Liveness, Readiness, ServiceDescription

__all__ = [
    "REQUEST_FOR_HOOK", "AcceptedSuggestion", "Action", "Card", "CardExtension", "CardsResponse", "Coding", "Discovery",
    "ErrorBody", "FeedbackAccepted", "FeedbackItem", "FeedbackOverrideReason", "FeedbackRequest", "FhirAuthorization",
    "Health", "Her2CdsExtension", "HookContext", "HookRequest", "Link", "Liveness", "OrderSelectContext",
    "OrderSelectRequest", "OrderSignContext", "OrderSignRequest", "OverrideReason", "PatientViewContext",
    "PatientViewRequest", "Readiness", "ServiceDescription", "Source", "Suggestion", "Topic", "WireModel",
]
