"""Options and screens shared by `converso chat` and `converso serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from converso.apps import ModelSettings

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
ModelTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--model-timeout",
        envvar="CONVERSO_MODEL_TIMEOUT",
        min=0.001,
        help="Seconds one model request may take (default: 60 for OpenAI-compatible endpoints).",
    ),
]
MaxRetriesOption = Annotated[
    int | None,
    typer.Option(
        "--max-retries",
        envvar="CONVERSO_MAX_RETRIES",
        min=0,
        help="Retries of a failed model request (default: 2 for OpenAI-compatible endpoints).",
    ),
]
SystemPromptOption = Annotated[
    str | None,
    typer.Option(
        "--system-prompt",
        envvar="CONVERSO_SYSTEM_PROMPT",
        help="The assistant's instructions, as text or @FILE (replaces the built-in ones).",
    ),
]
AppOption = Annotated[
    str | None,
    typer.Option("--app", envvar="CONVERSO_APP", help="App factory module:function (default: the CRM app)."),
]


def read_system_prompt(value: str | None) -> str | None:
    """``--system-prompt``: the text itself, or ``@FILE`` for a file's contents."""
    if value is None:
        return None
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            value = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise typer.BadParameter(
                f"cannot read {path}: {reason}. Give the prompt's text, or @FILE naming a readable UTF-8 file.",
                param_hint="--system-prompt",
            ) from None
    if not value.strip():
        raise typer.BadParameter(
            "the system prompt is empty; give its text or @FILE.", param_hint="--system-prompt"
        )
    return value


def check_model(settings: ModelSettings) -> None:
    """Refuse now, with one clear message, model settings that cannot work (an unknown provider, a
    missing provider package, an option the provider does not take), rather than at the first message."""
    from converso.cli.errors import CliError
    from converso.form_agent.model_factory import ModelConfigurationError

    try:
        settings.factory().check()
    except ModelConfigurationError as exc:
        raise CliError(f"The model settings do not work: {exc}") from None


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
