"""What every wire model shares: camelCase JSON names, snake_case attributes; reusable field types."""
from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A JSON object of the CDS Hooks wire format: camelCase on the wire, unknown members ignored."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, extra="ignore")


def _uuid(value: str) -> str:
    try:
        return str(UUID(value))
    except ValueError:
        raise ValueError("must be a UUID such as 0f4ad1e8-5c1b-4f7e-9a47-6b6f6d4c2a10") from None


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL")
    return value


Text = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
Uuid = Annotated[str, AfterValidator(_uuid), Field(json_schema_extra={"format": "uuid"})]
Url = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^/\s]+"), AfterValidator(_url),
                Field(json_schema_extra={"format": "uri"})]


class Coding(WireModel):
    """CDS Hooks' trimmed-down FHIR Coding."""

    system: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    display: Annotated[str, StringConstraints(max_length=512)] | None = None
