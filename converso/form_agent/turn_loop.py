"""The event loop a FormAgentExecutor runs its turns on, on one background thread.

A turn is a task on this loop: waiting for the model costs no thread, and cancelling the task stops
the turn at its next ``await`` (an HTTP request to the model is closed). The model client, the async
checkpointer and the per-thread turn locks all belong to one loop, so every caller goes through this
one: async callers on another loop get the turn's events handed over, sync callers block on a future.

The loop is uvloop's where it is installed (not on Windows), as under LangGraph's own server: a turn
wakes its loop a dozen times (model calls, checkpoint, frames), and uvloop's loop costs less per wake-up
than asyncio's. ``CONVERSO_EVENT_LOOP=asyncio`` keeps asyncio's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# The environment variable that chooses the loop: "uvloop" (the default where it is installed) or "asyncio".
EVENT_LOOP_VARIABLE = "CONVERSO_EVENT_LOOP"
EVENT_LOOPS = ("uvloop", "asyncio")


class EventLoopSettingError(ValueError):
    """``CONVERSO_EVENT_LOOP`` names no event loop converso knows."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind ``CONVERSO_EVENT_LOOP`` names: uvloop's by default when it can be
    imported, else asyncio's."""
    kind = os.environ.get(EVENT_LOOP_VARIABLE, "").strip().lower() or "uvloop"
    if kind not in EVENT_LOOPS:
        raise EventLoopSettingError(
            f"{EVENT_LOOP_VARIABLE}={os.environ[EVENT_LOOP_VARIABLE]!r} is not an event loop converso "
            f"knows; accepted: {', '.join(EVENT_LOOPS)}"
        )
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class TurnLoop:
    """An asyncio loop running on its own thread until :meth:`close`."""

    def __init__(self, name: str = "converso-turns") -> None:
        self.loop = new_event_loop()
        ready = threading.Event()
        with signals_blocked():
            # Threads inherit the signal mask of the thread that starts them: this one, and every thread
            # its loop starts (the default executor's, for sync tools), leave Ctrl-C to the main thread.
            self._thread = threading.Thread(target=self._run, args=(ready,), name=name, daemon=True)
            self._thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def on_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coroutine`` as a task of the loop; its result as a thread-safe future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result (from any thread but the loop's own)."""
        if self.on_loop_thread():
            coroutine.close()
            raise RuntimeError(
                "a synchronous FormAgentExecutor method was called from inside one of its own turns "
                "(a tool or callback); use the async method (asend, astream, aget_form, ...) there"
            )
        return self.submit(coroutine).result()

    def close(self) -> None:
        """Stop the loop once its pending work is done (running turns must have ended)."""
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            self.submit(self._shutdown()).result()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
        self.loop.close()

    async def _shutdown(self) -> None:
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()


def block_signals() -> None:
    """Block SIGINT and SIGTERM in this thread for good (a pool's thread initializer); see signals_blocked."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread for the block's duration (threads started inside inherit it).

    CPython runs signal handlers only in the main thread, but the kernel delivers a process signal to any
    thread that does not block it. Delivered to a turn's thread, a Ctrl-C would not interrupt the main
    thread's blocking read (`converso chat` waiting at its prompt) and would seem ignored."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
