"""What the model is told besides the conversation: a system prompt that never changes, and a short state
note after the history, rebuilt for every call.

Providers cache the longest prefix a request shares with an earlier one (tool definitions, then the
messages) and bill it at a fraction of the price, so everything that changes from call to call (the
clock, the active form, its next field, the last error) goes last, after the history, and the prefix only
ever grows. The note is sent, never stored: the history holds only what was said and done.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool

from converso.form_agent.form_tool import FORM_FINALIZE, FORM_UPDATE, find_form
from converso.form_agent.state import FormSnapshot, FormToolState

DEFAULT_SYSTEM_PROMPT = (
    "You are an assistant that fills in forms with the user through conversation. Ask for one missing "
    "field at a time, never invent values, and use the tools to store what the user says."
)

FORM_RULES = (
    "To create or change a record, call its ...Start tool with the values the user already gave, then "
    f"{FORM_UPDATE} with more values or changes (null clears an optional field). Once the form is filled "
    f"its summary is shown; call {FORM_FINALIZE} with confirm=true only after the user agrees to it. If "
    "the user cancels, call FormReset. Other questions: answer directly or with the other tools; an open "
    "form waits. The [Form note] at the end comes from the form engine, not the user."
)

NOTE_PREFIX = "[Form note]"
# json.dumps with an option builds an encoder per call; the note is built for every model call.
_json_text = json.JSONEncoder(ensure_ascii=False).encode


def build_system_prompt(base: str | None = None) -> str:
    """The system prompt: the same on every call of every conversation of an executor."""
    return f"{base or DEFAULT_SYSTEM_PROMPT}\n{FORM_RULES}"


def build_state_note(
    tools: Sequence[BaseTool],
    forms: list[FormSnapshot],
    now: datetime,
    *,
    last_error: str | None = None,
) -> HumanMessage:
    """The note sent after the history: the time to the minute and the state of the form stack. A user
    message, because several providers accept a system message only at the start."""
    lines = [f"{NOTE_PREFIX} Now: {now.isoformat(timespec='minutes')} ({now:%A})."]
    if not forms:
        lines.append("No form is active.")
    else:
        lines.extend(_active_form_lines(tools, forms[-1]))
        if len(forms) > 1:
            paused = ", ".join(snapshot["name"] for snapshot in forms[:-1])
            lines.append(f"Paused forms, resumed when the active one is saved or reset: {paused}.")
    if last_error:
        lines.append(f"Your previous tool call failed: {last_error} Correct it or ask the user.")
    return HumanMessage("\n".join(lines))


def is_state_note(message: object) -> bool:
    return isinstance(message, HumanMessage) and message.text.startswith(NOTE_PREFIX)


def _active_form_lines(tools: Sequence[BaseTool], snapshot: FormSnapshot) -> list[str]:
    form = find_form(tools, snapshot["name"])
    lines = [f"Active form: {form.name} ({form.description}), state {snapshot['state']}."]
    if snapshot["state"] == FormToolState.FILLED.value:
        # The values are in the summary just shown, readable (names, not ids); repeating them here would
        # cost their tokens again on every call until the user answers.
        lines.append(
            f"The summary was shown. If the user agrees, call {FORM_FINALIZE} with confirm=true; to change "
            f"or add values, call {FORM_UPDATE} with any of: {', '.join(form.update_fields())}."
        )
        return lines
    lines.append(f"Values so far: {_json_text(snapshot['values'])}.")
    next_field = form.next_field(snapshot["values"])
    if next_field is not None:
        lines.append(f"Next field to ask: {next_field} — {form.describe_field(next_field)}.")
    elif snapshot.get("errors"):
        lines.append(
            f"Nothing required is missing, but the value given for {', '.join(snapshot['errors'])} was "
            f"rejected: ask the user for a valid one; if they go without it, call {FORM_UPDATE} with "
            f"no arguments to get the summary."
        )
    lines.append(f"{FORM_UPDATE} takes these fields of {form.name}: {form.update_fields_json()}")
    return lines
