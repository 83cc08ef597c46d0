"""Benchmark `converso serve`: 500 concurrent WebSocket conversations, each creating a company in
three turns, against a model that sleeps 200 ms per call.

    python tests/benchmarks/bench_serve.py [--conversations 500] [--model-ms 200]

Prints the added latency per turn (turn latency minus the model's sleeps) at p50/p99, errors, and
the server's RSS. The server runs as a real `converso serve` subprocess with this module's app
factory (`--app tests.benchmarks.bench_serve:build_app`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KEY = "bench-key"
# Model calls per turn in the scripted conversation: Start + Update{} + question; Update (summary is
# returned directly); Finalize (the commit's result is returned directly).
CALLS_PER_TURN = (3, 1, 1)


def _policy_model(sleep_s: float) -> Any:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.utils.function_calling import convert_to_openai_tool

    class PolicyModel(BaseChatModel):
        """Decides like a cooperative LLM from the last message, after sleeping like a slow one."""

        @property
        def _llm_type(self) -> str:
            return "bench-policy"

        def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Any:
            return self.bind(
                tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs
            )

        def _generate(
            self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
        ) -> ChatResult:
            time.sleep(sleep_s)
            return ChatResult(generations=[ChatGeneration(message=self._decide(messages, kwargs))])

        def _decide(self, messages: list[Any], kwargs: dict[str, Any]) -> AIMessage:
            choice = kwargs.get("tool_choice")
            forced = choice.get("function", {}).get("name") if isinstance(choice, dict) else choice
            last = messages[-1]
            n = len(messages)
            if forced == "CreateCompanyUpdate":
                return _call("CreateCompanyUpdate", {}, n)
            if isinstance(last, ToolMessage):
                return AIMessage(content="Sure. What is the company called?")
            if isinstance(last, HumanMessage):
                said = last.text
                if said == "yes":
                    return _call("CreateCompanyFinalize", {"confirm": True}, n)
                if "add a company" in said:
                    return _call("CreateCompanyStart", {}, n)
                match = re.match(r"(.+), (\S+), (\d+) people", said)
                if match:
                    name, domain, employees = match.groups()
                    return _call(
                        "CreateCompanyUpdate",
                        {"name": name, "domain": domain, "employees": int(employees)},
                        n,
                    )
            return AIMessage(content="Sorry?")

    def _call(name: str, args: dict[str, Any], n: int) -> Any:
        return AIMessage(
            content="", tool_calls=[{"name": name, "args": args, "id": f"call_{n}", "type": "tool_call"}]
        )

    return PolicyModel()


def build_app(options: Any) -> Any:
    """The CRM app with the sleeping policy model (used by the server subprocess)."""
    from crm_tools.app import build_app as build_crm_app

    sleep_s = float(os.environ.get("BENCH_MODEL_MS", "200")) / 1000
    return build_crm_app(dataclasses.replace(options, model=_policy_model(sleep_s), max_concurrent_turns=600))


async def conversation(port: int, index: int, added: list[float], errors: list[str], model_s: float) -> None:
    from websockets.asyncio.client import connect

    turns = ["I'd like to add a company", f"Company {index}, c{index}.example, {index + 1} people", "yes"]
    try:
        async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=60, max_size=2**22) as ws:
            await ws.send(json.dumps({"type": "auth", "api_key": KEY}))
            json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "open"}))
            opened = json.loads(await ws.recv())
            if opened.get("type") != "opened":
                errors.append(str(opened))
                return
            for turn, text in enumerate(turns):
                started = time.perf_counter()
                await ws.send(json.dumps({"type": "message", "text": text}))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "error":
                        errors.append(f"{frame['code']}: {frame['message']}")
                    if frame["type"] == "reply" or (
                        frame["type"] == "error" and frame["code"] != "turn_failed"
                    ):
                        break
                elapsed = time.perf_counter() - started
                added.append((elapsed - CALLS_PER_TURN[turn] * model_s) * 1000)
            if not frame.get("text", "").startswith("Created company"):
                errors.append(f"conversation {index} ended with {frame!r}")
    except Exception as exc:  # a benchmark counts failures instead of stopping at the first
        errors.append(f"{type(exc).__name__}: {exc}")


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {k: int(v.split()[0]) / 1024 for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.+)$", status, re.M)}
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main_async(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO))
    from tests.conftest import free_port

    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "BENCH_MODEL_MS": str(args.model_ms)}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("converso")),
            "serve",
            "--port",
            str(port),
            "--client-key",
            KEY,
            "--api-key",
            "unused",
            "--data-dir",
            str(data),
            "--app",
            "tests.benchmarks.bench_serve:build_app",
            "--messages-per-minute",
            "1000000",
            "--max-connections",
            "2000",
            "--max-connections-per-key",
            "2000",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = await asyncio.to_thread(server.stderr.readline)
        if "chat page" not in line:
            print("server did not start:", line, server.stderr.read(), server.poll())
            return 1
        # Drain the server's log so a full pipe never blocks it.
        log_lines: list[str] = []
        drain = threading.Thread(target=lambda: log_lines.extend(server.stderr), daemon=True)
        drain.start()
        added: list[float] = []
        errors: list[str] = []
        started = time.perf_counter()
        await asyncio.gather(
            *(conversation(port, i, added, errors, args.model_ms / 1000) for i in range(args.conversations))
        )
        wall = time.perf_counter() - started
        rss, peak = rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            print("server did not stop within 60 s of SIGTERM")
    print(f"conversations: {args.conversations} x 3 turns, model sleep {args.model_ms} ms per call")
    print(f"turns completed: {len(added)}  wall time: {wall:.1f} s")
    if added:
        print(
            f"added latency per turn: p50 {statistics.median(added):.1f} ms  p99 {percentile(added, 0.99):.1f} ms  "
            f"max {max(added):.1f} ms"
        )
    print(f"errors: {len(errors)}")
    for error in errors[:10]:
        print("  ", error)
    print(f"server RSS: {rss:.0f} MB (peak {peak:.0f} MB)")
    print(f"server log lines: {len(log_lines)}" + (f"; last: {log_lines[-1].strip()}" if log_lines else ""))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--model-ms", type=float, default=200.0)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
