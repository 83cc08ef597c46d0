"""``EnvBackend``: the ``CRMBackend`` that speaks the CRM env protocol (docs/env-protocol.md) as a client.

Each call becomes one ``step`` frame; the observation comes back as the response body, or as a
``CRMError`` when the step failed. The connection opens lazily, with a ``reset`` that tells us
whether the server speaks the converso extension (see ``crm_tools.env.actions``) and whether it
serves episodes or a shared store.

Reconnecting. An episode server gives every connection a fresh CRM, so after a dropped connection
the records of the episode are gone: there is nothing to reconnect to, and ``EnvEpisodeLost`` says
so. A store server (``crm-env serve --store URL``) keeps the records, so a dropped connection is
reopened once for the calls that are safe to repeat:
- ``list`` and ``get``, which change nothing;
- ``create`` with an ``idempotency_key`` when the server advertises the extension: the server
  returns the first record for a repeated key, so a create whose answer was lost cannot write twice.
Everything else (update, delete, create without a key) is not repeated: its outcome is unknown,
and ``EnvConnectionError`` says so instead of guessing.

A timeout is not retried either: the request may still be running, and its late answer would be
read as the answer to the next request, so the connection is closed.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from crm_tools.backends.base import ObjectName
from crm_tools.env.actions import EXTENSION, Operation, record_fields, require_action
from crm_tools.env.protocol import Frame, FrameError, auth_subprotocol, client_frame, parse_server_frame
from crm_tools.errors import CRMError

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MEMO_SIZE = 4096


class EnvError(Exception):
    """The env server could not be used (as opposed to a CRM-level ``CRMError``)."""


class EnvConnectionError(EnvError, ConnectionError):
    """No connection, or it dropped when a call could not safely be repeated."""


class EnvAuthenticationError(EnvConnectionError):
    """The server refused the API key."""


class EnvEpisodeLost(EnvConnectionError):
    """The connection to an episode server dropped, and the episode's CRM with it."""


