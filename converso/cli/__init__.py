"""The `converso` command line. Each command lives in its own module; this file only registers them."""

from __future__ import annotations

from converso.cli import chat, serve
from converso.cli import eval as eval_command
from converso.cli.demo import demo
from converso.cli.errors import friendly_app, run
from converso.cli.replay import replay

app = friendly_app(help="converso: a form-filling conversational agent over a CRM.", no_args_is_help=True)
app.command()(demo)
app.command()(replay)
chat.register(app)
serve.register(app)
eval_command.register(app)


def main() -> None:
    run(app, "converso")
