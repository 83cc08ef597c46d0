"""A whole form filled through the real ChatOpenAI, talking HTTP to the scripted OpenAI-compatible server.

The server stands in only for the LLM's choices; ChatOpenAI, the openai client, the engine and the form
are the real ones, so tool schemas, forced tool choice, tool results and streaming all cross the wire.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from converso.form_agent import (
    FormAgentExecutor,
    FormContext,
    FormTool,
    ModelFactory,
    Reply,
    ReplyEvent,
    TokenEvent,
)
from converso.testing.openai_server import (
    ScriptedOpenAIServer,
    ScriptItem,
    call,
    cut_stream_after,
    status,
    text,
    tool_calls,
)

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
ASK_EMPLOYEES = "How many people work at Acme?"
SUMMARY = "Acme, acme.com, 250 employees. Shall I create it?"
DONE = "Done: Acme is in the CRM."


class CompanyFields(BaseModel):
    name: str = Field(description="The company's name")
    employees: int = Field(ge=0, description="How many people work there")
    domain: str | None = Field(default=None, description="Web domain, like acme.com")


class CreateCompany(FormTool):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str = "CreateCompany"
    description: str = "Create a company in the CRM"
    args_schema: type[BaseModel] = CompanyFields
    written: list[tuple[str, dict[str, Any]]] = Field(default_factory=list, exclude=True)

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        self.written.append((context.form_id, fields))
        return f"company {fields['name']} created"


def turn_1() -> list[ScriptItem]:
    return [
        tool_calls(call("CreateCompanyStart", {})),
        tool_calls(call("FormUpdate", {"name": "Acme"})),
        text(ASK_EMPLOYEES),
    ]


def turn_2() -> list[ScriptItem]:
    return [tool_calls(call("FormUpdate", {"employees": 250, "domain": "acme.com"})), text(SUMMARY)]


def turn_3() -> list[ScriptItem]:
    return [tool_calls(call("FormFinalize", {"confirm": True})), text(DONE)]


@pytest.fixture
def form() -> CreateCompany:
    return CreateCompany()


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(stream_chunk_chars=6) as server:
        yield server


@pytest.fixture
def executor(server: ScriptedOpenAIServer, form: CreateCompany) -> Iterator[FormAgentExecutor]:
    ids = (f"form-{n}" for n in itertools.count(1))
    # Retries wait for the server's retry-after (1 ms), so fault tests stay fast.
    models = ModelFactory("scripted", base_url=server.base_url, api_key="test", max_retries=2, timeout=5)
    with FormAgentExecutor(
        tools=[form], model=models, clock=lambda: NOW, id_factory=lambda: next(ids)
    ) as agent:
        yield agent


async def stream_turn(executor: FormAgentExecutor, thread_id: str, message: str) -> tuple[str, Reply]:
    tokens: list[str] = []
    reply: Reply | None = None
    async for event in executor.astream(thread_id, message):
        if isinstance(event, TokenEvent):
            tokens.append(event.text)
        elif isinstance(event, ReplyEvent):
            reply = event.reply
    assert reply is not None
    return "".join(tokens), reply


def test_form_is_filled_and_committed_once_through_chatopenai(
    server: ScriptedOpenAIServer, executor: FormAgentExecutor, form: CreateCompany
) -> None:
    server.extend([*turn_1(), *turn_2(), *turn_3()])

    first = executor.send("t1", "Please add a company called Acme")
    assert first.text == ASK_EMPLOYEES
    assert first.form is not None
    assert (first.form["state"], first.form["values"]) == ("ACTIVE", {"name": "Acme"})

    second = executor.send("t1", "250 people, acme.com")
    assert second.text == SUMMARY
    assert second.form is not None and second.form["state"] == "FILLED"

    third = executor.send("t1", "yes")
    assert third.text == DONE
    assert third.form is None
    assert form.written == [("form-1", {"name": "Acme", "employees": 250, "domain": "acme.com"})]
    assert server.unconsumed == []


def test_requests_carry_the_form_tools_the_forced_update_and_the_tool_results(
    server: ScriptedOpenAIServer, executor: FormAgentExecutor
) -> None:
    server.extend(turn_1())
    executor.send("t1", "Please add a company called Acme")
    start, update, answer = server.requests

    assert "CreateCompanyStart" in start.tool_names
    assert start.tool_choice in (None, "auto")
    assert update.tool_choice == {"type": "function", "function": {"name": "FormUpdate"}}
    # The same tool definitions on every call (a cacheable prefix); the form's fields are in the note.
    assert update.tools == start.tools
    note = update.messages[-1]
    assert note["role"] == "user" and note["content"].startswith("[Form note]")
    assert all(f'"{field}"' in note["content"] for field in ("name", "employees", "domain"))
    tool_results = [m for m in answer.messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_results] == ["call_1_0", "call_2_0"]
    assert not any(r.stream for r in server.requests)


async def test_form_is_filled_through_streamed_completions(
    server: ScriptedOpenAIServer, executor: FormAgentExecutor, form: CreateCompany
) -> None:
    server.extend([*turn_1(), *turn_2(), *turn_3()])

    tokens, first = await stream_turn(executor, "t1", "Please add a company called Acme")
    assert tokens == first.text == ASK_EMPLOYEES
    assert first.form is not None and first.form["values"] == {"name": "Acme"}

    tokens, second = await stream_turn(executor, "t1", "250 people, acme.com")
    assert tokens == second.text == SUMMARY
    assert second.form is not None and second.form["state"] == "FILLED"

    tokens, third = await stream_turn(executor, "t1", "yes")
    assert tokens == third.text == DONE
    assert form.written == [("form-1", {"name": "Acme", "employees": 250, "domain": "acme.com"})]
    assert all(r.stream for r in server.requests), "token streaming should use stream=true completions"
    assert server.unconsumed == []


def test_rate_limits_and_server_errors_mid_form_are_retried_by_the_client(
    server: ScriptedOpenAIServer, executor: FormAgentExecutor, form: CreateCompany
) -> None:
    retry_now = 0.001
    server.extend(
        [
            status(429, retry_after=retry_now),
            *turn_1(),
            status(500, retry_after=retry_now),
            *turn_2(),
            *turn_3()[:1],
            status(503, retry_after=retry_now),
            *turn_3()[1:],
        ]
    )
    assert executor.send("t1", "Please add a company called Acme").text == ASK_EMPLOYEES
    assert executor.send("t1", "250 people, acme.com").text == SUMMARY
    assert executor.send("t1", "yes").text == DONE
    assert len(form.written) == 1
    assert server.unconsumed == []


async def test_stream_cut_mid_tool_call_ends_the_turn_clearly_and_keeps_the_form(
    server: ScriptedOpenAIServer, executor: FormAgentExecutor, form: CreateCompany
) -> None:
    server.extend(turn_1())
    _, first = await stream_turn(executor, "t1", "Please add a company called Acme")
    server.extend([cut_stream_after(3), *turn_2()])

    _, failed = await stream_turn(executor, "t1", "250 people, acme.com")
    assert failed.error is not None
    assert "try again" in failed.text
    assert executor.get_form("t1") == first.form
    assert form.written == []

    # The same message again: the scripted answer the cut stream was carrying now arrives whole.
    _, retried = await stream_turn(executor, "t1", "250 people, acme.com")
    assert retried.text == SUMMARY
    assert retried.form is not None and retried.form["state"] == "FILLED"
