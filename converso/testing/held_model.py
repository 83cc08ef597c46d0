"""A local OpenAI-compatible server that holds its answers, for cancellation and concurrency tests.

``ScriptedOpenAIServer`` plays a script with one thread per connection. This one runs on asyncio (one
thread, any number of connections) and does one thing: it answers every chat-completions request with a
fixed text, either after ``delay`` seconds or, for the first ``hold`` requests, only when released. While
it waits it watches the connection, so a test sees the client give up (``dropped``)::

    with HeldModelServer(hold=1) as server:
        ...                               # a turn starts; its model request is held
        server.wait_for_requests(1)
        ...                               # cancel the turn
        server.wait_for_drops(1)          # the abandoned HTTP request was closed

``python -m converso.testing.held_model --port 8400 --delay 5`` serves it on its own (benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from types import TracebackType
from typing import Any

from converso.testing import _openai_wire as wire
from converso.testing._openai_script import Answer


class HeldModelServer:
    """Answers ``answer`` to every request, after ``delay`` seconds; the first ``hold`` requests wait for
    :meth:`release` (or for the client to go away) instead."""

    def __init__(self, answer: str = "Hello.", *, delay: float = 0.0, hold: int = 0, port: int = 0) -> None:
        self.answer = answer
        self.delay = delay
        self._to_hold = hold
        self._requested_port = port
        self._condition = threading.Condition()
        self.requests = 0
        self.answered = 0
        self.dropped = 0
        self.open_connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> HeldModelServer:
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="held-model", daemon=True)
        self._thread.start()
        started.wait(10)
        if not self._port:
            raise RuntimeError("HeldModelServer did not start")
        return self

    def _serve(self, started: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._open())
        started.set()
        self._loop.run_forever()
        self._loop.close()

    async def _open(self) -> None:
        self._released = asyncio.Event()
        self._server = await asyncio.start_server(
            self._connection, "127.0.0.1", self._requested_port, backlog=4096
        )
        self._port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    async def _close(self) -> None:
        assert self._server is not None and self._released is not None
        self._server.close()
        self._released.set()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def __enter__(self) -> HeldModelServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- what tests use ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def port(self) -> int:
        return self._port

    def release(self) -> None:
        """Answer the held requests (and every later one without holding)."""
        assert self._loop is not None and self._released is not None
        self._loop.call_soon_threadsafe(self._released.set)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        return self._wait(lambda: self.requests >= count, timeout)

    def wait_for_drops(self, count: int, timeout: float = 10.0) -> bool:
        return self._wait(lambda: self.dropped >= count, timeout)

    def _wait(self, predicate: Any, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(predicate, timeout)

    def _count(self, name: str, by: int = 1) -> None:
        with self._condition:
            setattr(self, name, getattr(self, name) + by)
            self._condition.notify_all()

    # -- HTTP --------------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count("open_connections")
        try:
            while await self._request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._count("open_connections", -1)
            writer.close()

    async def _request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
        if not head:
            return False
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length") or 0))
        if not lines[0].startswith("POST ") or "/chat/completions" not in lines[0]:
            _respond(
                writer, 404, "application/json", b'{"error": {"message": "POST /v1/chat/completions only"}}'
            )
            await writer.drain()
            return True
        request = json.loads(body or b"{}")
        with self._condition:
            self.requests += 1
            number = self.requests
            held = number <= self._to_hold
            self._condition.notify_all()
        if not await self._wait_to_answer(reader, held):
            self._count("dropped")
            return False
        answer = Answer(text=self.answer)
        usage = wire.estimate_usage(request, answer)
        model = request.get("model") or "held"
        if request.get("stream"):
            chunks = wire.stream_chunks(
                answer, number=number, model=model, created=int(time.time()), chunk_chars=64, usage=usage
            )
            events = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
            _respond(writer, 200, "text/event-stream", events)
        else:
            payload = wire.completion_body(
                answer, number=number, model=model, created=int(time.time()), usage=usage
            )
            _respond(writer, 200, "application/json", json.dumps(payload).encode())
        await writer.drain()
        self._count("answered")
        return True

    async def _wait_to_answer(self, reader: asyncio.StreamReader, held: bool) -> bool:
        """False when the client closed the connection first."""
        assert self._released is not None
        waiting = asyncio.ensure_future(self._released.wait() if held else asyncio.sleep(self.delay))
        # A client that gives up closes the connection: the read ends (the client sends nothing more
        # while it waits for this answer).
        gone = asyncio.ensure_future(reader.read(1))
        try:
            await asyncio.wait([waiting, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if gone.done():
            return False
        gone.cancel()
        # The reader is free for the next request only once the watching read has really stopped.
        await asyncio.wait([gone])
        return True


def _respond(writer: asyncio.StreamWriter, status: int, content_type: str, payload: bytes) -> None:
    reason = {200: "OK", 404: "Not Found"}.get(status, "Error")
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
        "Connection: keep-alive\r\n\r\n".encode()
        + payload
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible server answering after a delay.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=5.0)
    parser.add_argument("--answer", default="Hello.")
    args = parser.parse_args()
    server = HeldModelServer(args.answer, delay=args.delay, port=args.port).start()
    print(f"listening {server.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
