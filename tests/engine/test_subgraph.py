"""The form graph embedded as one node of a parent graph: the parent's state keeps the form, and the
consent guard and exactly-once commit hold inside the subgraph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AnyMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

from converso.langgraph import FormAgentState, make_graph
from converso.testing import ScriptedChatModel
from tests.engine.conftest import NOW, call, calls, counted_ids
from tests.engine.forms import CreateCompany

ROOT = Path(__file__).resolve().parents[2]


class ParentState(FormAgentState, total=False):
    visits: int


def parent_graph(form: CreateCompany, script: list[Any]) -> Any:
    model = ScriptedChatModel(responses=list(script))
    forms = make_graph([form], model, embed_in=ParentState, clock=lambda: NOW, id_factory=counted_ids())
    parent = StateGraph(ParentState)
    parent.add_node("count_visit", lambda state: {"visits": state.get("visits", 0) + 1})
    parent.add_node("forms", forms)
    parent.add_edge(START, "count_visit")
    parent.add_edge("count_visit", "forms")
    return parent.compile(checkpointer=InMemorySaver())


def say(graph: Any, text: str) -> dict[str, Any]:
    return graph.invoke(
        {"messages": [{"role": "user", "content": text}]}, {"configurable": {"thread_id": "t"}}
    )


def test_the_parent_keeps_the_form_between_messages_and_it_is_written_once_after_the_yes() -> None:
    form = CreateCompany()
    graph = parent_graph(
        form,
        [
            call("CreateCompanyStart"),
            call("FormUpdate", {"name": "Acme"}),
            "How many people?",
            call("FormUpdate", {"employees": 250}),
            "Acme, 250 people. Save it?",
            call("FormFinalize", {"confirm": True}),
            "Saved.",
            call("FormFinalize", {"confirm": True}),
            "Already saved.",
        ],
    )
    assert say(graph, "Add Acme")["form"]["values"] == {"name": "Acme"}
    second = say(graph, "250 people")
    assert second["form"]["state"] == "FILLED"
    assert form.ledger.writes == []
    third = say(graph, "yes")
    assert third["form"] is None and third["messages"][-1].text == "Saved."
    fourth = say(graph, "yes")
    assert fourth["messages"][-1].text == "Already saved."
    assert len(form.ledger.writes) == 1
    assert fourth["visits"] == 4 and fourth["turn"] == 4
    # One copy of each message: the subgraph hands back the same messages, merged by id.
    assert len(fourth["messages"]) == len({message.id for message in fourth["messages"]})


def test_update_and_finalize_in_one_message_are_refused_inside_the_subgraph() -> None:
    form = CreateCompany()
    graph = parent_graph(
        form,
        [
            call("CreateCompanyStart"),
            calls(
                ("FormUpdate", {"name": "Acme", "employees": 3}),
                ("FormFinalize", {"confirm": True}),
            ),
            "Acme, 3 people. Save it?",
        ],
    )
    state = say(graph, "Add Acme, 3 people, save it")
    assert form.ledger.writes == []
    assert state["form"]["state"] == "FILLED"
    assert "not answered the summary" in state["messages"][-2].text


def test_a_parent_state_without_the_form_keys_is_refused_up_front() -> None:
    class MessagesOnly(TypedDict):
        messages: Annotated[list[AnyMessage], add_messages]

    with pytest.raises(ValueError, match="lacks forms, form, turn, turn_message_id"):
        make_graph([CreateCompany()], ScriptedChatModel(responses=[]), embed_in=MessagesOnly)


def test_the_documented_subgraph_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "form_subgraph.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Done: the ticket is open." in result.stdout
