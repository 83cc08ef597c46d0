"""`converso serve`: run the WebSocket chat server with its web widget."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import select
import signal
import socket
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from converso.apps import App, AppOptions, load_app_factory, model_settings, user_data_dir
from converso.cli.errors import CliError, explain, writable_folder
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
from converso.form_agent.turn_loop import new_event_loop
from converso.server.app import ChatServer, ServerConfig, keys_from
from converso.server.limits import Limits
from converso.server.logs import configure_logging
from converso.server.ownership import ThreadOwnership

# Young-generation threshold raised from 700; the older generations keep their default ratios.
SERVER_GC_THRESHOLDS = (100_000, 10, 10)


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
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one.")] = 8765,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            envvar="CONVERSO_STATE",
            help="Conversation state: postgresql:// URL (shared by workers) or SQLite folder. Default: data dir.",
        ),
    ] = None,
    max_frame_bytes: Annotated[int, typer.Option(help="Largest client frame accepted.")] = 16_384,
    messages_per_minute: Annotated[
        int,
        typer.Option(min=1, help="Messages per minute per client key (a shared widget key: the whole site)."),
    ] = 30,
    messages_per_minute_per_connection: Annotated[
        int, typer.Option(min=1, help="Messages per minute per connection (one browser tab).")
    ] = 10,
    messages_per_minute_per_thread: Annotated[
        int, typer.Option(min=1, help="Messages per minute per conversation, over all its connections.")
    ] = 10,
    max_connections: Annotated[int, typer.Option(help="Concurrent connections of this process.")] = 1_000,
    max_connections_per_key: Annotated[
        int, typer.Option(help="Concurrent connections per client key.")
    ] = 200,
    auth_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds a new connection has to send its auth frame.")
    ] = 3.0,
    max_unauthenticated: Annotated[
        int,
        typer.Option(
            min=1,
            help="Connections waiting for their auth frame, per worker; the longest waiting makes room for a newcomer.",
        ),
    ] = 32,
    shutdown_grace: Annotated[
        float, typer.Option(help="Seconds running turns get to finish on shutdown.")
    ] = 30.0,
    max_concurrent_turns: Annotated[
        int,
        typer.Option(
            min=1,
            help="Turns in flight at once per worker, a back-pressure limit: a turn waiting for the model "
            "is a task, not a thread; more wait their turn.",
        ),
    ] = 5_000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port (SO_REUSEPORT): one Python process uses one core. "
            "Limits apply per worker.",
        ),
    ] = 1,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    model_timeout: ModelTimeoutOption = None,
    max_retries: MaxRetriesOption = None,
    system_prompt: SystemPromptOption = None,
    crm: CrmOption = None,
    crm_api_key: CrmApiKeyOption = None,
    data_dir: DataDirOption = None,
    journal: JournalOption = None,
    journal_unmasked: JournalUnmaskedOption = False,
    app: AppOption = None,
    log_level: Annotated[
        str, typer.Option(help="DEBUG, INFO, WARNING or ERROR (message text and keys are never logged).")
    ] = "INFO",
    log_json: Annotated[bool, typer.Option("--log-json", help="Log one JSON object per line.")] = False,
    visitor_secret: Annotated[
        str | None,
        typer.Option(
            envvar="CONVERSO_VISITOR_SECRET",
            help="Also accept per-visitor tokens signed with this secret by the host site "
            "(converso.server.visitors.sign_visitor_token); each visitor gets its own threads and budgets.",
        ),
    ] = None,
) -> None:
    """Serve the chat over WebSocket (/ws), with a chat page (/) and an embeddable widget (/widget.js)."""
    console = Console(stderr=True)
    try:
        configure_logging(log_level, as_json=log_json)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-level") from None
    keys = keys_from(client_key or [])
    if not keys and not visitor_secret:
        console.print(
            "[red]converso serve needs at least one client key:[/red] --client-key KEY "
            "(or CONVERSO_CLIENT_KEYS=key1,key2), or --visitor-secret for tokens signed by your site."
        )
        raise typer.Exit(2)
    settings = model_settings(model, base_url, api_key, timeout=model_timeout, max_retries=max_retries)
    if settings is None:
        no_model_screen(console, "serve")
        raise typer.Exit(2)
    check_model(settings)
    instructions = read_system_prompt(system_prompt)
    if workers > 1 and port == 0:
        console.print(
            "[red]--workers needs a fixed --port[/red]: with port 0 every worker would pick its own."
        )
        raise typer.Exit(2)
    if workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        console.print("[red]--workers needs SO_REUSEPORT[/red] (Linux, BSD, macOS); run one worker per port.")
        raise typer.Exit(2)
    if data_dir is not None:
        writable_folder(data_dir, "--data-dir")
    folder = data_dir or user_data_dir()
    if journal is not None:
        writable_folder(journal, "--journal")
    if _is_postgres(state):
        _require_postgres(state)
        checkpointer, owners_url = state, state
    else:
        if state and "://" in state:
            raise CliError(f"--state {state}: expected a postgresql:// URL or a folder for the SQLite files.")
        state_dir = Path(state) if state else folder
        if state:
            writable_folder(state_dir, "--state")
        checkpointer, owners_url = str(state_dir / "threads.sqlite"), str(state_dir / "server.sqlite")
        _use_wal(Path(checkpointer))
    factory = load_app_factory(app)
    config = ServerConfig(
        api_keys=keys,
        visitor_secret=visitor_secret,
        host=host,
        port=port,
        state_url=owners_url,
        limits=Limits(
            max_frame_bytes=max_frame_bytes,
            messages_per_minute=messages_per_minute,
            messages_per_minute_per_connection=messages_per_minute_per_connection,
            messages_per_minute_per_thread=messages_per_minute_per_thread,
            max_connections=max_connections,
            max_connections_per_key=max_connections_per_key,
            auth_timeout=auth_timeout,
            max_unauthenticated=max_unauthenticated,
        ),
        shutdown_grace=shutdown_grace,
        reuse_port=workers > 1,
    )

    options = AppOptions(
        model=settings,
        data_dir=folder,
        checkpointer=checkpointer,
        crm=crm,
        crm_api_key=crm_api_key,
        journal_dir=journal,
        journal_unmasked=journal_unmasked,
        max_concurrent_turns=max_concurrent_turns,
        system_prompt=instructions,
    )

    def run_worker(index: int) -> None:
        # Each worker builds its own app: database connections must not cross a fork.
        built: App = factory(options)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise walk it again and again under load.
        gc.freeze()
        # A turn allocates tens of thousands of short-lived objects (messages, configs, callback
        # managers), so the default threshold (700) ran a young collection every few steps: about a
        # sixth of the server's CPU under load. At 20,000 it still was 13-15% with 500 turns in flight:
        # each holds 330-360 live objects (LangGraph's run structures, mostly), which a young collection
        # walks and cannot free (none of them is cyclic garbage). At 100,000 it was 1-10% in four runs,
        # with fewer, longer pauses (40-140 ms on asyncio's loop, 20-60 ms on uvloop's, against 20-30 ms
        # at 20,000 on asyncio's), and the p99 of the typing benchmark stayed within its run-to-run
        # spread. Memory is still reclaimed by reference counting; the collector only finds cycles, and
        # later is as good as sooner for those.
        gc.set_threshold(*SERVER_GC_THRESHOLDS)
        label = f" (worker {index + 1} of {workers}, pid {os.getpid()})" if workers > 1 else ""
        server = ChatServer(built.agent, config)
        try:
            run_on_loop = getattr(built.agent, "run_on_loop", None)
            if run_on_loop is None:
                with asyncio.Runner(loop_factory=new_event_loop) as runner:
                    runner.run(_serve(server, console, label))
            else:
                # The engine's turns run on a loop of its own: serving the connections there too hands
                # each turn's events to its connection without crossing threads.
                _serve_on_the_turns_loop(built.agent.loop, run_on_loop, server, console, label)
        finally:
            built.close()

    if workers == 1:
        run_worker(0)
    else:
        _create_storage(factory, options, owners_url)
        code = _supervise(workers, run_worker, console)
        if code:
            raise typer.Exit(code)


def _require_postgres(url: str) -> None:
    """Fail at once, in one sentence, when --state names a PostgreSQL that cannot be reached (the pools
    would otherwise retry for 30 s and end in a traceback)."""
    import psycopg
    from sqlalchemy.engine import make_url

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        where = make_url(url).render_as_string(hide_password=True)
        cause = " ".join(str(exc).split()).rstrip(".?")
        raise CliError(f"--state: cannot reach PostgreSQL at {where}: {cause}.", exit_code=1) from exc


def _use_wal(path: Path) -> None:
    """Put the SQLite conversation state in WAL mode (it stays so): workers read while one writes."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def _create_storage(factory: Callable[[AppOptions], App], options: AppOptions, owners_url: str) -> None:
    """Create every table once, before the workers start: racing "create if missing" checks of
    several processes on a fresh database could each decide to create the same table."""
    factory(options).close()

    async def create_owners() -> None:
        ownership = ThreadOwnership(owners_url)
        try:
            await ownership.start()
        finally:
            await ownership.aclose()

    asyncio.run(create_owners())


