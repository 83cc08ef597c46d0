"""The flat agent's tools: one plain tool per operation of the CRM agent environment (its 22 action types,
as the Construct Labs SDK exposes them), each writing at once, with ids instead of names.

Each call is one ACTION stepped through ``crm_tools.env.session.Session`` on the episode's CRM, so the flat
agent sees exactly what an RL agent of the environment sees: the observation as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, create_model

from crm_tools.backends.base import CRMBackend
from crm_tools.env.actions import ACTIONS, FIELDS, LINKS, STANDARD_ACTION_TYPES, ActionShapeError
from crm_tools.env.session import Session, SharedSource

_DESCRIPTIONS = {
    "create": "Create a {object}. Writes immediately.",
    "update": "Update fields of a {object} by record_id; only the given fields change. Writes immediately.",
    "delete": "Delete a {object} by record_id.",
    "list": "List {plural} with filter, order_by and cursor paging; returns records with their ids.",
    "get": "Get one {object} by record_id.",
    "complete": "Mark a task as DONE by record_id.",
    "submit": "Submit the final answer to the user's question.",
}
_FIELD_HELP = {
    "opportunity_amount": "Amount in currency units",
    "opportunity_stage": "NEW, MEETING, PROPOSAL, WON or LOST",
    "opportunity_close_date": "ISO date, e.g. 2026-12-01",
    "task_due_date": "ISO date, e.g. 2026-12-01",
    "task_status": "TODO, IN_PROGRESS or DONE",
    "person_company_id": "Id of the company (from list_companies)",
    "opportunity_company_id": "Id of the company (from list_companies)",
    "opportunity_person_id": "Id of the point of contact (from list_people)",
}
_LIST_ARGS: dict[str, Any] = {
    "filter": (str | None, Field(None, description='e.g. name[ilike]:"%acme%" or stage[eq]:WON')),
    "order_by": (str | None, Field(None, description="e.g. createdAt[DescNullsLast]")),
    "limit": (int | None, Field(None, description="Page size, 1-200 (default 60)")),
    "starting_after": (str | None, Field(None, description="Cursor from pageInfo.endCursor")),
    "depth": (int | None, Field(None, description="1 embeds related records")),
}
_PLURALS = {
    "company": "companies",
    "person": "people",
    "opportunity": "opportunities",
    "note": "notes",
    "task": "tasks",
}


def _schema(action_type: str) -> type[BaseModel]:
    spec = ACTIONS[action_type]
    fields: dict[str, Any] = {}
    if spec.operation in ("update", "delete", "get", "complete"):
        fields["record_id"] = (str, Field(description="The record's id"))
    if spec.operation in ("create", "update") and spec.object_name:
        for flat in FIELDS[spec.object_name]:
            if flat.standard:
                kind = {"int": int, "units": float, "bool": bool}.get(flat.kind, str)
                fields[flat.name] = (kind | None, Field(None, description=_FIELD_HELP.get(flat.name)))
        if spec.operation == "create" and spec.object_name in LINKS:
            for flat_name, _ in LINKS[spec.object_name][2]:
                kind = flat_name.split("_target_", 1)[1].removesuffix("_id")
                fields[flat_name] = (str | None, Field(None, description=f"Id of a {kind} it is about"))
    if spec.operation == "list":
        fields.update(_LIST_ARGS)
    if spec.operation == "submit":
        fields["answer"] = (str, Field(description="The answer"))
    return create_model(f"{action_type}_args", **fields)


def flat_tools(backend: CRMBackend, answers: list[str] | None = None) -> list[BaseTool]:
    """The 22 tools over ``backend``; ``answers`` collects what ``submit_answer`` submits."""
    session = Session(SharedSource(backend), advertise_extensions=False)

    def tool_for(action_type: str) -> BaseTool:
        spec = ACTIONS[action_type]

        def run(**kwargs: Any) -> str:
            action = {"action_type": action_type, **{k: v for k, v in kwargs.items() if v is not None}}
            if spec.operation == "submit" and answers is not None:
                answers.append(str(kwargs.get("answer") or ""))
            try:
                result = session.step(action)
            except ActionShapeError as exc:
                return json.dumps({"success": False, "error": str(exc)})
            # A submitted answer ends an env episode; here the conversation goes on.
            session.done = False
            return json.dumps(
                {"success": result["success"], "error": result["error"], "data": result["data"]},
                ensure_ascii=False,
            )

        object_name = spec.object_name or ""
        description = _DESCRIPTIONS[spec.operation].format(
            object=object_name, plural=_PLURALS.get(object_name, "")
        )
        return StructuredTool.from_function(
            func=run, name=action_type, description=description, args_schema=_schema(action_type)
        )

    return [tool_for(action_type) for action_type in STANDARD_ACTION_TYPES]


FLAT_SYSTEM_PROMPT = """You are a CRM assistant. Use the tools to read and write the CRM (companies, people, \
opportunities, notes, tasks). Records refer to each other by id: look ids up with the list tools. Before you \
create, change or delete a record, show the user exactly what you will write and wait for their confirmation. \
Answer questions from the CRM's data.
Current date and time: {now} ({weekday})."""
