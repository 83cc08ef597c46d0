"""Throughput and latency of `crm-env serve`: task episodes against sandbox episodes, 50 connections.

The server runs in its own process (the real CLI); N asyncio clients in this process each run
episodes back to back: a reset, a mixed list/get/create/update loop of ``--episode-steps`` steps,
then ``submit_answer``. Two scenarios on the same server, one after the other:

- sandbox: ``reset()`` without a seed, an empty CRM, rewards null (the baseline);
- task: ``reset(seed=N)`` with a new N every episode: a task of the bundled suite, its CRM copied from
  the seeded database, the step limit, and the grader's score as the reward of ``submit_answer``;
- steps (``--steps-baseline``): the earlier form of this benchmark, one sandbox episode per connection
  and steps only, no resets (the figure the issue quotes as today's: 6,800 steps/s), to put both
  scenarios next to it in the same run.

The scenarios take turns in ``--rounds`` rounds, so a change in the machine's other load hits each alike.

Prints episodes/s and steps/s (resets and seeding included in the wall time), p50/p99 step and reset
latency, the task scenario as a ratio of the sandbox one, and the server's memory. Figures only;
nothing is asserted.

    python tests/benchmarks/bench_env_server.py                   # 50 clients, 15 s per scenario
    python tests/benchmarks/bench_env_server.py --duration 5 --clients 20 --episode-steps 20
    python tests/benchmarks/bench_env_server.py --steps-baseline  # and the earlier steps-only figure
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

API_KEY = "bench-key"
PROFILE: list[str] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    """CPU time the process used so far (user + system): robust to other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_server(port: int, clients: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, *PROFILE, str(Path(sys.executable).parent / "crm-env"), "serve",
        "--port", str(port), "--api-key", API_KEY, "--max-sessions", str(clients + 10), "--log-level", "WARNING",
    ]  # fmt: skip
    server = subprocess.Popen(command)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not become healthy within 30 s")


@dataclass
class Tally:
    steps: int = 0
    episodes: int = 0
    rewards: list[float] = field(default_factory=list)
    step_latencies: list[float] = field(default_factory=list)
    reset_latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0  # seconds of measured load, over all rounds
    cpu: float = 0.0  # the server's CPU seconds meanwhile


async def _exchange(ws: ClientConnection, frame: dict) -> dict:
    await ws.send(json.dumps(frame))
    reply = json.loads(await ws.recv())
    if reply["type"] != "observation":
        raise RuntimeError(reply)
    return reply["data"]["observation"]


async def _episode(
    ws: ClientConnection, reset: dict, steps: int, rng: random.Random, tally: Tally | None
) -> None:
    started = time.perf_counter()
    await _exchange(ws, {"type": "reset", "data": reset})
    if tally is not None:
        tally.reset_latencies.append(time.perf_counter() - started)
    ids: list[str] = []
    for number in range(steps + 1):
        kind = (
            "submit"
            if number == steps
            else "create"
            if not ids
            else ("list", "get", "create", "update")[number % 4]
        )
        if kind == "list":
            action = {"action_type": "list_companies", "limit": 10, "filter": "employees[gte]:0"}
        elif kind == "get":
            action = {"action_type": "get_company", "record_id": rng.choice(ids)}
        elif kind == "create":
            action = {"action_type": "create_company", "company_name": f"C{rng.random()}",
                      "company_employees": rng.randint(1, 500)}  # fmt: skip
        elif kind == "update":
            action = {"action_type": "update_company", "record_id": rng.choice(ids),
                      "company_employees": rng.randint(1, 500)}  # fmt: skip
        else:
            action = {"action_type": "submit_answer", "answer": "done"}
        started = time.perf_counter()
        observation = await _exchange(ws, {"type": "step", "data": action})
        if tally is not None:
            tally.step_latencies.append(time.perf_counter() - started)
            tally.steps += 1
        if not observation["success"]:
            raise RuntimeError(observation["error"])
        if kind == "create":
            ids.append(observation["data"]["data"]["createCompany"]["id"])
        if observation["done"]:
            if tally is not None:
                tally.episodes += 1
                if observation["reward"] is not None:
                    tally.rewards.append(observation["reward"])
            return
    raise RuntimeError("the episode did not end with submit_answer")


