"""Options and screens shared by `converso chat` and `converso serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

ModelOption = Annotated[
    str | None, typer.Option("--model", envvar="CONVERSO_MODEL", help="Model name, or provider:model.")
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url", envvar="OPENAI_BASE_URL", help="OpenAI-compatible endpoint, e.g. a local server."
    ),
]
ApiKeyOption = Annotated[
    str | None, typer.Option("--api-key", envvar="OPENAI_API_KEY", help="The model provider's API key.")
]
CrmOption = Annotated[
    str | None,
    typer.Option(
        "--crm",
        envvar="CONVERSO_CRM",
        help="CRM store: SQLite file, postgresql:// URL, or ws:// / wss:// CRM env. Default: the data dir.",
    ),
]
CrmApiKeyOption = Annotated[
    str | None,
    typer.Option("--crm-api-key", envvar="CONVERSO_CRM_API_KEY", help="API key of a ws:// CRM env."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="CONVERSO_DATA_DIR", help="Where conversations and the CRM live."),
]
JournalOption = Annotated[
    Path | None,
    typer.Option(
        "--journal", envvar="CONVERSO_JOURNAL", help="Write a JSONL journal per thread into this folder."
    ),
]
JournalUnmaskedOption = Annotated[
    bool, typer.Option("--journal-unmasked", help="Keep emails and phone numbers readable in the journal.")
]
AppOption = Annotated[
    str | None,
    typer.Option("--app", envvar="CONVERSO_APP", help="App factory module:function (default: the CRM app)."),
]


def no_model_screen(console: Console, command: str) -> None:
    console.print(
        Panel.fit(
            "\n".join(
                [
                    "[bold]No language model is configured.[/bold]",
                    "",
                    "Set one of these (environment variable or option):",
                    "  [cyan]OPENAI_API_KEY[/cyan]  / --api-key    the provider's API key",
                    "  [cyan]OPENAI_BASE_URL[/cyan] / --base-url   any OpenAI-compatible endpoint",
                    "  [cyan]CONVERSO_MODEL[/cyan]  / --model      the model name (default gpt-4o-mini)",
                    "",
                    f"then run [bold]converso {command}[/bold] again.",
                    "[bold]converso demo[/bold] works without any model: it replays recorded conversations.",
                ]
            ),
            title="converso",
            border_style="yellow",
        )
    )
