"""What running each tool call under a deadline (tool_timeout, on a worker thread) costs per turn.

Run: python tests/benchmarks/bench_tool_timeout.py [--turns N]
The same executor setup with tool_timeout=30 (the default) and tool_timeout=None (the call runs in the
graph's thread), turns interleaved; prints medians and their ratio, asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from langchain_core.tools import tool

from converso import FormAgentExecutor
from converso.testing import ScriptedChatModel

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@tool
def lookup_company(name: str) -> str:
    """Look a company up by name."""
    return f"{name}: 250 employees, acme.com"


def lookup_turn(i: int) -> list[Any]:
    return [
        {"tool_calls": [{"name": "lookup_company", "args": {"name": f"Company {i}"}}]},
        f"Company {i}: 250.",
    ]


def main(turns: int) -> None:
    setups = {"tool_timeout=30": 30.0, "tool_timeout=None": None}
    models = {name: ScriptedChatModel(responses=[]) for name in setups}
    executors = {
        name: FormAgentExecutor([lookup_company], models[name], clock=lambda: NOW, tool_timeout=timeout)
        for name, timeout in setups.items()
    }
    timings: dict[str, list[float]] = {name: [] for name in setups}
    # CPU time of the whole process (all threads): the wall time above also holds the wait for the
    # scheduler to run the worker, which grows with the machine's load.
    cpu: dict[str, list[float]] = {name: [] for name in setups}
    warmup = 20
    for i in range(turns + warmup):
        order = list(setups) if i % 2 else list(reversed(setups))
        for name in order:
            models[name].extend(lookup_turn(i))
            started, cpu_started = time.perf_counter(), time.process_time()
            executors[name].send(f"t{i // 5}", f"How big is company {i}?")
            if i >= warmup:
                timings[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - cpu_started)
    for executor in executors.values():
        executor.close()
    print(f"Per-turn time, instant scripted model, 1 tool call + 1 answer per turn, {turns} turns each")
    print(f"  {'setup':<20}{'median ms':>10}{'p90 ms':>10}{'CPU ms':>10}")
    for name, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        mean_cpu = statistics.mean(cpu[name]) * 1000
        print(f"  {name:<20}{statistics.median(values) * 1000:>10.3f}{p90:>10.3f}{mean_cpu:>10.3f}")
    wall_deadline, wall_inline = (statistics.median(timings[name]) for name in setups)
    cpu_deadline, cpu_inline = (statistics.mean(cpu[name]) for name in setups)
    for what, deadline, inline in (("wall", wall_deadline, wall_inline), ("CPU", cpu_deadline, cpu_inline)):
        print(
            f"  {what}, with deadline / inline: {deadline / inline:.3f}x "
            f"(+{(deadline - inline) * 1e6:.0f} µs per tool call)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    main(parser.parse_args().turns)