async def _client(url: str, number: int, scenario: str, steps: int, opened: asyncio.Barrier, go: asyncio.Event,
                  until: list[float], tally: Tally) -> None:  # fmt: skip
    rng = random.Random(number)
    episode = 0

    def reset() -> dict:
        nonlocal episode
        episode += 1
        return {"seed": number * 1_000_000 + episode} if scenario == "task" else {}

    async with connect(url, subprotocols=[f"crm-v1.{API_KEY}"], proxy=None, compression=None) as ws:  # type: ignore[list-item]
        await _episode(ws, reset(), steps, rng, None)  # warm-up: the seeded databases get built once
        if scenario == "steps":
            await _exchange(ws, {"type": "reset", "data": {}})
        await opened.wait()
        await go.wait()
        while time.perf_counter() < until[0]:
            if scenario == "steps":
                await _steps(ws, rng, until, tally)
            else:
                await _episode(ws, reset(), steps, rng, tally)


async def _steps(ws: ClientConnection, rng: random.Random, until: list[float], tally: Tally) -> None:
    ids = [
        (
            await _exchange(
                ws, {"type": "step", "data": {"action_type": "create_company", "company_name": f"S{n}"}}
            )
        )["data"]["data"]["createCompany"]["id"]
        for n in range(10)
    ]
    number = 0
    while time.perf_counter() < until[0]:
        kind = number % 4
        if kind == 0:
            action = {"action_type": "list_companies", "limit": 10, "filter": "employees[gte]:0"}
        elif kind == 1:
            action = {"action_type": "get_company", "record_id": rng.choice(ids)}
        elif kind == 2:
            action = {"action_type": "create_company", "company_name": f"C{rng.random()}",
                      "company_employees": rng.randint(1, 500)}  # fmt: skip
        else:
            action = {"action_type": "update_company", "record_id": rng.choice(ids),
                      "company_employees": rng.randint(1, 500)}  # fmt: skip
        started = time.perf_counter()
        observation = await _exchange(ws, {"type": "step", "data": action})
        tally.step_latencies.append(time.perf_counter() - started)
        tally.steps += 1
        if kind == 2:
            ids.append(observation["data"]["data"]["createCompany"]["id"])
        number += 1


def _ms(values: list[float], quantile: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * quantile))] * 1000


async def _measure(
    url: str, scenario: str, clients: int, steps: int, duration: float, server_pid: int, tally: Tally
) -> None:
    """One round of ``scenario``, added to ``tally``."""
    opened, go = asyncio.Barrier(clients + 1), asyncio.Event()
    until = [float("inf")]
    tasks = [
        asyncio.create_task(_client(url, n, scenario, steps, opened, go, until, tally))
        for n in range(clients)
    ]
    await opened.wait()
    until[0] = time.perf_counter() + duration
    started, cpu = time.perf_counter(), _cpu_seconds(server_pid)
    go.set()
    await asyncio.gather(*tasks)
    tally.elapsed += time.perf_counter() - started
    tally.cpu += _cpu_seconds(server_pid) - cpu


