"""Throughput and latency of `crm-env serve` under concurrent episodes.

The server runs in its own process (the real CLI); N asyncio clients in this process each open an
episode and run a mixed list/get/create/update loop. Prints aggregate steps/s, p50/p99 latency and
the server's resident memory per session. Figures only; nothing is asserted.

    python tests/benchmarks/bench_env_server.py            # 50 clients, 20 s
    python tests/benchmarks/bench_env_server.py --duration 5 --clients 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import connect

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


async def _client(url: str, number: int, opened: asyncio.Barrier, go: asyncio.Event, until: list[float],
                  latencies: list[float]) -> int:  # fmt: skip
    rng = random.Random(number)
    async with connect(url, subprotocols=[f"crm-v1.{API_KEY}"], proxy=None, compression=None) as ws:  # type: ignore[list-item]

        async def step(action: dict) -> dict:
            await ws.send(json.dumps({"type": "step", "data": action}))
            reply = json.loads(await ws.recv())
            observation = reply["data"]["observation"]
            if not observation["success"]:
                raise RuntimeError(observation["error"])
            return observation["data"]

        await ws.send(json.dumps({"type": "reset", "data": {}}))
        await ws.recv()
        ids = []
        for i in range(10):
            body = await step({"action_type": "create_company", "company_name": f"Seed {number}-{i}"})
            ids.append(body["data"]["createCompany"]["id"])
        await opened.wait()
        await go.wait()
        steps = 0
        while time.perf_counter() < until[0]:
            kind = steps % 4
            if kind == 0:
                action = {"action_type": "list_companies", "limit": 10, "filter": "employees[gte]:0"}
            elif kind == 1:
                action = {"action_type": "get_company", "record_id": rng.choice(ids)}
            elif kind == 2:
                action = {"action_type": "create_company", "company_name": f"C{number}-{steps}",
                          "company_employees": rng.randint(1, 500)}  # fmt: skip
            else:
                action = {"action_type": "update_company", "record_id": rng.choice(ids),
                          "company_employees": rng.randint(1, 500)}  # fmt: skip
            started = time.perf_counter()
            body = await step(action)
            latencies.append(time.perf_counter() - started)
            if kind == 2:
                ids.append(body["data"]["createCompany"]["id"])
            steps += 1
        return steps


async def _run(port: int, clients: int, duration: float, server_pid: int) -> None:
    url = f"ws://127.0.0.1:{port}/ws"
    baseline = _rss_kib(server_pid)
    opened, go = asyncio.Barrier(clients + 1), asyncio.Event()
    until = [float("inf")]
    latencies: list[float] = []
    tasks = [asyncio.create_task(_client(url, n, opened, go, until, latencies)) for n in range(clients)]
    await opened.wait()
    with_sessions = _rss_kib(server_pid)
    until[0] = time.perf_counter() + duration
    started = time.perf_counter()
    go.set()
    steps = sum(await asyncio.gather(*tasks))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"clients: {clients}, duration: {elapsed:.1f} s, steps: {steps}")
    print(f"throughput: {steps / elapsed:,.0f} steps/s")
    print(f"latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1] * 1000:.2f} ms")
    print(
        f"server RSS: {baseline / 1024:.1f} MiB idle, {with_sessions / 1024:.1f} MiB with {clients} sessions "
        f"({(with_sessions - baseline) / clients:,.0f} KiB per session), "
        f"{_rss_kib(server_pid) / 1024:.1f} MiB at the end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load")
    parser.add_argument("--profile", help="write a cProfile of the server to this file")
    args = parser.parse_args()
    if args.profile:
        PROFILE.extend(["-m", "cProfile", "-o", args.profile])
    port = _free_port()
    server = _start_server(port, args.clients)
    try:
        asyncio.run(_run(port, args.clients, args.duration, server.pid))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
