"""What a person sees of a conversation: the form with its labels, tool activity as short phrases, and
the messages of earlier turns. Surfaces (the chat page, the terminal) show these as they are, so the
wording lives here and in each FormTool's declarations, never in the surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool

from converso.form_agent.form_tool import FORM_FINALIZE, FORM_UPDATE, FormTool
from converso.form_agent.reset import FormReset
from converso.form_agent.state import FormDisplay, PublicForm


class HistoryEntry(TypedDict):
    role: Literal["user", "assistant"]
    text: str


def form_display(tools: Sequence[BaseTool], form: PublicForm | None) -> FormDisplay | None:
    if form is None:
        return None
    tool = _form_tool(tools, form["name"])
    if tool is None:
        return None
    return tool.display_view(form)


def display_may_block(tools: Sequence[BaseTool], form: PublicForm | None) -> bool:
    """Whether showing ``form`` may wait on I/O (its form's ``hooks_may_block()``)."""
    tool = _form_tool(tools, form["name"]) if form is not None else None
    return tool is not None and tool.hooks_may_block()


def activity_phrase(tools: Sequence[BaseTool], name: str, form_name: str | None = None) -> str:
    """A short phrase for a tool call the model made, e.g. "Filling in: New company". FormUpdate and
    FormFinalize act on whichever form is active: ``form_name`` names it, if the caller knows it."""
    if name in (FORM_UPDATE, FORM_FINALIZE):
        verb = "Filling in" if name == FORM_UPDATE else "Saving"
        form = _form_tool(tools, form_name) if form_name else None
        return f"{verb}: {form.display_title()}" if form is not None else f"{verb} the form"
    for tool in tools:
        if isinstance(tool, FormTool):
            if name == tool.start_name:
                return f"Starting: {tool.display_title()}"
        elif isinstance(tool, FormReset) and name == tool.name:
            return "Dropping the form"
        elif tool.name == name:
            label = (tool.metadata or {}).get("activity")
            return str(label) if label else "Looking that up"
    return "Working on it"


def visible_history(messages: Sequence[AnyMessage], limit: int) -> list[HistoryEntry]:
    """The last ``limit`` entries of what the person saw: each message they sent and each turn's reply
    (the turn's last message: the model's answer, or a tool result that was the reply as it is)."""
    entries: list[HistoryEntry] = []
    last: Any = None
    for message in messages:
        if isinstance(message, HumanMessage):
            _close_turn(entries, last)
            entries.append(HistoryEntry(role="user", text=message.text))
            last = None
        else:
            last = message
    _close_turn(entries, last)
    return entries[-limit:] if limit > 0 else []


def _close_turn(entries: list[HistoryEntry], last: Any) -> None:
    if isinstance(last, AIMessage | ToolMessage) and last.text:
        entries.append(HistoryEntry(role="assistant", text=last.text))


def _form_tool(tools: Sequence[BaseTool], name: str) -> FormTool | None:
    return next((t for t in tools if isinstance(t, FormTool) and t.name == name), None)
