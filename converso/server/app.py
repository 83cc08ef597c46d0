"""`converso serve`: the WebSocket chat server over a thread-level agent.

The server only moves frames: it authenticates, admits, owns threads per key and serializes
turns per thread; everything the agent does comes from ``agent.astream``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import itertools
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from converso.server.http import Router
from converso.server.limits import ConnectionCounter, Limits, RateLimiter, WaitingRoom, retry_after_seconds
from converso.server.ownership import ThreadForbiddenError, ThreadOwnership, owner_of_key
from converso.server.protocol import (
    PROTOCOL_VERSION,
    AuthFrame,
    ConfirmFrame,
    ErrorCode,
    MessageFrame,
    OpenFrame,
    PingFrame,
    ProtocolError,
    ResetFrame,
    encode,
    error_frame,
    event_frame,
    parse_client_frame,
    to_jsonable,
)
from converso.server.thread_locks import ThreadLocks, thread_locks_for
from converso.server.visitors import InvalidVisitorToken, verify_visitor_token

log = logging.getLogger("converso.server")

# How many earlier messages an `opened` frame carries, so a reloaded page shows the conversation.
HISTORY_IN_OPENED = 30
# What a person reads when a turn fails; the details go to the server log, never to the page.
TURN_FAILED_TEXT = "Sorry, something went wrong and your last message was not kept. Please try again."
# The user message a Confirm button stands for, as the conversation's history shows it.
CONFIRM_TEXT = "Yes, save it."


class ThreadAgent(Protocol):
    """What the server needs from the engine (``FormAgentExecutor`` fulfils it). ``get_form`` and
    ``reset_form`` may be sync or async; an ``aget_form``/``areset_form`` beside them is preferred.
    ``asettled`` is needed for ``if_disconnected: "undo"``."""

    def astream(self, thread_id: str, text: str, **options: Any) -> AsyncIterator[Any]: ...

    async def asettled(self, thread_id: str) -> None: ...

    def get_form(self, thread_id: str) -> Any: ...

    def reset_form(self, thread_id: str) -> Any: ...


@dataclass(frozen=True)
class ServerConfig:
    api_keys: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8765
    state_url: str = "converso-server.sqlite"
    limits: Limits = field(default_factory=Limits)
    shutdown_grace: float = 30.0
    reuse_port: bool = False
    """Share the port with other processes (SO_REUSEPORT): the kernel spreads connections over them."""

    visitor_secret: str | None = None
    """Accept visitor tokens signed with this secret (each visitor an identity of its own)."""

    def __post_init__(self) -> None:
        if not all(self.api_keys) or not (self.api_keys or self.visitor_secret):
            raise ValueError(
                "converso serve needs a non-empty client API key (--client-key) or a visitor secret "
                "(--visitor-secret)."
            )


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    # The engine may offer sync or async accessors; sync ones touch the database, so off the loop.
    if inspect.iscoroutinefunction(fn):
        return await fn(*args)
    result = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(result):
        return await result
    return result


_connection_ids = itertools.count(1)


class _Session:
    def __init__(self, ws: ServerConnection, owner: str, connection: int) -> None:
        self.ws = ws
        self.owner = owner
        self.connection = connection
        self.thread_id: str | None = None
        self.messages = 0
        # The active form as last sent, named in the activity of FormUpdate and FormFinalize.
        self.form_name: str | None = None


class ChatServer:
    def __init__(
        self,
        agent: ThreadAgent,
        config: ServerConfig,
        *,
        locks: ThreadLocks | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.agent = agent
        self.config = config
        self._owners_by_digest = [owner_of_key(key) for key in config.api_keys]
        self._ownership = ThreadOwnership(config.state_url)
        self._locks = locks if locks is not None else thread_locks_for(config.state_url)
        timing = {"clock": clock} if clock else {}
        limits = config.limits
        self._rates = RateLimiter(limits.messages_per_minute, **timing)
        self._connection_rates = RateLimiter(limits.messages_per_minute_per_connection, **timing)
        self._thread_rates = RateLimiter(limits.messages_per_minute_per_thread, **timing)
        self._connections = ConnectionCounter(config.limits)
        self._waiting = WaitingRoom(config.limits.max_unauthenticated)
        self._evictions: set[asyncio.Task[None]] = set()
        self._router = Router(self._health)
        self._server: Server | None = None
        self._port: int | None = None
        self._draining = False
        self._turns = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Server:
        await self._ownership.start()
        limits = self.config.limits
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=lambda _conn, request: self._router(request),
            # Frames up to max_frame_bytes get a polite error frame from us; the library cuts the
            # connection (close code 1009) only far beyond that, to bound memory.
            max_size=max(4 * limits.max_frame_bytes, 65_536),
            server_header="converso",
            # Frames are small JSON: per-message deflate would cost CPU on every frame and a zlib
            # context per connection for little saving.
            compression=None,
            reuse_port=self.config.reuse_port or None,
        )
        self._port = self._server.sockets[0].getsockname()[1]
        return self._server

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``); known from ``start()`` on."""
        assert self._port is not None, "start() the server first"
        return self._port

    async def shutdown(self) -> None:
        """Stop accepting, let running turns finish (up to the grace period), then close."""
        if self._server is None:
            return
        self._draining = True
        self._server.server.close()
        try:
            await asyncio.wait_for(self._idle.wait(), self.config.shutdown_grace)
        except TimeoutError:
            log.warning(
                "shutdown: %d turn(s) still running after %.0fs", self._turns, self.config.shutdown_grace
            )
        self._server.close(code=CloseCode.GOING_AWAY, reason="server shutting down")
        await self._server.wait_closed()
        await self._ownership.aclose()
        await self._locks.aclose()
        self._server = None

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.start()
        await stop.wait()
        await self.shutdown()

    def _health(self) -> tuple[bool, dict[str, Any]]:
        status = "draining" if self._draining else "ok"
        return not self._draining, {
            "status": status,
            "connections": self._connections.total,
            "turns_in_progress": self._turns,
            "pid": os.getpid(),  # which worker answered, when several share the port
        }

    # -- connections -------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        connection = next(_connection_ids)
        opened_at = time.monotonic()
        peer = _peer(ws)
        log.info(
            "connection %d opened from %s",
            connection,
            peer,
            extra={"event": "connection_opened", "connection": connection, "peer": peer},
        )
        session: _Session | None = None
        try:
            session = await self._handle_connection(ws, connection)
        finally:
            self._connection_rates.forget(str(connection))
            log.info(
                "connection %d closed after %.1fs (%d messages)",
                connection,
                time.monotonic() - opened_at,
                session.messages if session else 0,
                extra={
                    "event": "connection_closed",
                    "connection": connection,
                    "duration_s": round(time.monotonic() - opened_at, 3),
                    "messages": session.messages if session else 0,
                    "close_code": ws.close_code,
                },
            )

    async def _handle_connection(self, ws: ServerConnection, connection: int) -> _Session | None:
        session: _Session | None = None
        self._make_room()
        if not self._connections.try_open():
            await self._refuse(
                ws,
                ErrorCode.TOO_MANY_CONNECTIONS,
                f"The server holds its maximum of {self.config.limits.max_connections} connections; retry later.",
            )
            return None
        holds_slot = True
        self._waiting.enter(connection, ws)
        try:
            try:
                owner = await self._authenticate(ws)
            finally:
                holds_slot = self._waiting.leave(connection)
            if owner is None or not holds_slot:
                return None
            if not self._connections.try_bind_key(owner):
                await self._refuse(
                    ws,
                    ErrorCode.TOO_MANY_CONNECTIONS,
                    f"This API key already has {self.config.limits.max_connections_per_key} open connections; "
                    "close one or retry later.",
                )
                return None
            try:
                await self._send(ws, {"type": "authenticated", "protocol": PROTOCOL_VERSION})
                session = _Session(ws, owner, connection)
                await self._serve_session(session)
            finally:
                self._connections.unbind_key(owner)
        except ConnectionClosed:
            pass
        finally:
            if holds_slot:
                self._connections.close()
        return session

    def _make_room(self) -> None:
        """Evict the connection that has waited longest for its auth frame when the newcomer would
        find no room (among the unauthenticated, or at all); the newcomer takes its slot."""
        limits = self.config.limits
        if not (self._waiting.full or self._connections.total >= limits.max_connections):
            return
        oldest = self._waiting.evict_oldest()
        if oldest is None:
            return
        self._connections.close()
        task = asyncio.create_task(
            self._refuse(
                oldest,
                ErrorCode.AUTH_TIMEOUT,
                "No auth frame yet, and a newer connection needed the room; connect again and send "
                '{"type": "auth", "api_key": "..."} first.',
            )
        )
        self._evictions.add(task)
        task.add_done_callback(self._evictions.discard)

    async def _refuse(self, ws: ServerConnection, code: ErrorCode, message: str) -> None:
        log.warning(
            "connection from %s refused: %s",
            _peer(ws),
            code,
            extra={"event": "refused", "code": str(code), "peer": _peer(ws)},
        )
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(error_frame(code, message)), text=True)
            close_code = (
                CloseCode.TRY_AGAIN_LATER
                if code == ErrorCode.TOO_MANY_CONNECTIONS
                else CloseCode.POLICY_VIOLATION
            )
            await ws.close(close_code, str(code))

    async def _authenticate(self, ws: ServerConnection) -> str | None:
        try:
            raw = await asyncio.wait_for(ws.recv(), self.config.limits.auth_timeout)
        except TimeoutError:
            await self._refuse(
                ws,
                ErrorCode.AUTH_TIMEOUT,
                f"No auth frame within {self.config.limits.auth_timeout:g}s; "
                'send {"type": "auth", "api_key": "..."} first.',
            )
            return None
        try:
            self._check_size(raw)
            frame = parse_client_frame(raw)
        except ProtocolError as exc:
            await self._refuse(ws, exc.code, exc.message)
            return None
        if not isinstance(frame, AuthFrame):
            await self._refuse(
                ws,
                ErrorCode.NOT_AUTHENTICATED,
                f'The first frame must be {{"type": "auth", "api_key": "..."}}, not {frame.type!r}.',
            )
            return None
        if frame.visitor_token is not None:
            return await self._authenticate_visitor(ws, frame.visitor_token)
        owner = owner_of_key(frame.api_key or "")
        # compare every configured key so the time taken does not reveal which one matched
        matched = [hmac.compare_digest(owner, known) for known in self._owners_by_digest]
        if not any(matched):
            await self._refuse(ws, ErrorCode.INVALID_API_KEY, "The API key is not valid for this server.")
            return None
        return owner

    async def _authenticate_visitor(self, ws: ServerConnection, token: str) -> str | None:
        if not self.config.visitor_secret:
            await self._refuse(
                ws, ErrorCode.INVALID_TOKEN, "This server does not accept visitor tokens; send api_key."
            )
            return None
        try:
            visitor = verify_visitor_token(self.config.visitor_secret, token)
        except InvalidVisitorToken as exc:
            await self._refuse(ws, ErrorCode.INVALID_TOKEN, str(exc))
            return None
        # A visitor owns its threads and has its own budgets, like a key of its own.
        return owner_of_key(f"\x00visitor\x00{visitor}")  # never equal to a client key's digest

    def _check_size(self, raw: str | bytes) -> None:
        size = len(raw.encode()) if isinstance(raw, str) else len(raw)
        limit = self.config.limits.max_frame_bytes
        if size > limit:
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE,
                f"The frame is {size} bytes; frames may be at most {limit} bytes.",
                max_bytes=limit,
            )

    async def _serve_session(self, session: _Session) -> None:
        async for raw in session.ws:
            try:
                self._check_size(raw)
                frame = parse_client_frame(raw)
                await self._dispatch(session, frame)
            except ProtocolError as exc:
                await self._send(session.ws, exc.frame())

    async def _dispatch(self, session: _Session, frame: Any) -> None:
        if isinstance(frame, AuthFrame):
            raise ProtocolError(ErrorCode.INVALID_FRAME, "This connection is already authenticated.")
        if isinstance(frame, PingFrame):
            await self._send(session.ws, {"type": "pong"})
        elif isinstance(frame, OpenFrame):
            await self._open(session, frame.thread_id)
        elif isinstance(frame, MessageFrame):
            await self._message(session, frame.text, if_disconnected=frame.if_disconnected)
        elif isinstance(frame, ConfirmFrame):
            await self._message(session, CONFIRM_TEXT, confirm=frame.form)
        elif isinstance(frame, ResetFrame):
            await self._reset(session)

    # -- frames ------------------------------------------------------------------------------

    async def _open(self, session: _Session, thread_id: str | None) -> None:
        try:
            if thread_id is None:
                claim = await self._ownership.claim(uuid.uuid4().hex, session.owner, fresh=True)
            else:
                claim = await self._ownership.claim(thread_id, session.owner)
        except ThreadForbiddenError as exc:
            raise ProtocolError(ErrorCode.THREAD_FORBIDDEN, str(exc)) from None
        session.thread_id = claim.thread_id
        form = await self._ask_agent("get_form", claim.thread_id) if claim.resumed else None
        history = (
            await self._ask_agent("history", claim.thread_id, HISTORY_IN_OPENED)
            if claim.resumed and hasattr(self.agent, "history")
            else []
        )
        await self._send(
            session.ws,
            {
                "type": "opened",
                "thread_id": claim.thread_id,
                "resumed": claim.resumed,
                "form": to_jsonable(form),
                "display": await self._display(form),
                "history": to_jsonable(history),
            },
        )

    def _require_thread(self, session: _Session) -> str:
        if session.thread_id is None:
            raise ProtocolError(
                ErrorCode.NO_THREAD,
                'Open a thread first: {"type": "open"} or {"type": "open", "thread_id": "..."}.',
            )
        return session.thread_id

    def _admit_turn(self, session: _Session, thread_id: str) -> None:
        if self._draining:
            raise ProtocolError(ErrorCode.SHUTTING_DOWN, "The server is shutting down; reconnect and resend.")
        limits = self.config.limits
        checks = (
            (
                self._connection_rates,
                str(session.connection),
                limits.messages_per_minute_per_connection,
                "connection",
            ),
            (self._thread_rates, thread_id, limits.messages_per_minute_per_thread, "conversation"),
            (self._rates, session.owner, limits.messages_per_minute, "API key"),
        )
        for limiter, key, per_minute, scope in checks:
            wait = limiter.wait(key)
            if wait:
                log.info(
                    "rate limited (%s) on connection %d",
                    scope,
                    session.connection,
                    extra={"event": "rate_limited", "scope": scope, "connection": session.connection},
                )
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"This {scope} may send {per_minute} messages per minute; retry in {retry_after_seconds(wait)}s.",
                    retry_after=retry_after_seconds(wait),
                    scope=scope,
                )
        for limiter, key, _, _ in checks:
            limiter.count(key)

    async def _ask_agent(self, name: str, *args: Any) -> Any:
        """The engine's async accessor (``a<name>``) when it has one, else its sync one off the loop."""
        accessor = getattr(self.agent, f"a{name}", None)
        if accessor is not None:
            return await accessor(*args)
        return await _call(getattr(self.agent, name), *args)

    async def _message(
        self,
        session: _Session,
        text: str,
        *,
        confirm: str | None = None,
        if_disconnected: Literal["finish", "undo"] = "finish",
    ) -> None:
        thread_id = self._require_thread(session)
        self._admit_turn(session, thread_id)
        session.messages += 1
        options: dict[str, Any] = {"confirm": confirm} if confirm else {}
        async with self._turn(thread_id):
            if if_disconnected == "finish":
                await self._relay(session, thread_id, self.agent.astream(thread_id, text, **options), confirm)
                return
            stream = self.agent.astream(thread_id, text, if_abandoned="undo", **options)
            relay = asyncio.ensure_future(self._relay(session, thread_id, stream, confirm))
            gone = asyncio.ensure_future(session.ws.wait_closed())
            try:
                await asyncio.wait([relay, gone], return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
            if relay.done():
                return relay.result()
            # The client went away mid-turn: the turn is undone (its model request closed at once), and
            # the thread's lock is held until the undo is written, so no other worker starts a turn first.
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            await self.agent.asettled(thread_id)

    async def _relay(
        self, session: _Session, thread_id: str, stream: AsyncIterator[Any], confirm: str | None
    ) -> None:
        """The turn's events to the client, as frames; the turn's outcome to the log."""
        started = time.monotonic()
        outcome, tool_errors = "ok", 0
        # The form as last shown in this turn, and its display: the reply repeats the form of the tool
        # round before it, and its display (a thread hand-off, maybe a CRM read) need not be made twice.
        shown: tuple[Any, Any] | None = None
        try:
            async for event in stream:
                frame = event_frame(event)
                if frame["type"] == "error":
                    outcome = "failed"
                    log.warning(
                        "turn failed on thread %s: %s",
                        thread_id,
                        frame["message"],
                        extra={
                            "event": "turn_failed",
                            "thread_id": thread_id,
                            "detail": frame["message"],
                        },
                    )
                    frame["message"] = TURN_FAILED_TEXT
                elif frame["type"] == "tool":
                    tool_errors += frame["is_error"]
                    if frame["is_error"]:
                        log.info(
                            "tool %s failed on thread %s",
                            frame["name"],
                            thread_id,
                            extra={"event": "tool_failed", "thread_id": thread_id, "tool": frame["name"]},
                        )
                    frame["activity"] = self._activity(frame["name"], session.form_name)
                elif frame["type"] in ("form", "reply"):
                    session.form_name = (frame.get("form") or {}).get("name")
                    if shown is None or shown[0] != frame["form"]:
                        shown = (frame["form"], await self._display(frame["form"]))
                    frame["display"] = shown[1]
                    if frame.get("failed"):
                        frame["text"] = TURN_FAILED_TEXT
                await self._send(session.ws, frame)
        except Exception:
            outcome = "error"
            log.exception(
                "turn raised on thread %s",
                thread_id,
                extra={"event": "turn_error", "thread_id": thread_id},
            )
            await self._send(
                session.ws,
                error_frame(
                    ErrorCode.INTERNAL_ERROR, "The server failed while handling this message; retry it."
                ),
            )
        finally:
            log.info(
                "turn on thread %s: %s in %.0f ms",
                thread_id,
                outcome,
                (time.monotonic() - started) * 1000,
                extra={
                    "event": "turn",
                    "thread_id": thread_id,
                    "connection": session.connection,
                    "outcome": outcome,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "tool_errors": tool_errors,
                    "confirm": bool(confirm),
                },
            )

    async def _display(self, form: Any) -> Any:
        # The labels come from the engine (the form's declarations); a linked record's name may need a
        # CRM read, which the engine's async accessor keeps off the loop (a sync one runs off it).
        if form is None or not hasattr(self.agent, "form_display"):
            return None
        return to_jsonable(await self._ask_agent("form_display", form))

    def _activity(self, tool_name: str | None, form_name: str | None) -> str | None:
        describe = getattr(self.agent, "activity", None)
        return describe(tool_name, form_name) if describe and tool_name else None

    async def _reset(self, session: _Session) -> None:
        thread_id = self._require_thread(session)
        if self._draining:
            raise ProtocolError(ErrorCode.SHUTTING_DOWN, "The server is shutting down; reconnect and resend.")
        async with self._turn(thread_id):
            await self._ask_agent("reset_form", thread_id)
            form = await self._ask_agent("get_form", thread_id)
        await self._send(
            session.ws, {"type": "form", "form": to_jsonable(form), "display": await self._display(form)}
        )

    @contextlib.asynccontextmanager
    async def _turn(self, thread_id: str) -> AsyncIterator[None]:
        self._turns += 1
        self._idle.clear()
        try:
            async with self._locks.hold(thread_id):
                yield
        finally:
            self._turns -= 1
            if self._turns == 0:
                self._idle.set()

    async def _send(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        # A client that went away mid-turn must not abort the turn: the agent finishes and
        # checkpoints, and the client sees the result when it resumes the thread.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(encode(frame), text=True)


async def run_server(agent: ThreadAgent, config: ServerConfig, stop: asyncio.Event) -> None:
    await ChatServer(agent, config).serve_until(stop)


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) and len(address) >= 2 else str(address)


def keys_from(values: Iterable[str]) -> tuple[str, ...]:
    """Client keys from repeated options and comma-separated environment values."""
    keys: list[str] = []
    for value in values:
        keys.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(dict.fromkeys(keys))