# A worker that dies soon after it started is replaced after a growing pause, so a worker that
# crashes on every start does not spin the supervisor; one that ran for a while is replaced at once.
STABLE_AFTER_S = 30.0
FIRST_RETRY_S = 0.5
LONGEST_RETRY_S = 30.0
WORKER_BOOT_FAILED = 3
"""Exit code of a worker that failed before it listened (port taken, store unreachable...)."""

# Set in a worker once it listens: a failure before that is a boot failure.
_listening = threading.Event()


@dataclass
class _Slot:
    index: int
    started: float = 0.0
    replacement: bool = False
    quick_deaths: int = 0


class _Supervisor:
    """Forks the workers, keeps their number up, and passes SIGINT/SIGTERM on to them.

    A worker that dies while the service runs (a crash, an OOM kill, kill -9) is replaced, as
    gunicorn does; the others keep serving meanwhile. A first worker that cannot even start (its
    port taken, its store unreachable) stops the others: the configuration is wrong, and the
    service is better visibly gone than partly up.
    """

    def __init__(self, count: int, run_worker: Callable[[int], None], console: Console) -> None:
        self._count = count
        self._run_worker = run_worker
        self._console = console
        self._pid = os.getpid()
        self._running: dict[int, _Slot] = {}
        self._waiting: list[tuple[float, _Slot]] = []
        self._stopping = False
        self._code = 0
        self._wake_r, self._wake_w = os.pipe()

    def run(self) -> int:
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        # Signals write to the pipe, so the wait below wakes for a dead worker or a stop request.
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._stop)
        for index in range(self._count):
            self._start(_Slot(index))
        while self._running or (self._waiting and not self._stopping):
            due = min((when for when, _ in self._waiting), default=None)
            timeout = None if due is None else max(0.0, due - time.monotonic())
            select.select([self._wake_r], [], [], timeout)
            with contextlib.suppress(BlockingIOError):
                while os.read(self._wake_r, 512):
                    pass
            self._reap()
            self._start_due()
        return self._code

    def _start(self, slot: _Slot) -> None:
        pid = os.fork()
        if pid == 0:
            self._forget_signals()
            os._exit(_run_child(self._run_worker, slot.index, self._pid))
        slot.started = time.monotonic()
        self._running[pid] = slot

    def _forget_signals(self) -> None:
        # The worker sets up its own handlers; until then, the defaults.
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _stop(self, _signum: int = signal.SIGTERM, _frame: object = None) -> None:
        self._stopping = True
        self._waiting.clear()
        for pid in self._running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = self._running.pop(pid, None)
            if slot is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self._stopping:
                self._code = self._code or (1 if code else 0)
            elif code == WORKER_BOOT_FAILED and not slot.replacement:
                self._console.print(
                    f"converso serve: worker {slot.index + 1} (pid {pid}) could not start; stopping the other workers",
                    soft_wrap=True,
                )
                self._code = 1
                self._stop()
            else:
                self._replace(slot, pid, code)

    def _replace(self, slot: _Slot, pid: int, code: int) -> None:
        quick = time.monotonic() - slot.started < STABLE_AFTER_S
        slot.quick_deaths = slot.quick_deaths + 1 if quick else 0
        delay = (
            0.0
            if not slot.quick_deaths
            else min(FIRST_RETRY_S * 2 ** (slot.quick_deaths - 1), LONGEST_RETRY_S)
        )
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        when = f" in {delay:g}s" if delay else ""
        self._console.print(
            f"converso serve: worker {slot.index + 1} (pid {pid}) {how}; starting a new one{when}",
            soft_wrap=True,
        )
        slot.replacement = True
        self._waiting.append((time.monotonic() + delay, slot))

    def _start_due(self) -> None:
        now = time.monotonic()
        due = [slot for when, slot in self._waiting if when <= now]
        self._waiting = [(when, slot) for when, slot in self._waiting if when > now]
        for slot in due:
            self._start(slot)


