"""The CRM agent environment server: the WebSocket protocol of docs/env-protocol.md over our SQL store.

Episode mode (default): every connection gets its own in-memory SQLite CRM, freed when it closes.
Store mode (``store=URL``): every connection shares one durable CRM.

Every malformed frame is answered with an error frame and the connection stays open, except a
frame larger than ``max_frame_bytes``: websockets closes the connection with 1009 (message too big)
without reading it, which is the point of the limit.

    async with serve_env("127.0.0.1", 0, api_keys=["k"]) as server:
        ...  # server.url is ws://127.0.0.1:<port>

    with BackgroundEnvServer(api_keys=["k"]) as server:  # for synchronous callers and tests
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import http
import logging
import re
import signal
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHeader
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response

from crm_tools.backends.base import CRMBackend
from crm_tools.env.actions import ActionShapeError
from crm_tools.env.auth import ApiKeys
from crm_tools.env.episodes import DEFAULT_MAX_STEPS, TaskCatalog
from crm_tools.env.protocol import (
    MAX_STEP_LIMIT,
    FrameError,
    error_frame,
    observation_frame,
    parse_client_frame,
    state_frame,
)
from crm_tools.env.session import CRMSource, EpisodeSource, Session, SharedSource

log = logging.getLogger("crm_tools.env_server")

DEFAULT_MAX_SESSIONS = 256
DEFAULT_MAX_FRAME_BYTES = 1 << 20
T = TypeVar("T")


class _RedactKeys(logging.Filter):
    """websockets logs handshake headers at debug level; the subprotocol header carries the key."""

    _pattern = re.compile(r"crm-v1\.[^\s,]+")

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._pattern.sub("crm-v1.<redacted>", str(record.msg))
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                self._pattern.sub("crm-v1.<redacted>", a) if isinstance(a, str) else a for a in args
            )
        return True


_ws_log = logging.getLogger("crm_tools.env_server.websockets")
_ws_log.addFilter(_RedactKeys())


@dataclass
class EnvServerConfig:
    api_keys: Sequence[str] | ApiKeys
    host: str = "127.0.0.1"
    port: int = 8000
    store: str | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    shutdown_timeout: float = 10.0
    # Off only to emulate a server that speaks just the standard vocabulary (client tests).
    advertise_extensions: bool = True
    # The step limit of a task episode unless its reset asks for another.
    max_steps: int = DEFAULT_MAX_STEPS


def _make_source(store: str | None) -> CRMSource:
    # Imported here so the protocol layer stays importable without the SQL store.
    from crm_tools.backends.sql import SqlBackend

    def seed_data(backend: CRMBackend, seed: int) -> None:
        from crm_tools.seed import seed_demo_data

        seed_demo_data(backend, seed)

    def open_backend(image: bytes | None, new_id: Callable[[], str] | None) -> SqlBackend:
        return SqlBackend("sqlite://", image=image, new_id=new_id)

    if store:
        return SharedSource(SqlBackend(store))
    return EpisodeSource(open_backend, seed_data)


def _bundled_tasks() -> TaskCatalog | None:
    try:
        return TaskCatalog.bundled()
    except ImportError:  # a build without the task suite serves sandbox episodes only
        log.warning("No bundled tasks found: reset(seed) starts sandbox episodes without rewards")
        return None


class _Live:
    """A connected session and whether a frame of it is being executed right now."""

    __slots__ = ("busy", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.busy = False


class EnvServer:
    def __init__(self, config: EnvServerConfig, source: CRMSource | None = None) -> None:
        if config.max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {config.max_sessions}")
        if not 1 <= config.max_steps <= MAX_STEP_LIMIT:
            raise ValueError(f"max_steps must be from 1 to {MAX_STEP_LIMIT}, got {config.max_steps}")
        self.config = config
        self._keys = config.api_keys if isinstance(config.api_keys, ApiKeys) else ApiKeys(config.api_keys)
        self._source = source if source is not None else _make_source(config.store)
        self._tasks = _bundled_tasks() if self._source.mode == "episode" else None
        self._live: dict[ServerConnection, _Live] = {}
        self._stopping = False
        self._server: Server | None = None
        self.port = config.port

    @property
    def mode(self) -> str:
        return self._source.mode

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    @property
    def session_count(self) -> int:
        return len(self._live)

    @property
    def busy_session_count(self) -> int:
        """How many sessions are answering a frame right now (what a shutdown waits for)."""
        return sum(live.busy for live in self._live.values())

    def prepare_tasks(self) -> None:
        """Build the data sets the tasks start from, and their baseline snapshots, before serving: the
        first episodes then start as fast as any, and a long-running server freezes them out of the GC."""
        if self._tasks is not None:
            self._tasks.prepare(self._source)

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            max_size=self.config.max_frame_bytes,
            compression=None,
            logger=_ws_log,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("CRM env server listening on %s (%s mode)", self.url, self.mode)

    # -- handshake --------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        if path != "/ws":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "The CRM env endpoint is /ws\n")
        offered: list[str] = []
        try:
            for header in request.headers.get_all("Sec-WebSocket-Protocol"):
                offered.extend(parse_subprotocol(header))
        except InvalidHeader:
            offered = []
        if self._keys.authorized_subprotocol(offered) is None:
            return connection.respond(
                http.HTTPStatus.UNAUTHORIZED,
                "Missing or invalid API key: offer the subprotocol crm-v1.<api_key>\n",
            )
        return None

    def _select_subprotocol(self, connection: ServerConnection, offered: Sequence[str]) -> Any:
        return self._keys.authorized_subprotocol(offered)

    # -- sessions ---------------------------------------------------------------------------

    async def _run(self, function: Callable[..., T], *args: Any, heavy: bool = False) -> T:
        # A step on in-memory SQLite is a fraction of a millisecond of CPU: inline is fastest. A durable
        # store waits on I/O (PostgreSQL) and seeding an episode takes a while, so those run in worker
        # threads to keep the other sessions moving.
        if self._source.mode == "episode" and not heavy:
            return function(*args)
        return await asyncio.to_thread(function, *args)

    async def _handle(self, connection: ServerConnection) -> None:
        if self._stopping:
            await connection.close(1001, "server shutting down")
            return
        if len(self._live) >= self.config.max_sessions:
            await connection.send(
                error_frame(
                    "CAPACITY_REACHED",
                    f"The server holds its maximum of {self.config.max_sessions} sessions; try again later",
                )
            )
            await connection.close(1013, "capacity reached")
            return
        host = (
            connection.request.headers.get("Host", f"{self.config.host}:{self.port}")
            if connection.request
            else ""
        )
        session = Session(
            self._source,
            tasks=self._tasks,
            max_steps=self.config.max_steps,
            api_url=f"ws://{host}/ws",
            advertise_extensions=self.config.advertise_extensions,
        )
        live = _Live(session)
        self._live[connection] = live
        try:
            await self._serve_session(connection, live)
        except ConnectionClosed:
            pass
        finally:
            del self._live[connection]
            await self._run(session.close)

    async def _serve_session(self, connection: ServerConnection, live: _Live) -> None:
        async for raw in connection:
            live.busy = True
            try:
                reply = await self._answer(live.session, raw)
                if reply is None:
                    break
                await connection.send(reply)
            finally:
                live.busy = False
            if self._stopping:
                break
        await connection.close(1001 if self._stopping else 1000)

    async def _answer(self, session: Session, raw: str | bytes) -> str | None:
        try:
            frame = parse_client_frame(raw)
            if frame.type == "close":
                return None
            if frame.type == "state":
                return state_frame(await self._run(session.state))
            if frame.type == "reset":
                # Seeding a data set the first time takes a while; copying it afterwards does not.
                heavy = not session.reset_is_quick(frame.data)
                return observation_frame(await self._run(session.reset, frame.data, heavy=heavy))
            return observation_frame(await self._run(session.step, frame.data))
        except FrameError as exc:
            return error_frame(exc.code, exc.message)
        except ActionShapeError as exc:
            return error_frame("VALIDATION_ERROR", str(exc))
        except Exception:
            log.exception("Executing a frame failed")
            return error_frame(
                "EXECUTION_ERROR", "The server failed to execute this frame; see the server log"
            )

    # -- shutdown ---------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop accepting connections, let in-flight steps finish and answer, then close every session."""
        if self._server is None:
            return
        self._stopping = True
        self._server.close(close_connections=False)
        # Idle sessions close now; busy ones close right after answering their in-flight frame.
        closing = [
            asyncio.create_task(connection.close(1001, "server shutting down"))
            for connection, live in list(self._live.items())
            if not live.busy
        ]
        try:
            await asyncio.wait_for(self._server.wait_closed(), self.config.shutdown_timeout)
        except TimeoutError:
            log.warning("Sessions still busy after %.0f s; closing them", self.config.shutdown_timeout)
            for connection in list(self._live):
                connection.transport.abort()
        await asyncio.gather(*closing, return_exceptions=True)
        await self._run(self._source.close)
        log.info("CRM env server stopped")


