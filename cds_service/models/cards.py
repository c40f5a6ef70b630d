"""CDS Hooks 2.0 response: cards, suggestions, actions, links, override reasons, and our extension.

The spec's rules are validators here, and the ones JSON Schema can say are in the generated
OpenAPI document too (summary under 140 characters, `selectionBehavior` with suggestions,
`resource` for create/update, `resourceId` for delete, appContext only on SMART links).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from .base import Coding, Text, Url, Uuid, WireModel

TOPIC_SYSTEM = "urn:her2-cds:topic"
TopicCode = Literal["her2-status", "her2-therapy", "her2-trials", "her2-testing", "order-warning", "out-of-scope"]
WarningCode = Literal["anti-egfr-her2-positive", "her2-drug-without-positive", "failed-agent-gastric",
                      "tdxd-her2-low-crc", "ras-mutant-dual-blockade",
                      "tdxd-outside-evidence", "trastuzumab-single-agent-crc",  # clinical decisions 6.1, 6.3, 6.9
                      "her2-regimen-outside-evidence", "her2-test-due"]  # clinical decisions 6.14, 6.13


class Topic(Coding):
    """What the card is about, machine-readably (interface.md, topic codes)."""

    system: Literal["urn:her2-cds:topic"]
    code: TopicCode


class Source(WireModel):
    label: Text
    url: Url | None = None
    icon: Url | None = None
    topic: Topic


class OverrideReason(Coding):
    """A reason a clinician may give for overriding a card; `display` is required by the contract."""

    display: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class Link(WireModel):
    model_config = ConfigDict(json_schema_extra={
        "if": {"required": ["appContext"]}, "then": {"properties": {"type": {"const": "smart"}}}})

    label: Text
    url: Url
    type: Literal["absolute", "smart"]
    app_context: str | None = None

    @model_validator(mode="after")
    def _app_context_needs_smart(self) -> Self:
        if self.app_context is not None and self.type != "smart":
            raise ValueError("appContext is only allowed on 'smart' links")
        return self


class Action(WireModel):
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"type": {"enum": ["create", "update"]}}}, "then": {"required": ["resource"]}},
        {"if": {"properties": {"type": {"const": "delete"}}}, "then": {"required": ["resourceId"]}},
    ]})

    type: Literal["create", "update", "delete"]
    description: Text
    resource: dict[str, Any] | None = Field(None, json_schema_extra={"required": ["resourceType"]})
    resource_id: Annotated[str, StringConstraints(min_length=1)] | None = None

    @model_validator(mode="after")
    def _target(self) -> Self:
        if self.type in ("create", "update") and not (self.resource and isinstance(self.resource.get("resourceType"), str)):
            raise ValueError(f"a '{self.type}' action carries the FHIR resource")
        if self.type == "delete" and not self.resource_id:
            raise ValueError("a 'delete' action carries the resourceId of a draft order")
        return self


class Suggestion(WireModel):
    label: Text
    uuid: Uuid | None = None
    is_recommended: bool | None = None
    actions: list[Action] = Field(min_length=1)


class Her2CdsExtension(WireModel):
    """`extension.her2cds` (interface.md): which card fields apply depends on the topic; open to additions."""

    model_config = ConfigDict(extra="allow")

    tumor_type: Literal["colorectal", "gastric"] | None = None
    status: Literal["positive", "equivocal", "low", "negative", "indeterminate", "not-tested"] | None = None
    basis: list[Literal["tissue", "plasma"]] | None = None
    criteria_met: list[str] | None = None
    criteria_not_met: list[str] | None = None
    criteria_unknown: list[str] | None = None
    regimen: list[str] | None = None
    warning: WarningCode | None = None
    trials: list[Annotated[str, StringConstraints(pattern=r"^NCT\d{8}$")]] | None = None
    rules: list[Text] | None = Field(None, description="ids of the knowledge rules that produced the card")


class CardExtension(WireModel):
    model_config = ConfigDict(extra="allow")

    her2cds: Her2CdsExtension | None = Field(None, alias="her2cds")


class Card(WireModel):
    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"suggestions": ["selectionBehavior"]}})

    uuid: Uuid = Field(description="required here (feedback refers to it), optional in the spec")
    summary: Annotated[str, StringConstraints(min_length=1, max_length=139)]
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = None
    override_reasons: list[OverrideReason] | None = None
    links: list[Link] | None = None
    extension: CardExtension | None = None

    @model_validator(mode="after")
    def _selection_behavior(self) -> Self:
        if self.suggestions is not None and self.selection_behavior is None:
            raise ValueError("a card with suggestions must say its selectionBehavior")
        return self


class CardsResponse(WireModel):
    """A hook's answer; `{"cards": []}` when there is nothing to say."""

    cards: list[Card]
