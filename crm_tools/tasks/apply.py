"""Writing a task's expected outcome straight into a CRM, without any conversation.

This is how a program acts on ``task.expected``: the graders' tests use it to show that the expected
outcome earns full marks, and an RL reference policy can follow the same steps through its own actions.
"""

from __future__ import annotations

from typing import Any

from crm_tools.backends.base import CRMBackend
from crm_tools.forms._base import set_path
from crm_tools.tasks.changes import snapshot
from crm_tools.tasks.grading import find_records
from crm_tools.tasks.model import Task
from crm_tools.tasks.vocabulary import ABOUT_KEYS, FIELDS


def record_payload(backend: CRMBackend, object_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The CRM record body for expected ``fields`` (references looked up by their key)."""
    data: dict[str, Any] = {}
    for name, value in fields.items():
        spec = FIELDS[object_name][name]
        if spec.kind == "about":
            continue
        if spec.kind == "money":
            set_path(data, spec.path, round(float(value) * 1_000_000))
            data["amount"].setdefault("currencyCode", fields.get("currency", "USD"))
        elif spec.kind == "date":
            set_path(data, spec.path, f"{value}T00:00:00.000Z")
        elif spec.kind in ("company", "person"):
            set_path(data, spec.path, find_id(backend, spec.kind, value))
        else:
            set_path(data, spec.path, value)
    return data


def find_id(backend: CRMBackend, kind: str, key: Any) -> str:
    """The id of the company (by name), person (by email) or opportunity (by name) that ``key`` names."""
    found = find_records(snapshot(backend), kind, {ABOUT_KEYS[kind]: key})
    if len(found) != 1:
        raise LookupError(f"{len(found)} {kind} records have {ABOUT_KEYS[kind]} {key!r}")
    return found[0]["id"]


def apply_expected(task: Task, backend: CRMBackend) -> str | None:
    """Create, update and delete what ``task`` expects; returns the expected answer as text (or None)."""
    for spec in task.expected.create:
        body = backend.create(spec.object, record_payload(backend, spec.object, spec.fields))  # type: ignore[arg-type]
        record = next(iter(body["data"].values()))
        _link(backend, spec.object, record["id"], spec.fields.get("about"))
    for spec in task.expected.update:
        (record,) = find_records(snapshot(backend), spec.object, spec.match)
        backend.update(spec.object, record["id"], record_payload(backend, spec.object, spec.set))  # type: ignore[arg-type]
    for spec in task.expected.delete:
        (record,) = find_records(snapshot(backend), spec.object, spec.match)
        backend.delete(spec.object, record["id"])  # type: ignore[arg-type]
    return " ".join(str(value) for value in task.expected.answer) or None


def _link(backend: CRMBackend, object_name: str, record_id: str, about: dict[str, Any] | None) -> None:
    if not about:
        return
    ((kind, key),) = about.items()
    target = {f"{object_name}Id": record_id, f"{kind}Id": find_id(backend, kind, key)}
    backend.create(f"{object_name}Target", target)  # type: ignore[arg-type]
