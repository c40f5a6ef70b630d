"""CDS Hooks 2.0 feedback on issued cards, with bounds on items and sizes (a caller cannot fill the database)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from .base import Coding, Uuid, WireModel

MAX_FEEDBACK_ITEMS = 50
MAX_ACCEPTED_SUGGESTIONS = 20
MAX_COMMENT_CHARS = 2000


def _iso_datetime(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time") from None
    return value


class AcceptedSuggestion(WireModel):
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class FeedbackOverrideReason(WireModel):
    reason: Coding | None = None
    user_comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT_CHARS)] | None = None


class FeedbackItem(WireModel):
    card: Uuid
    outcome: Literal["accepted", "overridden"]
    outcome_timestamp: Annotated[str, StringConstraints(max_length=64), AfterValidator(_iso_datetime),
                                 Field(json_schema_extra={"format": "date-time"})]
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(None, max_length=MAX_ACCEPTED_SUGGESTIONS)
    override_reason: FeedbackOverrideReason | None = None

    @model_validator(mode="after")
    def _override_only_when_overridden(self) -> Self:
        if self.outcome == "accepted" and self.override_reason is not None:
            raise ValueError("overrideReason is only allowed with outcome 'overridden'")
        return self


class FeedbackRequest(WireModel):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_FEEDBACK_ITEMS)


class FeedbackAccepted(WireModel):
    accepted: int = Field(ge=1)
