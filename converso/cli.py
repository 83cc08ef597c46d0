"""The `converso` command line. Each command lives in its own module; this file only registers them."""

from __future__ import annotations

import typer

from converso.cli_demo import demo
from converso.cli_replay import replay

app = typer.Typer(help="converso: a form-filling conversational agent over a CRM.", no_args_is_help=True)
app.command()(demo)
app.command()(replay)
__import__("converso.cli_chat", fromlist=["register"]).register(app)
__import__("converso.cli_serve", fromlist=["register"]).register(app)


def main() -> None:
    app()
