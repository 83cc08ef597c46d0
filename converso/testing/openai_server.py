"""A local OpenAI-compatible HTTP server that answers from a script, for tests and demos.

The real ``ChatOpenAI`` (and the ``openai`` client under it) talks to it over HTTP on 127.0.0.1, so the
wire format, streaming, tool-call reassembly, retries and timeouts are exercised for real::

    with ScriptedOpenAIServer([status(429, retry_after=0.001), tool_calls(call("Search", {"q": "x"})),
                               "Found it."]) as server:
        model = ChatOpenAI(base_url=server.base_url, api_key="test", model="scripted", max_retries=2)
        ...
        assert server.unconsumed == []
        assert server.requests[-1].tool_names == ["Search"]

Script items are consumed in request order. A fault (``status``, ``delay``, ``cut_stream_after``,
``garbled``) uses up one request but leaves the next answer queued, so the client's retry gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from converso.testing import _openai_wire as wire
from converso.testing._openai_script import (
    Answer,
    CutStream,
    Decision,
    Delay,
    Entry,
    Fault,
    Garbled,
    ScriptExhausted,
    ScriptItem,
    ScriptQueue,
    Status,
    ToolCall,
    call,
    cut_stream_after,
    delay,
    garbled,
    status,
    text,
    tool_calls,
)

__all__ = [
    "Answer",
    "CutStream",
    "Delay",
    "Fault",
    "Garbled",
    "RecordedRequest",
    "ScriptExhausted",
    "ScriptItem",
    "ScriptedOpenAIServer",
    "Status",
    "ToolCall",
    "call",
    "cut_stream_after",
    "delay",
    "garbled",
    "status",
    "text",
    "tool_calls",
]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, as the client sent it."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", {}).get("name", "") for t in self.tools]

    @property
    def tool_choice(self) -> Any:
        return self.body.get("tool_choice")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream", False))

    @property
    def model(self) -> str | None:
        return self.body.get("model")


class ScriptedOpenAIServer:
    """Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` on 127.0.0.1 from a background thread.

    ``script``: answers and faults, in request order (see ``text``, ``tool_calls``, ``status``, ``delay``,
    ``cut_stream_after``, ``garbled``; a plain str is a text answer, a list is a list of tool calls).
    ``handler``: called with each ``RecordedRequest`` once the script is used up, returns a script item.
    Without a handler, a request past the end of the script gets HTTP 500 saying the script ran out.
    ``api_key``: when given, requests must carry ``Authorization: Bearer <api_key>``.
    ``stream_chunk_chars``: size of the text and tool-argument pieces in a streamed answer.
    """

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        handler: Callable[[RecordedRequest], ScriptItem] | None = None,
        port: int = 0,
        models: Iterable[str] = ("scripted",),
        api_key: str | None = None,
        stream_chunk_chars: int = 8,
    ) -> None:
        if stream_chunk_chars < 1:
            raise ValueError(f"stream_chunk_chars must be at least 1, got {stream_chunk_chars}")
        self._queue = ScriptQueue(script, handler)
        self._requested_port = port
        self.models = list(models)
        self.api_key = api_key
        self.stream_chunk_chars = stream_chunk_chars
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> ScriptedOpenAIServer:
        if self._httpd is not None:
            raise RuntimeError("ScriptedOpenAIServer is already running; use one instance per start()")
        self._stopping.clear()
        self._httpd = _HTTPServer(("127.0.0.1", self._requested_port), _Handler, owner=self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scripted-openai-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes requests sleeping in a delay
        httpd.shutdown()
        httpd.drop_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> ScriptedOpenAIServer:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # shutdown() waits for the serving loop's next poll; keep the event loop free meanwhile.
        await asyncio.to_thread(self.close)

    # -- what tests look at ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(
                "ScriptedOpenAIServer is not running; use it as a context manager or call start()"
            )
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as ``base_url`` to ChatOpenAI or the openai client."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every chat-completions request received so far, faulted ones included."""
        with self._lock:
            return list(self._requests)

    @property
    def unconsumed(self) -> list[Entry]:
        """Script entries no request has used yet; ``[]`` once the whole script was played."""
        return self._queue.unconsumed

    def extend(self, items: Iterable[ScriptItem]) -> None:
        """Append answers or faults to the script (also while running)."""
        self._queue.extend(items)

    # -- used by the request handler ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _decide(self, request: RecordedRequest) -> Decision:
        return self._queue.next_for(request)

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when the server is still running."""
        return not self._stopping.wait(seconds)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes bursts of concurrent clients wait for SYN retransmits.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: ScriptedOpenAIServer
    ):
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def drop_connections(self) -> None:
        # Keep-alive connections would otherwise keep their handler threads blocked after close().
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _ConnectionDropped(Exception):
    """The fault requires closing the connection without finishing the response."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client's connection pool expects
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read .requests; access logs would only be noise

    @property
    def owner(self) -> ScriptedOpenAIServer:
        return self.server.owner

    # -- routing -----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "converso"} for m in self.owner.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, f"no route GET {path}; this server serves GET /v1/models")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if not path.endswith("/chat/completions"):
                self._send_error(404, f"no route POST {path}; this server serves POST /v1/chat/completions")
            elif not self._authorized():
                self._send_error(401, "Incorrect API key provided; send 'Authorization: Bearer <api_key>'")
            else:
                self._chat_completions(path, raw)
        except (_ConnectionDropped, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _authorized(self) -> bool:
        expected = self.owner.api_key
        return expected is None or self.headers.get("Authorization") == f"Bearer {expected}"

    def _chat_completions(self, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            self._send_error(
                400, f"the request body is not valid JSON ({exc}); send a chat.completions object"
            )
            return
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._send_error(400, "the request body must be a JSON object with a 'messages' list")
            return
        request = RecordedRequest(
            path=path, body=body, headers={k.lower(): v for k, v in self.headers.items()}
        )
        self.owner._record(request)
        try:
            decision = self.owner._decide(request)
        except ScriptExhausted as exc:
            self._send_error(500, f"ScriptedOpenAIServer: {exc}", retry=False, error_code="script_exhausted")
            return
        except Exception as exc:  # a broken test handler must show up in the test, not hang it
            message = f"ScriptedOpenAIServer: the handler raised {type(exc).__name__}: {exc}"
            self._send_error(500, message, retry=False, error_code="handler_error")
            return
        if decision.fault is not None:
            self._serve_fault(decision, request)
        elif decision.answer is not None:
            self._serve_answer(decision.answer, decision.number, request)

    # -- answers -----------------------------------------------------------------------------------

    def _serve_answer(self, answer: Answer, number: int, request: RecordedRequest) -> None:
        if answer.delay and not self.owner._sleep(answer.delay):
            raise _ConnectionDropped
        if request.stream:
            self._send_events(self._chunks(answer, number, request))
        else:
            self._send_json(200, self._completion(answer, number, request))

    def _completion(self, answer: Answer, number: int, request: RecordedRequest) -> dict[str, Any]:
        return wire.completion_body(
            answer,
            number=number,
            model=request.model or self.owner.models[0],
            created=int(time.time()),
            usage=wire.estimate_usage(request.body, answer),
        )

    def _chunks(self, answer: Answer, number: int, request: RecordedRequest) -> list[str]:
        options = request.body.get("stream_options") or {}
        chunks = wire.stream_chunks(
            answer,
            number=number,
            model=request.model or self.owner.models[0],
            created=int(time.time()),
            chunk_chars=self.owner.stream_chunk_chars,
            usage=wire.estimate_usage(request.body, answer) if options.get("include_usage") else None,
        )
        return [json.dumps(c, ensure_ascii=False) for c in chunks]

    # -- faults ------------------------------------------------------------------------------------

    def _serve_fault(self, decision: Decision, request: RecordedRequest) -> None:
        fault = decision.fault
        if isinstance(fault, Status):
            self._send_status_fault(fault)
        elif isinstance(fault, Delay):
            if not self.owner._sleep(fault.seconds):
                raise _ConnectionDropped
            message = (
                f"ScriptedOpenAIServer: this request was delayed {fault.seconds}s by the script (a fault)"
            )
            self._send_error(504, message, extra_headers={"retry-after-ms": "1"})
        elif isinstance(fault, CutStream):
            answer = decision.answer or Answer(text="(no scripted answer left to cut)")
            self._send_cut(answer, decision.number, request, fault.after_chunks)
        elif isinstance(fault, Garbled):
            self._send_garbled(request)

    def _send_status_fault(self, fault: Status) -> None:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
            headers["retry-after"] = str(math.ceil(fault.retry_after))
        message = fault.message or f"ScriptedOpenAIServer: scripted HTTP {fault.code} fault"
        self._send_error(fault.code, message, extra_headers=headers)

    def _send_cut(self, answer: Answer, number: int, request: RecordedRequest, after: int) -> None:
        if request.stream:
            self._send_events(self._chunks(answer, number, request)[:after], finished=False)
        else:
            payload = json.dumps(self._completion(answer, number, request)).encode()
            self._start_response(200, "application/json", {"Content-Length": str(len(payload))})
            self.wfile.write(payload[: len(payload) // 2])
        raise _ConnectionDropped

    def _send_garbled(self, request: RecordedRequest) -> None:
        broken = '{"id": "chatcmpl-garbled", "choices": [{"index": 0, "delta": {"content": "unterminat'
        if request.stream:
            self._send_events(
                ['{"id": "chatcmpl-garbled", "object": "chat.completion.chunk", "choices": []}', broken]
            )
        else:
            self._send_bytes(200, "application/json", broken.encode())

    # -- HTTP plumbing -----------------------------------------------------------------------------

    def _start_response(self, code: int, content_type: str, headers: Mapping[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_bytes(
        self, code: int, content_type: str, payload: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        self._start_response(code, content_type, {**(headers or {}), "Content-Length": str(len(payload))})
        self.wfile.write(payload)

    def _send_json(self, code: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_bytes(code, "application/json", json.dumps(body, ensure_ascii=False).encode(), headers)

    def _send_error(
        self,
        code: int,
        message: str,
        *,
        retry: bool | None = None,
        error_code: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        headers = dict(extra_headers or {})
        if retry is not None:
            # The openai client obeys this header, so an exhausted script fails at once instead of retrying.
            headers["x-should-retry"] = "true" if retry else "false"
        body = wire.error_body(message, type=wire.error_type_for(code), code=error_code)
        self._send_json(code, body, headers)

    def _send_events(self, events: list[str], *, finished: bool = True) -> None:
        # Chunked transfer encoding, so that dropping the connection early is a visible protocol error.
        self._start_response(
            200,
            "text/event-stream; charset=utf-8",
            {"Cache-Control": "no-cache", "Transfer-Encoding": "chunked"},
        )
        for event in events:
            self._write_chunk(f"data: {event}\n\n".encode())
        if finished:
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
