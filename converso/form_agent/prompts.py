"""The system prompt, rebuilt for every model call from the clock and the form stack."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from langchain_core.tools import BaseTool

from converso.form_agent.form_tool import find_form
from converso.form_agent.state import FormSnapshot, FormToolState

DEFAULT_SYSTEM_PROMPT = (
    "You are an assistant that fills in forms with the user through conversation. Ask for one missing "
    "field at a time, never invent values, and use the tools to store what the user says."
)


def build_system_prompt(
    tools: Sequence[BaseTool],
    forms: list[FormSnapshot],
    now: datetime,
    *,
    base: str | None = None,
    last_error: str | None = None,
) -> str:
    lines = [base or DEFAULT_SYSTEM_PROMPT, f"Current date and time: {now.isoformat()} ({now:%A})."]
    if not forms:
        lines.append(
            "No form is active. To create or change a record, call the matching ...Start tool; answer "
            "other questions directly or with the other tools."
        )
    else:
        lines.extend(_active_form_lines(tools, forms[-1]))
        if len(forms) > 1:
            paused = ", ".join(snapshot["name"] for snapshot in forms[:-1])
            lines.append(f"Paused forms, resumed when the active one is saved or reset: {paused}.")
    if last_error:
        lines.append(f"Your previous tool call failed: {last_error} Correct it or ask the user.")
    return "\n".join(lines)


def _active_form_lines(tools: Sequence[BaseTool], snapshot: FormSnapshot) -> list[str]:
    form = find_form(tools, snapshot["name"])
    lines = [f"Active form: {form.name} ({form.description}), state {snapshot['state']}."]
    if snapshot["state"] == FormToolState.FILLED.value:
        # The values are in the summary just shown, readable (names, not ids); repeating them here would
        # cost their tokens again on every call until the user answers.
        lines.append(f"Filled: {', '.join(snapshot['values'])} (values in the summary).")
        lines.append(
            f"The summary was shown. If the user agrees, call {form.finalize_name} with confirm=true; to "
            f"change or add values, call {form.update_name}."
        )
        return lines
    lines.append(f"Values so far: {json.dumps(snapshot['values'], ensure_ascii=False)}.")
    next_field = form.next_field(snapshot["values"])
    if next_field is not None:
        lines.append(f"Next field to ask: {next_field} — {form.describe_field(next_field)}.")
    elif snapshot.get("errors"):
        lines.append(
            f"Nothing required is missing, but the value given for {', '.join(snapshot['errors'])} was "
            f"rejected: ask the user for a valid one; if they go without it, call {form.update_name} with "
            f"no arguments to get the summary."
        )
    lines.append(
        f"When the user gives values, call {form.update_name} with them (several at once is fine; null "
        f"clears an optional field). If the user cancels, call FormReset."
    )
    return lines
