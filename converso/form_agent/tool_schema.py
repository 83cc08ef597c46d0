"""The schemas the model is shown: compact JSON schemas of the tools, derived from their pydantic models.

Every visible tool's schema is re-sent on every model call, and an open form's Update schema is one of
them, so what the model does not need costs tokens on each call: titles (the property name says it),
defaults, ``format`` and the ``anyOf`` with null that pydantic writes for each optional field. Validation
never uses these schemas: it always runs the full pydantic model.
"""

from __future__ import annotations

import copy
from typing import Any

from langchain_core.tools import StructuredTool
from langchain_core.utils.json_schema import dereference_refs
from pydantic import PrivateAttr

_NOT_FOR_THE_MODEL = ("title", "default", "format")


def compact_json_schema(schema: dict[str, Any], *, descriptions: bool = True) -> dict[str, Any]:
    """``schema`` (an object schema from ``model_json_schema()``) without titles, defaults, ``format`` and
    null branches, at every depth; references to ``$defs`` are inlined. ``descriptions=False`` also drops
    the descriptions, leaving names and types."""
    inlined = dereference_refs(schema)
    inlined.pop("$defs", None)
    dropped = _NOT_FOR_THE_MODEL if descriptions else (*_NOT_FOR_THE_MODEL, "description")
    compact = _compact(inlined, dropped)
    shown: dict[str, Any] = {"type": "object", "properties": compact.get("properties", {})}
    if compact.get("required"):
        shown["required"] = compact["required"]
    if inlined.get("additionalProperties") is True:
        shown["additionalProperties"] = True
    return shown


def _compact(node: Any, dropped: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_compact(item, dropped) for item in node]
    if not isinstance(node, dict):
        return node
    compact: dict[str, Any] = {}
    only_branch: dict[str, Any] = {}
    for key, value in node.items():
        if key in dropped:
            continue
        if key == "properties" and isinstance(value, dict):
            # The keys here are field names (a field may be called "title"), not schema keywords.
            compact[key] = {name: _compact(prop, dropped) for name, prop in value.items()}
        elif key == "anyOf" and isinstance(value, list):
            branches = [_compact(branch, dropped) for branch in value if branch.get("type") != "null"]
            if len(branches) == 1:
                only_branch = branches[0]
            elif branches:
                compact[key] = branches
        else:
            compact[key] = _compact(value, dropped)
    # The field's own keywords (its description) win over those of the type it names.
    return {**only_branch, **compact}


class CompactTool(StructuredTool):
    """A StructuredTool that validates with its pydantic ``args_schema`` and shows the model the compact
    schema (without field descriptions when ``field_descriptions`` is False)."""

    field_descriptions: bool = True
    # Generating a JSON schema from pydantic takes about a millisecond, LangChain reads this property three
    # times per tool per binding, and a conversation meets a new set of visible tools (so a new binding) at
    # each form state: computed once, the first turns of a fresh server no longer pay for it.
    _compact_schema: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def tool_call_schema(self) -> dict[str, Any]:  # type: ignore[override]
        if self._compact_schema is None:
            self._compact_schema = compact_json_schema(
                self.get_input_schema().model_json_schema(), descriptions=self.field_descriptions
            )
        # A copy: the caller may change what it is given.
        return copy.deepcopy(self._compact_schema)