def _supervise(count: int, run_worker: Callable[[int], None], console: Console) -> int:
    """Run ``count`` workers until SIGINT/SIGTERM; the exit code of the service."""
    return _Supervisor(count, run_worker, console).run()


def _die_with_parent() -> None:
    """Linux: the kernel sends the worker SIGTERM if the supervisor dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def _run_child(run_worker: Callable[[int], None], index: int, supervisor: int) -> int:
    code = 0
    try:
        _die_with_parent()
        if os.getppid() != supervisor:  # it died before the line above took effect
            return 1
        run_worker(index)
    except typer.Exit as exc:
        code = exc.exit_code
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        explained = explain(exc) if isinstance(exc, Exception) else None
        if explained is None:
            traceback.print_exc()
            code = 1
        else:
            print(f"Error: {explained[0]}", file=sys.stderr)
            code = explained[1]
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return WORKER_BOOT_FAILED if code and not _listening.is_set() else code


def _serve_on_the_turns_loop(
    loop: asyncio.AbstractEventLoop,
    run_on_loop: Callable[[Any], Any],
    server: ChatServer,
    console: Console,
    label: str,
) -> None:
    """``_serve`` on another thread's loop; SIGINT and SIGTERM, which only the main thread handles, stop it."""
    stop = asyncio.Event()
    previous = {
        sig: signal.signal(sig, lambda _signum, _frame: loop.call_soon_threadsafe(stop.set))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        run_on_loop(_serve(server, console, label, stop))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def _serve(
    server: ChatServer, console: Console, label: str = "", stop: asyncio.Event | None = None
) -> None:
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as exc:
        config = server.config
        raise CliError(
            f"Cannot listen on {config.host}:{config.port}: {exc.strerror or exc}. "
            "Pick a free --port (0 picks one) or stop what holds it.",
            exit_code=1,
        ) from exc
    _listening.set()
    where = f"{server.config.host}:{server.port}"
    console.print(
        f"converso serve: chat page http://{where}/  widget http://{where}/widget.js  ws://{where}/ws{label}",
        soft_wrap=True,
    )
    await stop.wait()
    console.print("converso serve: shutting down (finishing running turns)")
    await server.shutdown()
    console.print("converso serve: stopped")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
