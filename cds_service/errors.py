"""The one exception type the web layer turns into a JSON error response."""
from __future__ import annotations


class ApiError(Exception):
    """A client-visible error: HTTP status, a short machine code and a human reason."""

    def __init__(self, status: int, code: str, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason
        self.field = field

    def body(self, request_id: str) -> dict:
        """The JSON body sent to the client."""
        body = {"error": self.code, "reason": self.reason, "requestId": request_id}
        if self.field:
            body["field"] = self.field
        return body
