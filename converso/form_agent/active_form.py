"""FormUpdate and FormFinalize: the tools that act on the active form, whichever form it is.

Each form has its own Start tool; once it is open, the model fills and saves it through these two, which
all forms share. So the tools offered never change with the form state, and the prompt's prefix (the
tool definitions come first) stays byte-identical across a conversation's calls. The fields FormUpdate
takes are in the state note at the end of the prompt while a form is active.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict

from converso.form_agent.form_tool import FORM_FINALIZE, FORM_UPDATE


class _AnyFields(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Confirm(BaseModel):
    confirm: bool


class FormUpdate(BaseTool):
    """Sets fields of the active form; the arguments are the form's fields."""

    name: str = FORM_UPDATE
    description: str = (
        "Set fields of the active form: the arguments are its fields, as listed in the form note "
        "(several at once; null clears an optional field)."
    )
    args_schema: type[BaseModel] = _AnyFields

    @property
    def tool_call_schema(self) -> dict[str, Any]:  # type: ignore[override]
        return {"type": "object", "properties": {}, "additionalProperties": True}

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("FormUpdate is run by FormAgentExecutor against a conversation's form stack")


class FormFinalize(BaseTool):
    """Saves the active form once the user agreed to its summary."""

    name: str = FORM_FINALIZE
    description: str = "Save the active form once the user agreed to its summary (confirm=false reopens it)."
    args_schema: type[BaseModel] = _Confirm

    @property
    def tool_call_schema(self) -> dict[str, Any]:  # type: ignore[override]
        return {"type": "object", "properties": {"confirm": {"type": "boolean"}}, "required": ["confirm"]}

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("FormFinalize is run by FormAgentExecutor against a conversation's form stack")
