"""`converso serve`: run the WebSocket chat server with its web widget."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from converso.apps import App, AppOptions, load_app_factory, model_settings, user_data_dir
from converso.cli_common import (
    ApiKeyOption,
    AppOption,
    BaseUrlOption,
    CrmApiKeyOption,
    CrmOption,
    DataDirOption,
    JournalOption,
    JournalUnmaskedOption,
    ModelOption,
    no_model_screen,
)
from converso.server.app import ChatServer, ServerConfig, keys_from
from converso.server.limits import Limits


def _is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith(("postgresql://", "postgres://"))


def serve(
    client_key: Annotated[
        list[str] | None,
        typer.Option(
            "--client-key",
            envvar="CONVERSO_CLIENT_KEYS",
            help="API key a client must present (repeat the option, or comma-separate in the env var).",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            envvar="CONVERSO_STATE",
            help="Conversation state: postgresql:// URL (shared by workers) or SQLite folder. Default: data dir.",
        ),
    ] = None,
    max_frame_bytes: Annotated[int, typer.Option(help="Largest client frame accepted.")] = 16_384,
    messages_per_minute: Annotated[int, typer.Option(help="Messages per minute per client key.")] = 30,
    max_connections: Annotated[int, typer.Option(help="Concurrent connections of this process.")] = 1_000,
    max_connections_per_key: Annotated[
        int, typer.Option(help="Concurrent connections per client key.")
    ] = 200,
    shutdown_grace: Annotated[
        float, typer.Option(help="Seconds running turns get to finish on shutdown.")
    ] = 30.0,
    max_concurrent_turns: Annotated[int, typer.Option(help="Turns run at once; more wait their turn.")] = 64,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    crm: CrmOption = None,
    crm_api_key: CrmApiKeyOption = None,
    data_dir: DataDirOption = None,
    journal: JournalOption = None,
    journal_unmasked: JournalUnmaskedOption = False,
    app: AppOption = None,
) -> None:
    """Serve the chat over WebSocket (/ws), with a chat page (/) and an embeddable widget (/widget.js)."""
    console = Console(stderr=True)
    keys = keys_from(client_key or [])
    if not keys:
        console.print(
            "[red]converso serve needs at least one client key:[/red] --client-key KEY "
            "(or CONVERSO_CLIENT_KEYS=key1,key2)."
        )
        raise typer.Exit(2)
    settings = model_settings(model, base_url, api_key)
    if settings is None:
        no_model_screen(console, "serve")
        raise typer.Exit(2)
    folder = data_dir or user_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if _is_postgres(state):
        checkpointer, owners_url = state, state
    else:
        state_dir = Path(state) if state else folder
        state_dir.mkdir(parents=True, exist_ok=True)
        checkpointer, owners_url = str(state_dir / "threads.sqlite"), str(state_dir / "server.sqlite")
    built: App = load_app_factory(app)(
        AppOptions(
            model=settings,
            data_dir=folder,
            checkpointer=checkpointer,
            crm=crm,
            crm_api_key=crm_api_key,
            journal_dir=journal,
            journal_unmasked=journal_unmasked,
            max_concurrent_turns=max_concurrent_turns,
        )
    )
    config = ServerConfig(
        api_keys=keys,
        host=host,
        port=port,
        state_url=owners_url,
        limits=Limits(
            max_frame_bytes=max_frame_bytes,
            messages_per_minute=messages_per_minute,
            max_connections=max_connections,
            max_connections_per_key=max_connections_per_key,
        ),
        shutdown_grace=shutdown_grace,
    )
    try:
        asyncio.run(_serve(ChatServer(built.agent, config), console))
    finally:
        built.close()


async def _serve(server: ChatServer, console: Console) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    where = f"{server.config.host}:{server.port}"
    console.print(
        f"converso serve: chat page http://{where}/  widget http://{where}/widget.js  ws://{where}/ws",
        soft_wrap=True,
    )
    await stop.wait()
    console.print("converso serve: shutting down (finishing running turns)")
    await server.shutdown()
    console.print("converso serve: stopped")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
