"""A replayed conversation as a person reads it: who said what, the active form, the records written."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from converso.form_agent.state import FormDisplay, PublicForm
from converso.testing.replay import TurnTranscript

# Bookkeeping fields every record has; they say nothing about what the conversation wrote.
_HIDDEN_FIELDS = {"id", "createdAt", "updatedAt", "deletedAt", "position"}
_RESULT_WIDTH = 160


def print_turn(console: Console, turn: TurnTranscript, *, show_tools: bool = True) -> None:
    console.print(Text.assemble(("You  ", "bold cyan"), turn.user))
    if show_tools:
        for event in turn.tool_events:
            style = "red" if event.is_error else "dim"
            console.print(Text(f"     ⚙ {event.name}({_arguments(event.args)})", style=style))
            console.print(Text(f"       ↳ {_one_line(event.result)}", style=style))
    console.print(Text.assemble(("Bot  ", "bold green"), turn.reply))
    if turn.error:
        console.print(Text(f"     ⚠ {turn.error}", style="yellow"))
    # With the tool calls shown (a developer's view) the form keeps its own names; otherwise people's.
    console.print(display_panel(turn.display) if turn.display and not show_tools else form_panel(turn.form))


def form_panel(form: PublicForm | None) -> Panel | Text:
    if form is None:
        return Text("     no form active", style="dim italic")
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for name, value in form["values"].items():
        table.add_row(name, escape(_short_id(_value(value))))
    for name in form["missing"]:
        table.add_row(name, Text("missing", style="yellow"))
    title = f"{form['name']} · {form['state']}"
    style = "green" if form["state"] == "FILLED" else "blue"
    return Panel(table, title=title, title_align="left", border_style=style, expand=False)


def display_panel(display: FormDisplay) -> Panel:
    """The form as a person sees it: its title, field labels, values (linked records by name)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for field in display["fields"]:
        value = Text(field["value"]) if field["value"] is not None else Text("missing", style="yellow")
        table.add_row(field["label"], value)
    state = "ready to save" if display["can_confirm"] else "being filled"
    style = "green" if display["can_confirm"] else "blue"
    return Panel(
        table, title=f"{display['title']} · {state}", title_align="left", border_style=style, expand=False
    )


def print_records(console: Console, written: Mapping[str, list[dict[str, Any]]]) -> None:
    """One table per object type; ids of records written in the same conversation show as their names."""
    labels = {
        record["id"]: label for records in written.values() for record in records if (label := _label(record))
    }
    if not any(written.values()):
        console.print(Text("Records written: none", style="dim"))
        return
    console.print(Text("Records written", style="bold magenta"))
    for object_type, records in written.items():
        for record in records:
            fields = "  ".join(f"{k}={_cell(v, labels)}" for k, v in _flatten(record).items())
            console.print(Text.assemble((f"  {object_type}: ", "bold"), fields))


def _label(record: Mapping[str, Any]) -> str | None:
    name = record.get("name")
    if isinstance(name, Mapping):
        return " ".join(str(part) for part in (name.get("firstName"), name.get("lastName")) if part) or None
    return name if isinstance(name, str) else record.get("title")


def _cell(value: Any, labels: Mapping[str, str]) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and value in labels:
        return labels[value]
    return _short_id(_value(value))


def _short_id(text: str) -> str:
    # Record ids mean nothing to a reader; a short prefix is enough to tell two apart.
    if len(text) == 36 and text.count("-") == 4:
        return f"#{text[:8]}"
    kind, _, rest = text.partition(":")
    if rest and len(rest) == 36 and rest.count("-") == 4:
        return f"{kind} #{rest[:8]}"
    return text


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if not prefix and key in _HIDDEN_FIELDS:
            continue
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif value not in (None, "", [], {}):
            flat[f"{prefix}{key}"] = value
    return flat


def _arguments(args: Any) -> str:
    if isinstance(args, Mapping):
        return ", ".join(f"{k}={_value(v)}" for k, v in args.items())
    return "" if args is None else repr(args)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _RESULT_WIDTH else line[: _RESULT_WIDTH - 1] + "…"
