"""The `converso` command line. Each command lives in its own module; this file only registers them."""

from __future__ import annotations

import typer

from converso import cli_chat, cli_serve
from converso.cli_demo import demo
from converso.cli_replay import replay

app = typer.Typer(help="converso: a form-filling conversational agent over a CRM.", no_args_is_help=True)
app.command()(demo)
app.command()(replay)
cli_chat.register(app)
cli_serve.register(app)


def main() -> None:
    app()
