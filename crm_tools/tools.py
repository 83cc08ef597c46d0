"""Read and action tools over a CRM backend: search, list, get, complete_task.

Results are short text, one line per record with the fields a person would look at, because every
result is re-sent to the model on later calls: a raw JSON dump of a record costs ten times the
tokens and tells the model nothing more. CRM failures come back as text the model can act on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel

from converso.form_agent import CompactTool
from crm_tools.backends.base import PLURALS, CRMBackend, ObjectName
from crm_tools.errors import CRMError

# What each object is called in tool names and messages, and the filterable fields worth naming to the model.
SEARCHABLE: tuple[ObjectName, ...] = ("company", "person", "opportunity")
# The filterable fields whose names the model could not guess (composite paths, join columns).
FILTER_FIELDS: dict[str, str] = {
    "company": "domainName.primaryLinkUrl, address.addressCity, employees",
    "person": "name.firstName, name.lastName, emails.primaryEmail, companyId",
    "opportunity": "stage, amount.amountMicros, closeDate, companyId",
    "note": "title, body",
    "task": "title, status, dueAt",
}
# Said once, on the first list tool: the grammar is the same for all of them.
FILTER_GRAMMAR = 'filter e.g. name[ilike]:"%acme%",employees[gte]:100; order_by e.g. createdAt[DESC]. '
LIST_DEFAULT_LIMIT = 20


def _nested(record: dict[str, Any], *path: str) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def person_name(record: dict[str, Any]) -> str:
    parts = (_nested(record, "name", "firstName"), _nested(record, "name", "lastName"))
    return " ".join(p for p in parts if p) or "(no name)"


def display_name(object_name: str, record: dict[str, Any]) -> str:
    """The name a person would use for the record."""
    if object_name == "person":
        return person_name(record)
    if object_name in ("note", "task"):
        return record.get("title") or _first_line(record.get("body")) or "(untitled)"
    return record.get("name") or "(no name)"


def _first_line(text: str | None, width: int = 60) -> str | None:
    if not text:
        return None
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def format_money(amount: dict[str, Any] | None) -> str | None:
    if not amount or amount.get("amountMicros") is None:
        return None
    units = int(amount["amountMicros"]) / 1_000_000
    text = f"{units:,.0f}" if units == int(units) else f"{units:,.2f}"
    return f"{text} {amount.get('currencyCode') or 'USD'}"


def _day(value: str | None) -> str | None:
    # Date-times are stored at UTC midnight for date fields; the day is what a person reads.
    return value[:10] if value else None


def _related_name(record: dict[str, Any], relation: str, object_name: str) -> str | None:
    related = record.get(relation)
    return display_name(object_name, related) if isinstance(related, dict) else None


def compact_fields(object_name: str, record: dict[str, Any]) -> dict[str, Any]:
    """The fields of a record worth showing, with empty ones left out."""
    fields: dict[str, Any]
    if object_name == "company":
        address = record.get("address") or {}
        place = ", ".join(p for p in (address.get("addressCity"), address.get("addressCountry")) if p)
        fields = {
            "domain": _nested(record, "domainName", "primaryLinkUrl"),
            "employees": record.get("employees"),
            "city": place or None,
            "ARR": format_money(record.get("annualRecurringRevenue")),
        }
    elif object_name == "person":
        fields = {
            "email": _nested(record, "emails", "primaryEmail"),
            "phone": _nested(record, "phones", "primaryPhoneNumber"),
            "job": record.get("jobTitle"),
            "company": _related_name(record, "company", "company") or record.get("companyId"),
        }
    elif object_name == "opportunity":
        fields = {
            "amount": format_money(record.get("amount")),
            "stage": record.get("stage"),
            "close": _day(record.get("closeDate")),
            "company": _related_name(record, "company", "company") or record.get("companyId"),
            "contact": _related_name(record, "pointOfContact", "person") or record.get("pointOfContactId"),
        }
    elif object_name == "task":
        fields = {
            "status": record.get("status"),
            "due": _day(record.get("dueAt")),
            "body": _first_line(record.get("body")) if record.get("title") else None,
        }
    elif object_name == "note":
        fields = {"body": _first_line(record.get("body"), 120) if record.get("title") else None}
    else:
        fields = {}
    return {key: value for key, value in fields.items() if value not in (None, "")}


def format_record(object_name: str, record: dict[str, Any]) -> str:
    parts = [display_name(object_name, record), f"id={record.get('id')}"]
    parts += [f"{key}={value}" for key, value in compact_fields(object_name, record).items()]
    return " | ".join(parts)


def format_records(object_name: str, records: Iterable[dict[str, Any]]) -> str:
    return "\n".join(f"- {format_record(object_name, record)}" for record in records)


def _quoted(text: str) -> str:
    # The filter grammar strips one pair of surrounding quotes; a quote inside would end the value early.
    return '"' + text.replace('"', "").replace("'", "") + '"'


def search_filter(object_name: ObjectName, text: str) -> str:
    """Every word must match one of the object's name-like fields, case-insensitively."""
    fields = {
        "company": ("name", "domainName.primaryLinkUrl"),
        "person": ("name.firstName", "name.lastName", "emails.primaryEmail"),
        "opportunity": ("name",),
    }[object_name]
    words = text.split() if object_name == "person" else [text.strip()]
    groups = [
        "or(" + ",".join(f"{field}[ilike]:{_quoted('%' + word + '%')}" for field in fields) + ")"
        for word in words
    ]
    return groups[0] if len(groups) == 1 else "and(" + ",".join(groups) + ")"


def _records(body: dict[str, Any], object_name: str) -> list[dict[str, Any]]:
    return list(body.get("data", {}).get(PLURALS[object_name], []))


