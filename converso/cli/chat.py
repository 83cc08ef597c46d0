"""`converso chat`: talk to the agent in a terminal, with tokens streamed and the form shown as it fills."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from converso.apps import App, AppOptions, load_app_factory, model_settings, user_data_dir
from converso.cli.errors import CliError, writable_folder
from converso.cli.options import (
    ApiKeyOption,
    AppOption,
    BaseUrlOption,
    CrmApiKeyOption,
    CrmOption,
    DataDirOption,
    JournalOption,
    JournalUnmaskedOption,
    MaxRetriesOption,
    ModelOption,
    ModelTimeoutOption,
    SystemPromptOption,
    check_model,
    no_model_screen,
    read_system_prompt,
)

HELP = """[bold]Commands[/bold]
  /help    this help
  /forms   what the assistant can do
  /reset   drop the form being filled
  /new     start a new conversation (new thread)
  /quit    leave (Ctrl-D works too)
Ctrl-C while the assistant answers stops that answer; nothing from it is kept."""


# How many earlier messages `converso chat --thread ID` shows when it resumes a conversation.
RESUMED_HISTORY = 10


def form_panel(form: dict[str, Any]) -> Panel:
    """The active form, compact: filled fields ticked, missing ones listed, the next one highlighted."""
    lines = Text()
    for name, value in (form.get("values") or {}).items():
        lines.append("✓ ", style="green")
        lines.append(f"{name}: ", style="bold")
        lines.append(f"{value}\n")
    for i, name in enumerate(form.get("missing") or []):
        if i == 0:
            lines.append(f"→ {name}  (next)\n", style="bold yellow")
        else:
            lines.append(f"· {name}\n", style="dim")
    lines.rstrip()
    return Panel(
        lines or Text("no fields yet", style="dim"), title=f"{form['name']} · {form['state']}", expand=False
    )


def _describe_tools(tools: Sequence[Any]) -> list[tuple[str, str]]:
    from converso.form_agent import FormReset, FormTool

    forms = [(t.name, t.description) for t in tools if isinstance(t, FormTool)]
    others = [
        (t.name, t.description.splitlines()[0] if t.description else "")
        for t in tools
        if not isinstance(t, FormTool | FormReset)
    ]
    return forms + others


class ChatSession:
    """One terminal conversation: reads lines, runs turns, renders their events."""

    def __init__(self, app: App, console: Console, thread_id: str, recorder: Any = None) -> None:
        self.app = app
        self.console = console
        self.thread_id = thread_id
        self.recorder = recorder
        self.loop = asyncio.new_event_loop()
        self._interrupted_at_prompt = False

    def run(self) -> None:
        self.console.print(
            f"[bold]converso chat[/bold] · thread [cyan]{escape(self.thread_id)}[/cyan] "
            f"(resume with --thread {escape(self.thread_id)}) · /help for commands"
        )
        self._show_history()
        self._show_form(self.app.agent.get_form(self.thread_id))
        try:
            while True:
                try:
                    line = self.console.input("[bold cyan]you ›[/bold cyan] ")
                except KeyboardInterrupt:
                    if self._interrupted_at_prompt:
                        self.console.print()
                        return
                    self._interrupted_at_prompt = True
                    self.console.print("\n[dim](Ctrl-C again or /quit to leave)[/dim]")
                    continue
                except EOFError:
                    self.console.print()
                    return
                self._interrupted_at_prompt = False
                text = line.strip()
                if not text:
                    continue
                if text.startswith("/"):
                    if not self._command(text):
                        return
                    continue
                if not self._turn(text):
                    return
        finally:
            self.loop.close()

    def _command(self, text: str) -> bool:
        command = text.split()[0].lower()
        if command in ("/quit", "/exit"):
            return False
        if command == "/help":
            self.console.print(HELP)
        elif command == "/forms":
            self.console.print("[bold]I can:[/bold]")
            for name, description in _describe_tools(self.app.tools):
                # Descriptions hold query syntax like name[ilike]:"%acme%": never Rich markup.
                self.console.print(Text.assemble(("  " + name, "cyan"), "  ", description))
        elif command == "/reset":
            dropped = self.app.agent.reset_form(self.thread_id)
            self.console.print(
                f"[dim]dropped {escape(dropped['name'])}[/dim]" if dropped else "[dim]no form to drop[/dim]"
            )
            self._show_form(self.app.agent.get_form(self.thread_id))
        elif command == "/new":
            self.thread_id = uuid.uuid4().hex[:12]
            self.console.print(f"[dim]new conversation: thread {self.thread_id}[/dim]")
        else:
            self.console.print(
                f"[red]Unknown command {escape(command)}.[/red] Commands: /help /forms /reset /new /quit"
            )
        return True

    def _turn(self, text: str) -> bool:
        """Run one turn; Ctrl-C undoes it, a second Ctrl-C leaves at once."""
        task = self.loop.create_task(self._render_turn(text))
        presses = 0

        def interrupt() -> None:
            nonlocal presses
            presses += 1
            if presses == 1:
                self.console.print("\n[yellow]stopping…[/yellow]")
                task.cancel()
            else:
                # A turn's state is written only when it ends, so leaving now also keeps it as before.
                self.console.print("\n[dim]bye[/dim]")
                os._exit(130)

        self.loop.add_signal_handler(signal.SIGINT, interrupt)
        try:
            self.loop.run_until_complete(task)
        except asyncio.CancelledError:
            self.console.print(
                "\n[yellow]stopped; nothing from this message was kept.[/yellow] (Ctrl-C again to leave)"
            )
            self._interrupted_at_prompt = True
        finally:
            self.loop.remove_signal_handler(signal.SIGINT)
        return True

    async def _render_turn(self, text: str) -> None:
        streamed = False
        at_line_start = True
        reply: Any = None
        self.console.print("[bold magenta]assistant ›[/bold magenta] ", end="")
        at_line_start = False
        # Ctrl-C cancels this task: the engine then undoes the turn, without keeping the user waiting.
        stream = self.app.agent.astream(self.thread_id, text, if_abandoned="undo")
        try:
            async for event in stream:
                kind = event.type
                if kind == "token":
                    self.console.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
                    streamed = True
                    at_line_start = event.text.endswith("\n")
                elif kind == "tool":
                    if not at_line_start:
                        self.console.print()
                    status = "failed" if event.is_error else "ok"
                    self.console.print(
                        f"  ⚙ {event.name} {status}", style="dim", markup=False, highlight=False
                    )
                    at_line_start = True
                elif kind == "error":
                    if not at_line_start:
                        self.console.print()
                    self.console.print(event.message, style="red", markup=False)
                    at_line_start = True
                    streamed = True
                elif kind == "reply":
                    reply = event.reply
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()
        if reply is not None and not streamed and reply.text:
            if at_line_start:
                self.console.print("[bold magenta]assistant ›[/bold magenta] ", end="")
            self.console.print(reply.text, markup=False, highlight=False)
        else:
            self.console.print()
        if reply is not None:
            if self.recorder is not None:
                self.recorder.record_turn(text, reply)
            self._show_form(reply.form)

    def _show_history(self) -> None:
        """A resumed thread starts with its last messages, so the person sees where they left off."""
        history = getattr(self.app.agent, "history", None)
        entries = history(self.thread_id, RESUMED_HISTORY) if history else []
        if not entries:
            return
        self.console.print(f"[dim]… the last {len(entries)} messages of this conversation:[/dim]")
        for entry in entries:
            who = ("  you:", "cyan") if entry["role"] == "user" else ("  assistant:", "magenta")
            self.console.print(Text.assemble(who, " ", entry["text"]))

    def _show_form(self, form: Any) -> None:
        if form:
            self.console.print(form_panel(form))


def _recorder_for(path: Path | None, model: Any) -> Any:
    """The cassette recorder (converso.testing.recorder), when --record is given and it is available."""
    if path is None:
        return None
    try:
        recorder = importlib.import_module("converso.testing.recorder")
    except ImportError:
        raise typer.BadParameter(
            "--record needs converso.testing.recorder, which this build does not have."
        ) from None
    return recorder.CassetteRecorder(path, model=model)


def chat(
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    model_timeout: ModelTimeoutOption = None,
    max_retries: MaxRetriesOption = None,
    system_prompt: SystemPromptOption = None,
    crm: CrmOption = None,
    crm_api_key: CrmApiKeyOption = None,
    thread: Annotated[str | None, typer.Option("--thread", help="Resume this conversation.")] = None,
    record: Annotated[
        Path | None, typer.Option("--record", help="Write the conversation as a cassette.")
    ] = None,
    data_dir: DataDirOption = None,
    journal: JournalOption = None,
    journal_unmasked: JournalUnmaskedOption = False,
    app: AppOption = None,
) -> None:
    """Chat in the terminal: the assistant fills CRM records with you, field by field."""
    console = Console(highlight=False)
    settings = model_settings(model, base_url, api_key, timeout=model_timeout, max_retries=max_retries)
    if settings is None:
        no_model_screen(console, "chat")
        raise typer.Exit(2)
    check_model(settings)
    instructions = read_system_prompt(system_prompt)
    if data_dir is not None:
        writable_folder(data_dir, "--data-dir")
    folder = data_dir or user_data_dir()
    if journal is not None:
        writable_folder(journal, "--journal")
    if record is not None and not record.expanduser().parent.is_dir():
        raise CliError(
            f"--record {record}: the folder {record.parent} does not exist; give a path in an existing one."
        )
    built = load_app_factory(app)(
        AppOptions(
            model=settings,
            data_dir=folder,
            checkpointer=str(folder / "threads.sqlite"),
            crm=crm,
            crm_api_key=crm_api_key,
            journal_dir=journal,
            journal_unmasked=journal_unmasked,
            system_prompt=instructions,
        )
    )
    try:
        recorder = _recorder_for(record, built)
        crm_place = getattr(built, "crm_description", None)
        console.print(
            f"[dim]conversations: {escape(str(folder / 'threads.sqlite'))}"
            + (f" · CRM: {escape(crm_place)}" if crm_place else "")
            + "[/dim]",
            soft_wrap=True,
        )
        ChatSession(built, console, thread or uuid.uuid4().hex[:12], recorder).run()
        if recorder is not None:
            recorder.save()
            console.print(f"[dim]cassette written to {escape(str(record))}[/dim]")
    finally:
        built.close()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
