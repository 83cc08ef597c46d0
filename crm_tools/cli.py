"""The `crm-env` command line."""

from __future__ import annotations

import typer

app = typer.Typer(help="The CRM agent environment: serve it, or look inside a store.", no_args_is_help=True)


@app.callback()
def _root() -> None:
    """Keeps `crm-env` a command group even while it has one command."""


def main() -> None:
    app()
