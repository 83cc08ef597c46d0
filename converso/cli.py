"""The `converso` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="converso: a form-filling conversational agent over a CRM.", no_args_is_help=True)


@app.command()
def demo() -> None:
    """Replay the bundled demo conversations against a fresh embedded CRM (no key, no network)."""
    typer.echo("converso demo is not yet available: the CRM forms are still being built.")


def main() -> None:
    app()