class EnvServerError(EnvError):
    """The server answered with an error frame other than a validation error."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def ws_endpoint(base_url: str) -> str:
    """``http(s)://host:port`` or ``ws(s)://host:port[/ws]`` → the ``ws(s)://host:port/ws`` endpoint."""
    url = base_url.strip().rstrip("/")
    if "://" not in url:
        url = "ws://" + url
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"Not a CRM env server URL: {base_url!r}; expected e.g. ws://127.0.0.1:8000")
    path = parts.path if parts.path.endswith("/ws") else parts.path + "/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class EnvBackend:
    """A ``CRMBackend`` on a CRM env server.

    ``seed`` is sent with the ``reset`` that opens each connection: an episode server then starts
    from the demo data set of that seed (none: an empty CRM); a store server ignores it.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        seed: int | None = None,
        connect_timeout: float = 10.0,
        message_timeout: float = 30.0,
        max_frame_bytes: int = 16 << 20,
    ) -> None:
        if not api_key:
            raise ValueError("EnvBackend needs an API key")
        self.url = ws_endpoint(base_url)
        self._api_key = api_key
        self._seed = seed
        self._connect_timeout = connect_timeout
        self._message_timeout = message_timeout
        self._max_frame_bytes = max_frame_bytes
        self._ws: ClientConnection | None = None
        self._lock = threading.RLock()
        self.extensions = False
        self.mode: str | None = None  # "episode", "store", or None for a server that does not say
        self._created: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lost: str | None = None

    def __repr__(self) -> str:
        return f"EnvBackend({self.url!r})"  # never the key

    # -- connection -------------------------------------------------------------------------

    def _open(self) -> None:
        host = urlsplit(self.url).hostname or ""
        try:
            ws = connect(
                self.url,
                subprotocols=[auth_subprotocol(self._api_key)],  # type: ignore[list-item]
                open_timeout=self._connect_timeout,
                max_size=self._max_frame_bytes,
                compression=None,
                # A proxy configured for the outside world must not capture a local server.
                proxy=None if host in _LOOPBACK else True,
                legacy=True,  # the connection outlives any one block: it is closed by close()
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise EnvAuthenticationError(
                    f"The CRM env server at {self.url} refused the API key (HTTP {status}); "
                    "check the key given to EnvBackend"
                ) from None
            raise EnvConnectionError(
                f"The CRM env server at {self.url} refused the connection: HTTP {status}"
            ) from exc
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise EnvConnectionError(f"Cannot connect to the CRM env server at {self.url}: {exc}") from exc
        self._ws = ws
        try:
            # sandbox: the demo data of the seed without a task (a server without tasks ignores the flag).
            reset = {} if self._seed is None else {"seed": self._seed, "sandbox": True}
            reply = self._roundtrip(client_frame("reset", reset))
        except ConnectionClosed as exc:
            self._drop()
            raise EnvConnectionError(
                f"The CRM env server at {self.url} closed the new connection: {exc}"
            ) from None
        except BaseException:
            self._drop()
            raise
        metadata = reply.data.get("observation", {}).get("metadata") or {}
        self.extensions = EXTENSION in (metadata.get("extensions") or [])
        self.mode = metadata.get("mode") if metadata.get("mode") in ("episode", "store") else None
        if self.mode != "store":
            self._created.clear()  # a new episode: earlier creates are not in this CRM

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            # Closing a connection the server already closed reports how it closed; we know already.
            with contextlib.suppress(ConnectionClosed, OSError):
                ws.close()

    def _roundtrip(self, frame: str) -> Frame:
        assert self._ws is not None
        try:
            self._ws.send(frame)
        except ConnectionClosed as closed:
            # The server may have said why before closing (CAPACITY_REACHED): read that first.
            try:
                raw = self._ws.recv(timeout=0)
            except TimeoutError:
                raise closed from None
            return self._reply(raw)
        try:
            raw = self._ws.recv(timeout=self._message_timeout)
        except TimeoutError:
            self._drop()
            raise EnvConnectionError(
                f"No answer from the CRM env server at {self.url} within {self._message_timeout:g} s"
            ) from None
        return self._reply(raw)

    def _reply(self, raw: str | bytes) -> Frame:
        try:
            reply = parse_server_frame(raw)
        except FrameError as exc:
            raise EnvServerError(f"{self.url} sent an unexpected frame: {exc.message}", exc.code) from None
        if reply.type == "error":
            self._raise_error_frame(reply.data)
        return reply

    def _raise_error_frame(self, data: dict[str, Any]) -> None:
        code, message = str(data.get("code", "")), str(data.get("message", "no message"))
        if code == "VALIDATION_ERROR":
            raise CRMError(message, code="VALIDATION_ERROR")
        if code == "CAPACITY_REACHED":
            self._drop()
            raise EnvConnectionError(f"The CRM env server at {self.url} is at capacity: {message}")
        raise EnvServerError(f"The CRM env server at {self.url} answered {code}: {message}", code)

    def _exchange(self, frame: str, *, repeatable: bool) -> Frame:
        with self._lock:
            if self._lost is not None:
                raise EnvEpisodeLost(self._lost)
            fresh = self._ws is None
            if fresh:
                self._open()
            try:
                return self._roundtrip(frame)
            except ConnectionClosed as exc:
                self._drop()
                if self.mode != "store":
                    # Sticky: carrying on would silently use a fresh, empty CRM.
                    self._lost = (
                        f"The connection to the CRM env server at {self.url} dropped ({exc}); an episode "
                        "server keeps a CRM only as long as its connection, so this episode's records are "
                        "gone. Call reset() to start a new episode, or use a server started with --store "
                        "for a CRM that outlives connections."
                    )
                    raise EnvEpisodeLost(self._lost) from None
                if not repeatable or fresh:
                    raise EnvConnectionError(
                        f"The connection to the CRM env server at {self.url} dropped ({exc}) during a "
                        "call that is not safe to repeat; its outcome is unknown"
                    ) from None
            self._open()
            try:
                return self._roundtrip(frame)
            except ConnectionClosed as exc:
                self._drop()
                raise EnvConnectionError(
                    f"The CRM env server at {self.url} dropped the connection twice: {exc}"
                ) from None

    def _step(self, action: dict[str, Any], *, repeatable: bool) -> dict[str, Any]:
        reply = self._exchange(client_frame("step", action), repeatable=repeatable)
        observation = reply.data.get("observation") or {}
        body = observation.get("data")
        if observation.get("success"):
            return body if isinstance(body, dict) else {}
        if isinstance(body, dict) and "statusCode" in body:
            raise CRMError.from_body(body)
        raise CRMError(str(observation.get("error") or "The step failed without an error message"))

    def _action_type(self, object_name: str, operation: Operation) -> str:
        with self._lock:
            if self._lost is not None:
                raise EnvEpisodeLost(self._lost)
            if self._ws is None:
                self._open()  # the action vocabulary depends on what the server advertises
        return require_action(object_name, operation, self.extensions)

    # -- CRMBackend -------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode (episode server: a fresh CRM for ``seed``) on a new connection."""
        with self._lock:
            self._drop()
            self._seed = seed
            self._lost = None
            self._created.clear()
            self._open()

    def list(
        self,
        object_name: ObjectName,
        *,
        filter: str | None = None,
        order_by: str | None = None,
        limit: int | str | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        depth: int | str = 0,
    ) -> dict[str, Any]:
        params = {
            "filter": filter,
            "order_by": order_by,
            "limit": limit,
            "starting_after": starting_after,
            "ending_before": ending_before,
            "depth": depth,
        }
        action = {"action_type": self._action_type(object_name, "list")}
        action.update({k: v for k, v in params.items() if v is not None})
        return self._step(action, repeatable=True)

    def get(self, object_name: ObjectName, record_id: str, *, depth: int = 0) -> dict[str, Any]:
        action = {
            "action_type": self._action_type(object_name, "get"),
            "record_id": record_id,
            "depth": depth,
        }
        return self._step(action, repeatable=True)

    def create(
        self, object_name: ObjectName, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        action_type = self._action_type(object_name, "create")
        memo_key = f"{object_name}/{idempotency_key}" if idempotency_key is not None else None
        with self._lock:
            if memo_key is not None and memo_key in self._created:
                return copy.deepcopy(self._created[memo_key])
        action = {
            "action_type": action_type,
            **record_fields(object_name, data, extensions=self.extensions, creating=True),
        }
        server_dedups = idempotency_key is not None and self.extensions
        if server_dedups:
            action["idempotency_key"] = idempotency_key
        body = self._step(action, repeatable=server_dedups)
        if memo_key is not None:
            # Servers without the extension cannot deduplicate: remember the answer for this episode.
            with self._lock:
                self._created[memo_key] = copy.deepcopy(body)
                while len(self._created) > _MEMO_SIZE:
                    self._created.popitem(last=False)
        return body

    def update(self, object_name: ObjectName, record_id: str, data: dict[str, Any]) -> dict[str, Any]:
        action_type = self._action_type(object_name, "update")
        fields = record_fields(object_name, data, extensions=self.extensions, creating=False)
        return self._step({"action_type": action_type, "record_id": record_id, **fields}, repeatable=False)

    def delete(self, object_name: ObjectName, record_id: str) -> dict[str, Any]:
        action_type = self._action_type(object_name, "delete")
        return self._step({"action_type": action_type, "record_id": record_id}, repeatable=False)

    def close(self) -> None:
        with self._lock:
            if self._ws is not None:
                with contextlib.suppress(ConnectionClosed):
                    self._ws.send(client_frame("close"))
            self._drop()

    def __enter__(self) -> EnvBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