@contextlib.asynccontextmanager
async def serve_env(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_keys: Sequence[str],
    store: str | None = None,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    shutdown_timeout: float = 10.0,
    advertise_extensions: bool = True,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> AsyncIterator[EnvServer]:
    """A running server for the duration of the block; ``port=0`` picks a free port."""
    config = EnvServerConfig(
        api_keys=api_keys,
        host=host,
        port=port,
        store=store,
        max_sessions=max_sessions,
        max_frame_bytes=max_frame_bytes,
        shutdown_timeout=shutdown_timeout,
        advertise_extensions=advertise_extensions,
        max_steps=max_steps,
    )
    server = EnvServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


class BackgroundEnvServer:
    """``serve_env`` on its own event loop in a daemon thread, for synchronous callers."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self._args = (host, port)
        self._options = options
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="crm-env-server", daemon=True)
        self.server: EnvServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "the server is not running"
        return self.server.url

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with serve_env(*self._args, **self._options) as server:
                self.server = server
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def __enter__(self) -> BackgroundEnvServer:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_env_server(config: EnvServerConfig) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully. Blocks."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = EnvServer(config)
        server.prepare_tasks()
        await server.start()
        # Everything allocated so far (modules, schema, statements) lives as long as the process:
        # frozen, it is no longer rescanned by full collections, whose pauses would show in the tail
        # latency of every session.
        gc.collect()
        gc.freeze()
        try:
            await stop.wait()
        finally:
            log.info("Shutting down: finishing in-flight steps")
            await server.shutdown()

    asyncio.run(main())
