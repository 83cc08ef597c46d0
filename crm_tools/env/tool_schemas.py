"""The env's actions as OpenAI-style function tools, generated from the one action table.

A tool's name is the ``action_type`` and its arguments are the action's flat fields, so a model's
tool call becomes an ACTION by adding ``action_type``: ``{"action_type": name, **arguments}``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from crm_tools.env.actions import ACTIONS, FIELDS, LINKS, LIST_PARAMS, ActionSpec

_JSON_TYPES = {"text": "string", "int": "integer", "units": "number", "bool": "boolean"}
_OBJECT_WORDS = {"company": "company", "person": "person (contact)", "opportunity": "opportunity (deal)",
                 "note": "note", "task": "task", "noteTarget": "note link", "taskTarget": "task link"}  # fmt: skip
_LIST_PARAMS = {
    "limit": ("integer", "At most this many records (1-200, default 60)."),
    "starting_after": ("string", "The endCursor of the previous page, for the next page."),
    "ending_before": ("string", "The startCursor of the next page, for the previous page."),
    "order_by": ("string", "e.g. name[AscNullsFirst] or createdAt[DescNullsLast]."),
    "filter": ("string", 'field[comparator]:value, e.g. name[ilike]:"%acme%" or stage[eq]:WON; comma = AND.'),
    "depth": ("integer", "0: the records only; 1: with their related records."),
}


def _field_description(name: str) -> str:
    words = name.split("_", 1)[1].replace("_", " ")
    if name.endswith("_id"):
        return f"The id of the {words[:-3].strip() or 'record'} (from a list or create result)."
    if name == "opportunity_amount":
        return "The deal amount in currency units (e.g. 50000)."
    if name.endswith("date"):
        return f"The {words} (ISO format, e.g. 2026-03-15)."
    return f"The {words}."


def _tool(spec: ActionSpec, extensions: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    word = _OBJECT_WORDS.get(spec.object_name or "", "")
    if spec.operation in ("get", "update", "delete", "complete"):
        properties["record_id"] = {"type": "string", "description": f"The id of the {word}."}
        required.append("record_id")
    if spec.operation in ("create", "update"):
        for flat in FIELDS[spec.object_name or ""]:
            if (flat.standard or extensions) and flat.name not in properties:
                properties[flat.name] = {
                    "type": _JSON_TYPES[flat.kind],
                    "description": _field_description(flat.name),
                }
    if spec.operation == "create" and spec.object_name in LINKS:
        for flat_name, _ in LINKS[spec.object_name][2]:
            target = flat_name.rsplit("_", 2)[-2]
            properties[flat_name] = {"type": "string", "description": f"Attach it to this {target} (its id)."}
    if spec.operation == "list":
        for name in LIST_PARAMS:
            if name in _LIST_PARAMS:
                kind, text = _LIST_PARAMS[name]
                properties[name] = {"type": kind, "description": text}
    if spec.operation == "get":
        kind, text = _LIST_PARAMS["depth"]
        properties["depth"] = {"type": kind, "description": text}
    if spec.operation == "submit":
        properties["answer"] = {"type": "string", "description": "The final answer; ends the episode."}
        required.append("answer")
    verbs = {"create": "Create a", "update": "Update a", "delete": "Delete a", "get": "Get one",
             "list": "List or search", "complete": "Mark done a"}  # fmt: skip
    description = (
        "Submit the final answer (or confirm the work is done) and end the episode."
        if spec.operation == "submit"
        else f"{verbs[spec.operation]} {word if spec.operation != 'list' else word + ' records'}."
    )
    return {
        "type": "function",
        "function": {
            "name": spec.action_type,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


@cache
def _tools(extensions: bool) -> tuple[dict[str, Any], ...]:
    return tuple(_tool(spec, extensions) for spec in ACTIONS.values() if spec.standard or extensions)


def env_tools(*, extensions: bool = False) -> list[dict[str, Any]]:
    """One function tool per action type (the standard vocabulary; ``extensions``: ours too)."""
    return [dict(tool) for tool in _tools(extensions)]


def action_from_tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The ACTION a tool call asks for (unknown names and fields are the server's to refuse)."""
    return {**arguments, "action_type": name}
