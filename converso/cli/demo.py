"""`converso demo`: the bundled conversations, replayed against a fresh embedded CRM (no key, no network).

The conversations belong to whoever provides the world they run in (crm_tools), so they are found
through the ``converso.demos`` entry-point group: each entry names a package holding ``*.cassette.yaml``.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import entry_points
from importlib.resources import as_file, files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from converso.cli.transcript import print_records, print_turn
from converso.testing.cassette import Cassette, load_cassette
from converso.testing.replay import replay

DEMO_GROUP = "converso.demos"


def bundled_cassettes() -> list[Cassette]:
    cassettes: list[Cassette] = []
    for point in sorted(entry_points(group=DEMO_GROUP), key=lambda p: p.name):
        with as_file(files(point.value)) as folder:
            for path in sorted(Path(folder).glob("*.cassette.yaml")):
                cassettes.append(load_cassette(path))
    return cassettes


def demo(
    name: Annotated[
        str | None, typer.Argument(help="Replay only the demo whose name contains this text.")
    ] = None,
    tools: Annotated[bool, typer.Option("--tools", help="Also show each tool call and its result.")] = False,
    list_only: Annotated[bool, typer.Option("--list", help="List the demos and exit.")] = False,
) -> None:
    """Replay the bundled demo conversations against a fresh embedded CRM (no key, no network)."""
    console = Console(highlight=False)
    cassettes = bundled_cassettes()
    if name is not None:
        cassettes = [c for c in cassettes if name.lower() in c.name.lower()]
    if not cassettes:
        console.print(
            "[red]No demo conversations found[/red]"
            + (f" matching {escape(name)!r}." if name else f" (entry-point group {DEMO_GROUP!r}).")
            + " Reinstall with `pip install -e .` to register the bundled ones."
        )
        raise typer.Exit(1)
    if list_only:
        for cassette in cassettes:
            console.print(f"- {escape(cassette.name)}")
        return
    failed = False
    for cassette in cassettes:
        console.print(Rule(f"[bold]{escape(cassette.name)}[/bold]"))
        console.print(
            f"[dim]A fresh CRM ({cassette.crm.describe()}); the model's answers are pre-recorded.[/dim]\n"
        )
        with tempfile.TemporaryDirectory(prefix="converso-demo-") as data_dir:
            result = replay(
                cassette, data_dir=data_dir, on_turn=lambda turn: _print_turn(console, turn, tools)
            )
        if not result.passed:
            failed = True
            console.print(
                f"[bold red]This demo did not replay as recorded:[/bold red]\n{escape(result.report())}"
            )
            continue
        print_records(console, result.written_nonempty())
        console.print()
    if failed:
        raise typer.Exit(1)


def _print_turn(console: Console, turn: object, tools: bool) -> None:
    print_turn(console, turn, show_tools=tools)  # type: ignore[arg-type]
    console.print()
