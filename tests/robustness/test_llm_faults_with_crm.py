"""A flaky LLM provider in front of the real CRM forms: every turn succeeds after the client's retries,
or ends with a clear message and the thread exactly as it was; no record is ever written twice.

The real ChatOpenAI talks HTTP to the scripted OpenAI-compatible server, which injects the faults.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from converso.form_agent import FormAgentExecutor, ModelFactory
from converso.testing.openai_server import (
    ScriptedOpenAIServer,
    call,
    cut_stream_after,
    delay,
    garbled,
    status,
    text,
    tool_calls,
)
from crm_tools.backends.sql import SqlBackend
from crm_tools.toolset import build_tools

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
RETRY_NOW = 0.001  # seconds; the server's retry-after, so the client retries at once
ATTEMPTS = 2  # one try plus one retry (max_retries=1)


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(stream_chunk_chars=5) as server:
        yield server


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[SqlBackend]:
    backend = SqlBackend(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    yield backend
    backend.close()


@pytest.fixture
def agent(server: ScriptedOpenAIServer, crm: SqlBackend, tmp_path: Path) -> Iterator[FormAgentExecutor]:
    ids = (f"form-{n}" for n in itertools.count(1))
    models = ModelFactory("scripted", base_url=server.base_url, api_key="test", max_retries=1, timeout=1.0)
    with FormAgentExecutor(
        tools=build_tools(crm),
        model=models,
        checkpointer=str(tmp_path / "threads.sqlite"),
        clock=lambda: NOW,
        id_factory=lambda: next(ids),
    ) as executor:
        yield executor


def companies(crm: SqlBackend) -> list[dict]:
    return crm.list("company")["data"]["companies"]


def people(crm: SqlBackend) -> list[dict]:
    return crm.list("person")["data"]["people"]


def fill_acme_to_summary(server: ScriptedOpenAIServer, agent: FormAgentExecutor) -> None:
    # A form that becomes FILLED answers with its own summary: no model call follows the Update.
    server.extend(
        [
            tool_calls(call("CreateCompanyStart", {})),
            tool_calls(call("FormUpdate", {"name": "Acme", "domain": "acme.com", "employees": 250})),
        ]
    )
    reply = agent.send("t", "Add Acme, acme.com, 250 people")
    assert reply.form is not None and reply.form["state"] == "FILLED", reply


def test_faults_on_every_call_are_retried_and_the_person_is_written_once(
    server: ScriptedOpenAIServer, agent: FormAgentExecutor, crm: SqlBackend
) -> None:
    server.extend(
        [
            status(429, retry_after=RETRY_NOW),
            tool_calls(call("CreatePersonStart", {})),
            status(500, retry_after=RETRY_NOW),
            tool_calls(call("FormUpdate", {"first_name": "Jane"})),
            delay(3),  # longer than the client's timeout: the client gives up on it and retries
            text("What is Jane's last name?"),
            status(502, retry_after=RETRY_NOW),
            tool_calls(call("FormUpdate", {"last_name": "Doe"})),
            status(503, retry_after=RETRY_NOW),
            tool_calls(call("FormFinalize", {"confirm": True})),
        ]
    )
    assert agent.send("t", "Add Jane").text == "What is Jane's last name?"
    summary = agent.send("t", "Doe")
    assert summary.form is not None and summary.form["state"] == "FILLED"
    done = agent.send("t", "yes")
    assert "Jane" in done.text and done.form is None
    assert [p["name"]["lastName"] for p in people(crm)] == ["Doe"]
    assert server.unconsumed == []


def test_a_provider_down_after_a_commit_rolls_the_turn_back_and_the_retry_writes_nothing_new(
    server: ScriptedOpenAIServer, agent: FormAgentExecutor, crm: SqlBackend
) -> None:
    # A company started while a person is half-filled: committing the company resumes the person,
    # and that resumption is handed to the model, which is down.
    server.extend(
        [
            tool_calls(call("CreatePersonStart", {})),
            tool_calls(call("FormUpdate", {"first_name": "Jane"})),
            text("What is Jane's last name?"),
            tool_calls(call("CreateCompanyStart", {})),
            tool_calls(call("FormUpdate", {"name": "Acme"})),
        ]
    )
    agent.send("t", "Add Jane")
    filled = agent.send("t", "First add her company, Acme")
    assert (
        filled.form is not None
        and filled.form["name"] == "CreateCompany"
        and filled.form["state"] == "FILLED"
    )
    server.extend(
        [
            tool_calls(call("FormFinalize", {"confirm": True})),
            *[status(500, retry_after=RETRY_NOW)] * ATTEMPTS,
        ]
    )

    failed = agent.send("t", "yes")

    assert failed.error is not None and "try again" in failed.text
    assert agent.get_form("t") == filled.form, "the turn's state must be as it was before the turn"
    assert len(companies(crm)) == 1, "the commit itself reached the CRM before the provider failed"

    server.extend(
        [
            tool_calls(call("FormFinalize", {"confirm": True})),
            text("Acme is in. Back to Jane: what is her last name?"),
        ]
    )
    retried = agent.send("t", "yes")

    assert retried.text == "Acme is in. Back to Jane: what is her last name?"
    assert retried.form is not None and retried.form["name"] == "CreatePerson"
    assert [c["name"] for c in companies(crm)] == ["Acme"], "the replayed commit must not write again"


def test_a_garbled_answer_ends_the_turn_with_a_clear_message_and_the_form_as_it_was(
    server: ScriptedOpenAIServer, agent: FormAgentExecutor, crm: SqlBackend
) -> None:
    fill_acme_to_summary(server, agent)
    before = agent.get_form("t")
    # The openai client does not retry a 200 whose body is not JSON: the turn ends instead.
    server.extend([garbled()])

    failed = agent.send("t", "yes")

    assert "language model failed" in failed.text
    assert agent.get_form("t") == before
    assert companies(crm) == []


async def test_a_stream_cut_mid_finalize_call_keeps_the_form_and_writes_nothing(
    server: ScriptedOpenAIServer, agent: FormAgentExecutor, crm: SqlBackend
) -> None:
    fill_acme_to_summary(server, agent)
    before = agent.get_form("t")
    server.extend([cut_stream_after(2), tool_calls(call("FormFinalize", {"confirm": True}))])

    events = [event async for event in agent.astream("t", "yes")]

    assert events[-1].reply.error is not None
    assert agent.get_form("t") == before
    assert companies(crm) == []
    done = await agent.asend("t", "yes")
    assert "Acme" in done.text and done.form is None
    assert [c["name"] for c in companies(crm)] == ["Acme"]
