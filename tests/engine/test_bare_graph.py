"""The invariants hold in the compiled graph itself: plain ``{"messages": [...]}`` input, the graph's own
checkpointer, no FormAgentExecutor. This is how LangGraph Server and a parent graph run it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from converso.langgraph import make_graph
from converso.testing import ScriptedChatModel
from tests.engine.conftest import NOW, call, calls, counted_ids
from tests.engine.forms import CreateCompany


def bare_graph(form: CreateCompany, script: list[Any]) -> tuple[Any, ScriptedChatModel]:
    model = ScriptedChatModel(responses=list(script))
    graph = make_graph(
        [form], model, checkpointer=InMemorySaver(), clock=lambda: NOW, id_factory=counted_ids()
    )
    return graph, model


def say(graph: Any, thread: str, text: str, **message: Any) -> dict[str, Any]:
    config = {"configurable": {"thread_id": thread}}
    return graph.invoke({"messages": [{"role": "user", "content": text, **message}]}, config)


def test_a_company_over_three_messages_is_written_once_and_only_after_the_yes() -> None:
    form = CreateCompany()
    graph, _ = bare_graph(
        form,
        [
            call("CreateCompanyStart"),
            call("FormUpdate", {"name": "Acme"}),
            "How many people work at Acme?",
            call("FormUpdate", {"employees": 250}),
            "Acme, 250 people. Shall I save it?",
            call("FormFinalize", {"confirm": True}),
            "Saved.",
        ],
    )
    first = say(graph, "t", "Add Acme please")
    assert first["form"] == {"name": "CreateCompany", "state": "ACTIVE", "values": {"name": "Acme"},
                             "missing": ["employees"]}  # fmt: skip
    assert first["turn"] == 1
    second = say(graph, "t", "250 people")
    assert second["form"]["state"] == "FILLED"
    assert form.ledger.writes == []
    third = say(graph, "t", "yes")
    assert third["messages"][-1].text == "Saved."
    assert third["form"] is None
    assert third["turn"] == 3
    assert form.ledger.writes == [{"name": "Acme", "employees": 250, "domain": None, "ideal_customer": None}]


def test_update_and_finalize_in_one_message_before_the_user_saw_the_summary_is_refused() -> None:
    form = CreateCompany()
    graph, model = bare_graph(
        form,
        [
            call("CreateCompanyStart"),
            calls(
                ("FormUpdate", {"name": "Acme", "employees": 250}),
                ("FormFinalize", {"confirm": True}),
            ),
            "Acme, 250 people. Shall I save it?",
        ],
    )
    state = say(graph, "t", "Add Acme, 250 people, and save it without asking")
    assert form.ledger.writes == []
    assert "Not saved: the user has not answered the summary yet" in model.requests[2].last_tool_result
    assert state["form"]["state"] == "FILLED"


def test_a_second_yes_writes_nothing() -> None:
    form = CreateCompany()
    graph, _ = bare_graph(
        form,
        [
            call("CreateCompanyStart"),
            call("FormUpdate", {"name": "Acme", "employees": 250}),
            "Acme, 250 people. Shall I save it?",
            call("FormFinalize", {"confirm": True}),
            "Saved.",
            call("FormFinalize", {"confirm": True}),
            "It is already saved.",
        ],
    )
    say(graph, "t", "Add Acme, 250 people")
    say(graph, "t", "yes")
    say(graph, "t", "yes")
    assert len(form.ledger.writes) == 1


def test_a_run_that_repeats_the_summary_turns_message_opens_no_new_turn() -> None:
    # A client retrying the message it sent (same id) is not the user answering the summary.
    form = CreateCompany()
    graph, model = bare_graph(
        form,
        [
            call("CreateCompanyStart"),
            call("FormUpdate", {"name": "Acme", "employees": 250}),
            "Acme, 250 people. Shall I save it?",
            call("FormFinalize", {"confirm": True}),
            "I need your answer first.",
        ],
    )
    say(graph, "t", "Add Acme, 250 people", id="m1")
    state = say(graph, "t", "Add Acme, 250 people", id="m1")
    assert state["turn"] == 1
    assert form.ledger.writes == []
    assert "Not saved" in model.requests[4].last_tool_result


def test_each_run_starts_with_fresh_per_run_fields() -> None:
    graph, model = bare_graph(CreateCompany(), [call("Nope"), "Sorry, that failed.", "Hello."])
    first = say(graph, "t", "Do something")
    assert first["error_rounds"] == 1
    say(graph, "t", "Hi")
    assert "Your previous tool call failed" in model.requests[1].messages[-1].text
    # The failure belonged to the first run: the second one's prompt does not carry it.
    assert "Your previous tool call failed" not in model.requests[2].messages[-1].text


def test_the_bare_graph_gives_up_on_a_tool_past_its_timeout_and_the_run_goes_on() -> None:
    release = threading.Event()

    @tool
    def slow_lookup(name: str) -> str:
        """Look a company up in a slow directory."""
        release.wait(6)
        return f"{name}: found"

    model = ScriptedChatModel(responses=[call("slow_lookup", {"name": "Acme"}), "The directory is slow."])
    graph = make_graph([slow_lookup], model, checkpointer=InMemorySaver(), tool_timeout=0.5)
    try:
        state = say(graph, "t", "look up Acme")
        # The run ended while the tool was still blocked: the deadline ended the wait.
        assert not release.is_set()
    finally:
        release.set()
    assert state["messages"][-1].text == "The directory is slow."
    timed_out = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert timed_out[-1].status == "error"
    assert timed_out[-1].text.startswith("slow_lookup did not finish within the tool timeout of 0.5 s")


def test_a_bug_in_a_tool_of_the_bare_graph_raises_when_strict() -> None:
    @tool
    def broken_lookup(name: str) -> str:
        """Look a company up."""
        return {}[name]

    model = ScriptedChatModel(responses=[call("broken_lookup", {"name": "Acme"}), "never reached"])
    graph = make_graph([broken_lookup], model, checkpointer=InMemorySaver(), strict=True)
    with pytest.raises(KeyError):
        say(graph, "t", "look up Acme")


def test_a_turn_opens_with_its_form_in_the_updates_stream() -> None:
    # A client of the "updates" stream (the executor's reply) learns the form of a turn that calls no
    # tool from the agent node's first update, without reading the state back.
    graph, _ = bare_graph(
        CreateCompany(),
        [call("CreateCompanyStart"), call("FormUpdate", {"name": "Acme"}), "How many people?", "Pardon?"],
    )
    say(graph, "t", "Add Acme please")
    config = {"configurable": {"thread_id": "t"}}
    updates = list(
        graph.stream({"messages": [{"role": "user", "content": "hm"}]}, config, stream_mode="updates")
    )
    assert [list(update) for update in updates] == [["agent"]]
    assert updates[0]["agent"]["form"] == {"name": "CreateCompany", "state": "ACTIVE",
                                           "values": {"name": "Acme"}, "missing": ["employees"]}  # fmt: skip
    assert updates[0]["agent"]["messages"][-1].text == "Pardon?"
