"""Engine overhead per turn against LangGraph's prebuilt ReAct agent, and prompt tokens per model call.

Run: python tests/benchmarks/bench_engine.py [--turns N]
Prints figures; asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from datetime import UTC, datetime
from typing import Any

import bpe_openai
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import BaseModel, Field

from converso import FormAgentExecutor, FormContext, FormTool
from converso.testing import ScriptedChatModel

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
TURNS_PER_THREAD = 5


@tool
def lookup_company(name: str) -> str:
    """Look a company up by name."""
    return f"{name}: 250 employees, acme.com"


class CompanyFields(BaseModel):
    name: str = Field(description="The company's name")
    domain: str | None = Field(default=None, description="Web domain, like acme.com")
    employees: int = Field(ge=0, description="How many people work there")


class CreateCompany(FormTool):
    name: str = "CreateCompany"
    description: str = "Create a company in the CRM"
    args_schema: type[BaseModel] = CompanyFields

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        return f"created {fields['name']} ({context.form_id})"


def lookup_turn(i: int) -> list[Any]:
    return [
        {"tool_calls": [{"name": "lookup_company", "args": {"name": f"Company {i}"}}]},
        f"Company {i} has 250.",
    ]


def overhead(turns: int) -> None:
    ours_model = ScriptedChatModel(responses=[])
    react_model = ScriptedChatModel(responses=[])
    ours = FormAgentExecutor([CreateCompany(), lookup_company], ours_model, clock=lambda: NOW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

        react = create_react_agent(react_model, [lookup_company], checkpointer=InMemorySaver())

    def run_ours(i: int) -> None:
        ours.send(f"t{i // TURNS_PER_THREAD}", f"How big is company {i}?")

    def run_react(i: int) -> None:
        config = {"configurable": {"thread_id": f"t{i // TURNS_PER_THREAD}"}}
        react.invoke({"messages": [HumanMessage(f"How big is company {i}?")]}, config)

    timings: dict[str, list[float]] = {"FormAgentExecutor": [], "create_react_agent": []}
    warmup = 20
    for i in range(turns + warmup):
        ours_model.extend(lookup_turn(i))
        react_model.extend(lookup_turn(i))
        # Alternate which runs first so drift on a shared machine hits both alike.
        order = [("FormAgentExecutor", run_ours), ("create_react_agent", run_react)]
        if i % 2:
            order.reverse()
        for name, run in order:
            started = time.perf_counter()
            run(i)
            elapsed = time.perf_counter() - started
            if i >= warmup:
                timings[name].append(elapsed)
    ours.close()
    ours_median = statistics.median(timings["FormAgentExecutor"]) * 1000
    react_median = statistics.median(timings["create_react_agent"]) * 1000
    print(f"Per-turn overhead, instant scripted model, 1 tool call + 1 answer per turn, {turns} turns each")
    print(f"  {'agent':<22}{'median ms':>10}{'p90 ms':>10}")
    for name, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        print(f"  {name:<22}{statistics.median(values) * 1000:>10.2f}{p90:>10.2f}")
    print(
        f"  ratio FormAgentExecutor / create_react_agent: {ours_median / react_median:.2f}x (target <= 1.5x)"
    )


def prompt_tokens() -> None:
    encoding = bpe_openai.get_encoding("o200k_base")
    script = [
        {"tool_calls": [{"name": "CreateCompanyStart", "args": {}}]},
        {"tool_calls": [{"name": "FormUpdate", "args": {"name": "Acme"}}]},
        "How many people work at Acme?",
        {"tool_calls": [{"name": "FormUpdate", "args": {"employees": 250, "domain": "acme.com"}}]},
        "Acme, acme.com, 250 people. Shall I create it?",
        {"tool_calls": [{"name": "FormFinalize", "args": {"confirm": True}}]},
        "Done: Acme is in the CRM.",
    ]
    model = ScriptedChatModel(responses=script)
    executor = FormAgentExecutor([CreateCompany(), lookup_company], model, clock=lambda: NOW)
    turns = ["Please add a company called Acme", "acme.com, 250 people", "yes"]
    boundaries = []
    for text in turns:
        executor.send("tokens", text)
        boundaries.append(len(model.requests))
    executor.close()

    def count_messages(messages: list[BaseMessage]) -> int:
        # Content, tool-call arguments, and the few tokens of per-message framing of the chat format.
        total = 0
        for message in messages:
            total += 4 + len(encoding.encode(message.text))
            for call in getattr(message, "tool_calls", []):
                total += len(encoding.encode(call["name"] + json.dumps(call["args"])))
        return total

    print("\nPrompt tokens per model call (o200k_base via bpe-openai), three-turn CreateCompany conversation")
    print(f"  {'call':>4} {'turn':>4}  {'system':>6} {'history':>7} {'tools':>6} {'total':>6}  offered")
    totals = []
    for request in model.requests:
        turn = next(i for i, end in enumerate(boundaries, 1) if request.index < end)
        system = count_messages(request.messages[:1])
        history = count_messages(request.messages[1:])
        tools = len(encoding.encode(json.dumps(request.tool_schemas)))
        total = system + history + tools
        totals.append(total)
        choice = f" (forced {request.tool_choice})" if request.tool_choice else ""
        print(
            f"  {request.index + 1:>4} {turn:>4}  {system:>6} {history:>7} {tools:>6} {total:>6}  "
            f"{', '.join(request.tools)}{choice}"
        )
    print(
        f"  total {sum(totals)} tokens over {len(totals)} calls, mean {statistics.mean(totals):.0f} per call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()
    overhead(args.turns)
    prompt_tokens()


if __name__ == "__main__":
    main()
