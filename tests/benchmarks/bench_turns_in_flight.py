"""Turns in flight in one process, and how fast a cancelled turn lets its thread go on.

    python tests/benchmarks/bench_turns_in_flight.py                 # 2,000 turns, the model takes 5 s
    python tests/benchmarks/bench_turns_in_flight.py --turns 500 --model-s 1

Part 1: ``--turns`` conversations each send one message at once to the CRM app (the one `converso serve`
runs, SQLite state) in this process; the model is a local OpenAI-compatible server in another process
(``converso.testing.held_model``) that answers each request after ``--model-s`` seconds, through the
real ChatOpenAI client. Prints the turns completed, the errors, the wall time against the model's, and
the threads of this process at most (each turn is a task of the executor's loop, not a thread).

Part 2: a turn whose model request is held is cancelled (``astream(..., if_abandoned="undo")``); prints
how long until the thread's next message reaches the model, and whether the held request's connection was
dropped (the model server sees it). Prints figures; asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def os_threads() -> int:
    """Threads of this process as the kernel counts them (Python's and any library's)."""
    return len(os.listdir("/proc/self/task"))


def build_agent(base_url: str, data: Path, limit: int) -> Any:
    import httpx

    from converso.apps import AppOptions
    from converso.form_agent import ModelFactory
    from crm_tools.app import build_app

    # The openai client's pool holds 1,000 connections by default; more turns would queue for one.
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit))
    model = ModelFactory("held", base_url=base_url, api_key="test", max_retries=0, http_async_client=client)
    options = AppOptions(model=model, data_dir=data, max_concurrent_turns=limit)
    return build_app(options)


async def turns_in_flight(agent: Any, turns: int) -> tuple[int, list[str], float, int]:
    most = os_threads()
    stop = asyncio.Event()

    async def watch() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, os_threads())
            await asyncio.sleep(0.05)

    errors: list[str] = []
    completed = 0

    async def one(index: int) -> None:
        nonlocal completed
        try:
            reply = await agent.asend(f"t{index}", "hello")
            if reply.error:
                errors.append(reply.error)
            else:
                completed += 1
        except Exception as exc:  # a benchmark counts failures
            errors.append(f"{type(exc).__name__}: {exc}")

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(turns)))
    wall = time.perf_counter() - started
    stop.set()
    await watcher
    return completed, errors, wall, most


async def cancel_then_next(base_url: str, data: Path) -> tuple[float, bool]:
    from converso.form_agent import FormAgentExecutor, ModelFactory
    from converso.testing.held_model import HeldModelServer

    with HeldModelServer("Hello again.", hold=1) as held:
        model = ModelFactory("held", base_url=held.base_url, api_key="test", max_retries=0)
        agent = FormAgentExecutor([], model, str(data / "cancel.sqlite"))
        try:

            async def consume() -> None:
                async for _ in agent.astream("t", "hello", if_abandoned="undo"):
                    pass

            task = asyncio.create_task(consume())
            await asyncio.to_thread(held.wait_for_requests, 1)
            cancelled = time.perf_counter()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            next_turn = asyncio.create_task(agent.asend("t", "are you there?"))
            await asyncio.to_thread(held.wait_for_requests, 2)
            reached = time.perf_counter() - cancelled
            await next_turn
            dropped = await asyncio.to_thread(held.wait_for_drops, 1, 5.0)
        finally:
            await asyncio.to_thread(agent.close)
    return reached, dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--model-s", type=float, default=5.0)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-in-flight-"))
    server = subprocess.Popen(
        [sys.executable, "-m", "converso.testing.held_model", "--delay", str(args.model_s)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        base_url = f"http://127.0.0.1:{port}/v1"
        threads_before = os_threads()
        app = build_agent(base_url, data, max(args.turns, 1000))
        cpu_before = time.process_time()
        try:
            completed, errors, wall, most = asyncio.run(turns_in_flight(app.agent, args.turns))
        finally:
            app.close()
        cpu = time.process_time() - cpu_before
        print(
            f"== {args.turns} turns at once in one process, the model answering each after {args.model_s:g} s"
        )
        print(f"completed: {completed}  errors: {len(errors)}")
        for error in errors[:5]:
            print("  ", error)
        print(
            f"wall time: {wall:.2f} s (the model alone: {args.model_s:g} s); CPU of this process "
            f"{cpu:.1f} s, {cpu / max(args.turns, 1) * 1000:.1f} ms per turn (load before: "
            f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])})"
        )
        print(
            f"threads of this process: {threads_before} before the app, at most {most} while the turns ran "
            f"(Python threads now: {threading.active_count()})"
        )
        reached, dropped = asyncio.run(cancel_then_next(base_url, data))
        print("== a turn cancelled while its model request is held")
        print(f"the thread's next message reached the model {reached * 1000:.0f} ms after the cancel")
        print(f"the held request's connection was dropped: {'yes' if dropped else 'NO'}")
    finally:
        server.terminate()
        server.wait(10)
    return 0 if not errors and completed == args.turns else 1


if __name__ == "__main__":
    raise SystemExit(main())