def _report(scenario: str, tally: Tally) -> dict[str, float]:
    elapsed = tally.elapsed
    figures = {
        "server cpu us/step": tally.cpu / tally.steps * 1e6,
        "episodes/s": tally.episodes / elapsed,
        "steps/s": tally.steps / elapsed,
        "step p50 ms": statistics.median(tally.step_latencies) * 1000,
        "step p99 ms": _ms(tally.step_latencies, 0.99),
        "step max ms": max(tally.step_latencies) * 1000,
        "reset p50 ms": statistics.median(tally.reset_latencies or [0.0]) * 1000,
        "reset p99 ms": _ms(tally.reset_latencies or [0.0], 0.99),
    }
    rewards = f", mean reward {statistics.fmean(tally.rewards):.3f}" if tally.rewards else ", rewards null"
    episodes = f"{figures['episodes/s']:,.0f} episodes/s, " if tally.episodes else "no resets, "
    resets = (
        f"; reset p50 {figures['reset p50 ms']:.2f} ms, p99 {figures['reset p99 ms']:.2f} ms"
        if tally.reset_latencies
        else ""
    )
    print(
        f"{scenario:>8}: {episodes}{figures['steps/s']:,.0f} steps/s "
        f"({tally.episodes} episodes, {tally.steps} steps in {elapsed:.1f} s{rewards}); "
        f"step p50 {figures['step p50 ms']:.2f} ms, p99 {figures['step p99 ms']:.2f} ms, "
        f"max {figures['step max ms']:.1f} ms{resets}; server CPU {figures['server cpu us/step']:.0f} us per step "
        f"({1e6 / figures['server cpu us/step']:,.0f} steps/s per server core, resets and grading included)"
    )
    return figures


async def _run(
    port: int, clients: int, steps: int, duration: float, rounds: int, server_pid: int, baseline: bool
) -> None:
    url = f"ws://127.0.0.1:{port}/ws"
    idle = _rss_kib(server_pid)
    print(
        f"{clients} connections, episodes of {steps} steps + submit_answer, {duration:.0f} s per scenario "
        f"in {rounds} interleaved rounds"
    )
    scenarios = ["sandbox", "task", *(["steps"] if baseline else [])]
    tallies = {scenario: Tally() for scenario in scenarios}
    # Interleaved rounds: a change in the machine's other load hits every scenario alike.
    for _ in range(rounds):
        for scenario in scenarios:
            await _measure(url, scenario, clients, steps, duration / rounds, server_pid, tallies[scenario])
    figures = {scenario: _report(scenario, tally) for scenario, tally in tallies.items()}
    sandbox, task = figures["sandbox"], figures["task"]
    if baseline:
        only_steps = figures["steps"]
        print(
            f"task/steps-only: steps/s x{task['steps/s'] / only_steps['steps/s']:.2f}, "
            f"step p99 x{task['step p99 ms'] / only_steps['step p99 ms']:.2f}"
        )
    print(
        f"task/sandbox: steps/s x{task['steps/s'] / sandbox['steps/s']:.2f}, "
        f"episodes/s x{task['episodes/s'] / sandbox['episodes/s']:.2f}, "
        f"step p99 x{task['step p99 ms'] / sandbox['step p99 ms']:.2f}, "
        f"server CPU per step x{task['server cpu us/step'] / sandbox['server cpu us/step']:.2f}"
    )
    print(
        f"target (task episodes): >= 5,000 steps/s -> {task['steps/s']:,.0f}; "
        f"p99 <= 20 ms -> {task['step p99 ms']:.2f} ms"
    )
    print(f"server RSS: {idle / 1024:.1f} MiB idle, {_rss_kib(server_pid) / 1024:.1f} MiB at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of measured load per scenario")
    parser.add_argument("--episode-steps", type=int, default=10, help="steps before submit_answer")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds the duration is split into")
    parser.add_argument("--steps-baseline", action="store_true", help="also run the steps-only scenario")
    parser.add_argument("--profile", help="write a cProfile of the server to this file")
    args = parser.parse_args()
    if args.profile:
        PROFILE.extend(["-m", "cProfile", "-o", args.profile])
    port = _free_port()
    server = _start_server(port, args.clients)
    try:
        asyncio.run(
            _run(
                port,
                args.clients,
                args.episode_steps,
                args.duration,
                args.rounds,
                server.pid,
                args.steps_baseline,
            )
        )
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
