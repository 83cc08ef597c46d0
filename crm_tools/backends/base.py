"""The contract every CRM store fulfils: the embedded SQL store and the WebSocket env client alike.

Object names are Twenty's singular names: ``company``, ``person``, ``opportunity``, ``note``,
``task``, and the link objects ``noteTarget`` and ``taskTarget``. Record payloads use Twenty's
nested composite fields (``{"name": {"firstName": ..., "lastName": ...}}``). Every method returns
the response body of docs/crm.md for its operation and raises ``CRMError`` for any CRM-level failure.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

ObjectName = Literal["company", "person", "opportunity", "note", "task", "noteTarget", "taskTarget"]

PLURALS: dict[str, str] = {
    "company": "companies",
    "person": "people",
    "opportunity": "opportunities",
    "note": "notes",
    "task": "tasks",
    "noteTarget": "noteTargets",
    "taskTarget": "taskTargets",
}


@runtime_checkable
class CRMBackend(Protocol):
    def list(
        self,
        object_name: ObjectName,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        limit: int | str | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        depth: int | str = 0,
    ) -> dict[str, Any]:
        """``{"data": {plural: [...]}, "totalCount": N, "pageInfo": {...}}``."""
        ...

    def get(self, object_name: ObjectName, record_id: str, *, depth: int = 0) -> dict[str, Any]:
        """``{"data": {singular: record}}``; 404 ``CRMError`` when absent or soft-deleted."""
        ...

    def create(
        self, object_name: ObjectName, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """``{"data": {"create<Singular>": record}}``; the same key always returns the first record."""
        ...

    def update(self, object_name: ObjectName, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        """``{"data": {"update<Singular>": record}}``; only the given fields change."""
        ...

    def delete(self, object_name: ObjectName, record_id: str) -> dict[str, Any]:
        """``{"data": {"delete<Singular>": {"id": id}}}``."""
        ...

    def close(self) -> None: ...
