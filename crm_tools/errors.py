"""The one error type of the CRM, shaped like Twenty's REST error bodies (see docs/crm.md)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import ToolException


class CRMError(ToolException):
    """A CRM-level failure: bad query, unknown record, invalid value, duplicate.

    A ``ToolException``, so the engine hands its message to the model (which can correct the request)
    rather than treating it as a bug.

    ``body()`` gives the response body of docs/crm.md: ``{"statusCode", "error", "messages", "code"}``,
    where ``error`` is ``BadRequestException`` for 400 and ``NotFoundException`` for 404.
    """

    def __init__(self, message: str, *, status_code: int = 400, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code

    @property
    def error(self) -> str:
        return "NotFoundException" if self.status_code == 404 else "BadRequestException"

    def body(self) -> dict[str, Any]:
        return {
            "statusCode": self.status_code,
            "error": self.error,
            "messages": [self.message],
            "code": self.code,
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> CRMError:
        messages = body.get("messages") or [body.get("message") or "CRM error"]
        return cls(
            "; ".join(str(m) for m in messages),
            status_code=int(body.get("statusCode", 400)),
            code=str(body.get("code", "BAD_REQUEST")),
        )


class NotFoundError(CRMError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=404, code="NOT_FOUND")


class StoreURLError(CRMError, ValueError):
    """A store URL that no backend accepts; the message lists the accepted forms."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=400, code="UNSUPPORTED_STORE")


class StoreUnavailableError(CRMError):
    """A store URL of an accepted kind that cannot be opened: a missing file or folder, a database that
    cannot be reached or holds no CRM. The message names the store (never its password) and the cause."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=503, code="STORE_UNAVAILABLE")


# Listed in every StoreURLError message, by the store factory and by the SQL backend alike.
ACCEPTED_STORE_URLS = (
    "sqlite:///PATH (a file, created on first use)",
    "sqlite:// (in memory)",
    "postgresql://USER@HOST:PORT/DB or postgresql+psycopg://...",
)
