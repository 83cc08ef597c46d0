"""`converso replay FILE...`: run cassettes against the real engine and a fresh world; exit 0 only if all pass."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from converso.cli.transcript import print_turn
from converso.testing.cassette import CassetteError, load_cassette
from converso.testing.replay import replay as run_replay
from converso.testing.world import UnknownWorldError

CASSETTE_SUFFIX = ".cassette.yaml"


def cassette_paths(paths: list[Path]) -> list[Path]:
    """The files given, with each directory replaced by the ``*.cassette.yaml`` files under it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(path.rglob(f"*{CASSETTE_SUFFIX}")))
        else:
            found.append(path)
    return found


def replay(
    files: Annotated[list[Path], typer.Argument(help="Cassette files, or folders holding *.cassette.yaml.")],
    show: Annotated[bool, typer.Option("--show", help="Print each conversation as it replays.")] = False,
) -> None:
    """Replay conversation cassettes with a scripted model (no key, no network); exit 1 if any fails."""
    console = Console(highlight=False)
    paths = cassette_paths(files)
    if not paths:
        console.print("[red]No cassettes found[/red] in the paths given (looking for *.cassette.yaml).")
        raise typer.Exit(2)
    failed = 0
    for path in paths:
        try:
            cassette = load_cassette(path)
            result = run_replay(cassette, on_turn=(lambda turn: print_turn(console, turn)) if show else None)
        except (CassetteError, UnknownWorldError) as exc:
            failed += 1
            console.print(f"[bold red]ERROR[/bold red] {escape(str(exc))}")
            continue
        except Exception as exc:
            # A bug in the world's tools or forms (replay is strict): its traceback is what to fix.
            failed += 1
            console.print(
                f"[bold red]ERROR[/bold red] {escape(path.name)}: a tool or form raised "
                f"{escape(type(exc).__name__)}: {escape(str(exc))}"
            )
            console.print(escape("".join(traceback.format_exception(exc))), highlight=False)
            continue
        if result.passed:
            console.print(f"[green]PASSED[/green] {escape(cassette.name)} [dim]({path})[/dim]")
        else:
            failed += 1
            console.print(f"[bold red]FAILED[/bold red] {escape(result.report().split(chr(10), 1)[1])}")
            console.print(f"[dim]  in {escape(cassette.name)} ({path})[/dim]")
    console.print(f"{len(paths) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)
