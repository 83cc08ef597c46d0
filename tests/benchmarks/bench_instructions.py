"""Instructions per turn, counted by valgrind's callgrind: the engine against the bare LangGraph run.

    python tests/benchmarks/bench_instructions.py                    # 40 conversations, 120 bare runs each
    python tests/benchmarks/bench_instructions.py --conversations 20

CPU time on a shared machine moves by 2x between sessions and by 20% between two runs a minute apart; an
instruction count does not move with load or speed, so a change to the engine shows as a count that
differs by the change alone. Each of three child processes runs under callgrind with counting off,
warms up, and counts only its measured window (``callgrind_control -i on`` / ``off``):

- ``engine``: the CRM app `converso serve` runs (SQLite state and CRM) with bench_serve's scripted policy
  model answering at once; ``--conversations`` conversations of three turns (create a company), all at
  once, each turn through ``astream`` with tokens, as the server calls it. No server, no sockets.
- ``sync``, ``async`` and ``uvloop``: bench_serve's bare graph (agent → tool → agent, SQLite checkpointer),
  three runs per thread as a conversation's three turns, ``stream``, or ``astream`` on asyncio's event loop
  or on uvloop's (the loop the engine's turns run on; ``CONVERSO_EVENT_LOOP`` chooses it).

Prints instructions per turn and per bare run, and their ratios. Counts are of user-space instructions:
system calls (SQLite's file I/O, the writers' file locks) and waiting are not in them, and an instruction
is not a fixed time (cache misses are not counted). Needs valgrind (``apt install valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from converso.cli.serve import SERVER_GC_THRESHOLDS

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("engine", "sync", "async", "uvloop")


@contextlib.contextmanager
def counted() -> Iterator[None]:
    """Callgrind counts instructions inside the block only."""
    # As `converso serve` sets its workers up (what was built so far frozen, its thresholds), so that
    # the window holds the collections a worker would make: with Python's defaults, a turn counted
    # about 3% more.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLDS)
    _instrumentation("on")
    try:
        yield
    finally:
        _instrumentation("off")


def _instrumentation(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], capture_output=True)


def _engine(conversations: int) -> None:
    from converso.apps import AppOptions
    from crm_tools.app import build_app
    from tests.benchmarks.bench_serve import _policy_model

    app = build_app(AppOptions(model=_policy_model(0.0), data_dir=Path(tempfile.mkdtemp())))
    executor = app.agent

    async def conversation(index: int, tag: str) -> None:
        name = f"Company {tag}{index}"
        for text in ("I'd like to add a company", f"{name}, c{index}.{tag}.example, 9 people", "yes"):
            async for _ in executor.astream(f"{tag}{index}", text):
                pass

    async def all_at_once(tag: str) -> None:
        await asyncio.gather(*(conversation(index, tag) for index in range(conversations)))

    async def measure() -> None:
        await all_at_once("warm")
        await all_at_once("again")
        with counted():
            await all_at_once("measured")

    try:
        executor.run_on_loop(measure())
    finally:
        app.close()


def _bare(runs: int, asynchronous: bool, loop_factory: Any = asyncio.new_event_loop) -> None:
    from langchain_core.messages import HumanMessage

    from tests.benchmarks.bench_serve import bare_async_graph, bare_sync_graph

    path = Path(tempfile.mkdtemp(prefix="bench-instr-")) / "bare.sqlite"
    options: dict[str, Any] = {"stream_mode": ["updates", "values"], "durability": "exit"}

    def inputs() -> dict[str, Any]:
        # A new message each run: LangGraph gives it an id, and a message with an id already in the
        # history would replace that one instead of being added.
        return {"messages": [HumanMessage("hi")]}

    def config(index: int, tag: str) -> dict[str, Any]:
        # Three runs per thread, as a conversation's three turns.
        return {"configurable": {"thread_id": f"{tag}{index // 3}"}}

    if not asynchronous:
        compiled, connection = bare_sync_graph(path)

        def runs_of(tag: str) -> None:
            for index in range(runs):
                for _ in compiled.stream(inputs(), config(index, tag), **options):
                    pass

        runs_of("warm")
        with counted():
            runs_of("measured")
        connection.close()
        return

    async def main() -> None:
        async with bare_async_graph(path) as compiled:

            async def runs_of(tag: str) -> None:
                for index in range(runs):
                    async for _ in compiled.astream(inputs(), config(index, tag), **options):
                        pass

            await runs_of("warm")
            with counted():
                await runs_of("measured")

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def count(target: str, size: int) -> int:
    """Instructions in ``target``'s measured window, from callgrind's log."""
    folder = Path(tempfile.mkdtemp(prefix="bench-instr-"))
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={folder / 'callgrind.out'}",
        f"--log-file={folder / 'valgrind.log'}",
        sys.executable,
        __file__,
        "--child",
        target,
        "--size",
        str(size),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    log = (folder / "valgrind.log").read_text() if (folder / "valgrind.log").exists() else ""
    collected = re.search(r"Collected\s*:\s*(\d+)", log)
    if finished.returncode != 0 or collected is None:
        raise SystemExit(f"the {target} run failed under valgrind:\n{finished.stderr[-2000:]}\n{log[-2000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    return int(collected.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=40, help="engine conversations (3 turns each)")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "engine":
        _engine(args.size)
        return 0
    if args.child == "uvloop":
        from tests.benchmarks.bench_serve import uvloop_factory

        _bare(args.size, asynchronous=True, loop_factory=uvloop_factory())
        return 0
    if args.child is not None:
        _bare(args.size, asynchronous=args.child == "async")
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("bench_instructions needs valgrind and callgrind_control on PATH (apt install valgrind)")
        return 2
    turns = 3 * args.conversations
    engine = count("engine", args.conversations) / turns
    bare_sync = count("sync", turns) / turns
    bare_async = count("async", turns) / turns
    bare_uvloop = count("uvloop", turns) / turns
    print(
        f"== instructions (callgrind), {args.conversations} conversations = {turns} turns; {turns} bare runs"
    )
    print(f"bare LangGraph run, sync:  {bare_sync / 1e6:.2f} M per run")
    print(f"bare LangGraph run, async on asyncio's loop: {bare_async / 1e6:.2f} M per run")
    print(f"bare LangGraph run, async on uvloop's loop: {bare_uvloop / 1e6:.2f} M per run")
    print(
        f"engine turn ({os.environ.get('CONVERSO_EVENT_LOOP') or 'uvloop'} loop): {engine / 1e6:.2f} M = "
        f"{engine / bare_sync:.2f}x the bare sync run, {engine / bare_async:.2f}x the bare async run on "
        f"asyncio's loop, {engine / bare_uvloop:.2f}x on uvloop's"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
