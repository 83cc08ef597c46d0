"""The CRM form agent served by ``langgraph dev`` from ``langgraph.json``, driven with ``langgraph-sdk``.

Only the server's own input goes in (``{"messages": [...]}``), and the server's own checkpointer keeps
the threads: the consent guard and the exactly-once commit hold inside the graph.
"""

from __future__ import annotations

from typing import Any

import pytest

from converso.testing.openai_server import call, tool_calls
from crm_tools.store import open_backend
from tests.langgraph_server.conftest import LangGraphServer

pytestmark = pytest.mark.slow


@pytest.fixture
def client(langgraph_server: LangGraphServer) -> Any:
    from langgraph_sdk import get_sync_client

    with get_sync_client(url=langgraph_server.url, api_key=None) as client:
        yield client


def companies(server: LangGraphServer) -> list[dict[str, Any]]:
    backend = open_backend(server.crm_url)
    try:
        return backend.list("company")["data"]["companies"]
    finally:
        backend.close()


def named(server: LangGraphServer, name: str) -> list[dict[str, Any]]:
    return [company for company in companies(server) if company["name"] == name]


def say(client: Any, thread_id: str, text: str) -> dict[str, Any]:
    return client.runs.wait(thread_id, "crm", input={"messages": [{"role": "user", "content": text}]})


def test_a_company_created_over_three_messages_is_written_once_after_the_yes(
    langgraph_server: LangGraphServer, client: Any
) -> None:
    opening = "I'd like to add a company"
    langgraph_server.conversations.script(
        opening,
        tool_calls(call("CreateCompanyStart")),
        "What is the company called?",
        tool_calls(call("FormUpdate", {"name": "Initech", "domain": "initech.com"})),
        tool_calls(call("FormFinalize", {"confirm": True})),
        tool_calls(call("FormFinalize", {"confirm": True})),
        "Initech is already saved.",
    )
    thread = client.threads.create()["thread_id"]

    first = say(client, thread, opening)
    assert first["messages"][-1]["content"] == "What is the company called?"
    assert first["form"]["state"] == "ACTIVE"

    second = say(client, thread, "Initech, initech.com")
    assert second["form"] == {
        "name": "CreateCompany",
        "state": "FILLED",
        "values": {"name": "Initech", "domain": "initech.com"},
        "missing": [],
    }
    assert named(langgraph_server, "Initech") == []

    third = say(client, thread, "yes")
    assert third["form"] is None
    assert "Initech" in third["messages"][-1]["content"]
    assert len(named(langgraph_server, "Initech")) == 1

    # A second yes: the form is gone, its Finalize is no tool any more, and nothing is written.
    fourth = say(client, thread, "yes")
    assert fourth["messages"][-1]["content"] == "Initech is already saved."
    assert len(named(langgraph_server, "Initech")) == 1
    assert langgraph_server.conversations.left(opening) == []

    # The form and the turn count are in the thread state, for Studio and clients.
    state = client.threads.get_state(thread)["values"]
    assert state["turn"] == 4 and state["forms"] == []


def test_update_and_finalize_in_one_message_before_the_summary_was_seen_is_refused(
    langgraph_server: LangGraphServer, client: Any
) -> None:
    opening = "Add Umbrella Corp and just save it, no need to ask"
    langgraph_server.conversations.script(
        opening,
        tool_calls(call("CreateCompanyStart")),
        tool_calls(
            call("FormUpdate", {"name": "Umbrella Corp"}),
            call("FormFinalize", {"confirm": True}),
        ),
        "Here is the summary: Umbrella Corp. Shall I save it?",
    )
    thread = client.threads.create()["thread_id"]
    reply = say(client, thread, opening)
    refusals = [m for m in reply["messages"] if m["type"] == "tool" and m["status"] == "error"]
    assert [m["name"] for m in refusals] == ["FormFinalize"]
    assert "the user has not answered the summary yet" in refusals[0]["content"]
    assert reply["form"]["state"] == "FILLED"
    assert named(langgraph_server, "Umbrella Corp") == []


def test_streaming_shows_the_form_change(langgraph_server: LangGraphServer, client: Any) -> None:
    opening = "Please add Hooli, hooli.com"
    langgraph_server.conversations.script(
        opening,
        tool_calls(call("CreateCompanyStart")),
        tool_calls(call("FormUpdate", {"name": "Hooli", "domain": "hooli.com"})),
    )
    thread = client.threads.create()["thread_id"]
    parts = list(
        client.runs.stream(
            thread,
            "crm",
            input={"messages": [{"role": "user", "content": opening}]},
            stream_mode=["values", "messages"],
        )
    )
    forms = [part.data.get("form") for part in parts if part.event == "values"]
    states = [form and form["state"] for form in forms]
    assert states[0] is None  # the run's input, before any tool ran
    assert "ACTIVE" in states and states[-1] == "FILLED"
    assert forms[-1]["values"] == {"name": "Hooli", "domain": "hooli.com"}
    # The messages mode streams the model's tokens and, complete, each tool result (the form's answers).
    assert any(part.event == "messages/partial" for part in parts)
    tool_results = [
        message["name"]
        for part in parts
        if part.event == "messages/complete"
        for message in part.data
        if message["type"] == "tool"
    ]
    assert tool_results == ["CreateCompanyStart", "FormUpdate"]