def _single(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data", {})
    return next(iter(data.values())) if data else {}


def _crm_errors_as_text(action: Callable[..., str]) -> Callable[..., str]:
    def run(**kwargs: Any) -> str:
        try:
            return action(**kwargs)
        except CRMError as exc:
            return f"CRM error: {exc.message}"

    return run


class SearchArgs(BaseModel):
    query: str


class ListArgs(BaseModel):
    filter: str | None = None
    order_by: str | None = None
    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None


class GetArgs(BaseModel):
    id: str


class CompleteTaskArgs(BaseModel):
    task_id: str


def search(backend: CRMBackend, query: str, limit: int = 5) -> str:
    sections = []
    for object_name in SEARCHABLE:
        body = backend.list(object_name, filter=search_filter(object_name, query), limit=limit, depth=1)
        records = _records(body, object_name)
        if records:
            more = body.get("totalCount", len(records)) - len(records)
            tail = (
                f"\n  (+{more} more; narrow the search or use list_{PLURALS[object_name]})"
                if more > 0
                else ""
            )
            sections.append(
                f"{PLURALS[object_name].capitalize()}:\n{format_records(object_name, records)}{tail}"
            )
    if not sections:
        return f"Nothing matches {query!r} among companies, people and opportunities."
    return "\n".join(sections)


def list_records(
    backend: CRMBackend,
    object_name: ObjectName,
    *,
    filter: str | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> str:
    plural = PLURALS[object_name]
    body = backend.list(
        object_name,
        filter=filter,
        order_by=order_by,
        limit=LIST_DEFAULT_LIMIT if limit is None else limit,
        starting_after=starting_after,
        ending_before=ending_before,
        depth=1 if object_name in ("person", "opportunity") else 0,
    )
    records = _records(body, object_name)
    total = body.get("totalCount", len(records))
    if not records:
        return f"No {plural} match." if total == 0 else f"No {plural} on this page ({total} in all)."
    lines = [f"{len(records)} of {total} {plural}:", format_records(object_name, records)]
    page = body.get("pageInfo") or {}
    if page.get("hasNextPage"):
        lines.append(f"next page: starting_after={page.get('endCursor')}")
    if page.get("hasPreviousPage"):
        lines.append(f"previous page: ending_before={page.get('startCursor')}")
    return "\n".join(lines)


GETTABLE: tuple[ObjectName, ...] = ("company", "person", "opportunity", "task", "note")


def get_record(backend: CRMBackend, record_id: str) -> str:
    """Any record by id, with the records embedded at depth 1; ids are UUIDs, unique across objects."""
    try:
        uuid.UUID(record_id)
    except ValueError:
        return f"{record_id!r} is not a record id (ids are UUIDs). Use search to find a record by name."
    for object_name in GETTABLE:
        try:
            record = _single(backend.get(object_name, record_id, depth=1))
        except CRMError as exc:
            if exc.status_code == 404:
                continue
            raise
        return _show_record(object_name, record)
    return f"No company, person, opportunity, task or note has id {record_id!r}."


def _show_record(object_name: ObjectName, record: dict[str, Any]) -> str:
    lines = [f"{object_name}: {format_record(object_name, record)}"]
    body = record.get("body") or ""
    if object_name in ("note", "task") and body.strip() != compact_fields(object_name, record).get(
        "body", ""
    ):
        lines.append(body)
    # One-to-many relations embedded at depth 1, e.g. a company's people and opportunities.
    for relation, related_object in (("people", "person"), ("opportunities", "opportunity")):
        related = record.get(relation)
        if isinstance(related, list) and related:
            lines.append(f"{relation}:\n{format_records(related_object, related)}")
    return "\n".join(lines)


def complete_task(backend: CRMBackend, task_id: str) -> str:
    task = _single(backend.update("task", task_id, {"status": "DONE"}))
    return f"Task {display_name('task', task)!r} (id={task.get('id', task_id)}) is now DONE."


def read_tools(backend: CRMBackend) -> list[BaseTool]:
    tools: list[BaseTool] = [
        CompactTool.from_function(
            func=_crm_errors_as_text(lambda query: search(backend, query)),
            name="search",
            description="Find companies, people and opportunities by name, email or domain.",
            args_schema=SearchArgs,
            metadata={"activity": "Searching the CRM"},
        )
    ]
    for index, object_name in enumerate(("company", "person", "opportunity", "note", "task")):
        plural = PLURALS[object_name]
        grammar = FILTER_GRAMMAR if index == 0 else ""
        tools.append(
            CompactTool.from_function(
                func=_crm_errors_as_text(
                    lambda _object=object_name, **query: list_records(backend, _object, **query)
                ),
                name=f"list_{plural}",
                description=f"List {plural}. {grammar}Fields: {FILTER_FIELDS[object_name]}.",
                args_schema=ListArgs,
                metadata={"activity": f"Looking through the {plural}"},
            )
        )
    # One get for every kind of record: a tool per kind would cost its schema on every model call.
    tools.append(
        CompactTool.from_function(
            func=_crm_errors_as_text(lambda id: get_record(backend, id)),
            name="get_record",
            description="Any record by id, with its related records.",
            args_schema=GetArgs,
            metadata={"activity": "Looking up a record"},
        )
    )
    return tools


def action_tools(backend: CRMBackend) -> list[BaseTool]:
    return [
        CompactTool.from_function(
            func=_crm_errors_as_text(lambda task_id: complete_task(backend, task_id)),
            name="complete_task",
            description="Mark a task as done.",
            args_schema=CompleteTaskArgs,
            metadata={"activity": "Marking the task as done"},
        )
    ]
