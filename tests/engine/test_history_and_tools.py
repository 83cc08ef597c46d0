"""The history window and the tools offered in every form state."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from converso import FormReset, TurnContext, offered_tools
from converso.form_agent import history_window, run_tool_call
from tests.engine.conftest import NOW
from tests.engine.forms import CreateCompany, CreateEmployee


@tool
def search(query: str) -> str:
    """Search."""
    return query


def conversation() -> list:
    return [
        HumanMessage("a"),
        AIMessage(
            "", tool_calls=[{"name": "x", "args": {}, "id": "1"}, {"name": "x", "args": {}, "id": "2"}]
        ),
        ToolMessage("r1", tool_call_id="1"),
        ToolMessage("r2", tool_call_id="2"),
        AIMessage("done"),
    ]


def test_the_window_keeps_the_last_messages() -> None:
    assert [m.text for m in history_window(conversation(), 1)] == ["done"]


def test_the_window_never_opens_on_a_tool_result() -> None:
    window = history_window(conversation(), 2)
    assert isinstance(window[0], AIMessage)
    assert [type(m).__name__ for m in window] == ["AIMessage", "ToolMessage", "ToolMessage", "AIMessage"]


def test_a_window_larger_than_the_history_is_the_history() -> None:
    assert len(history_window(conversation(), 50)) == 5


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        history_window(conversation(), 0)


def turn() -> TurnContext:
    return TurnContext(number=1, now=NOW, new_id=lambda: "f1")


def names(tools) -> list[str]:
    return [t.name for t in tools]


def test_the_offered_tools_are_the_same_in_every_state() -> None:
    tools = [CreateCompany(), CreateEmployee(), search, FormReset()]
    expected = [
        "CreateCompanyStart",
        "CreateEmployeeStart",
        "search",
        "FormUpdate",
        "FormFinalize",
        "FormReset",
    ]
    assert names(offered_tools(tools)) == expected
    started = run_tool_call(tools, [], "CreateCompanyStart", {}, turn()).forms
    filled = run_tool_call(tools, started, "FormUpdate", {"name": "Acme", "employees": 3}, turn()).forms
    assert [form["state"] for form in filled] == ["FILLED"]
    # Nothing about the offer depends on the stack: the definitions are byte-identical objects.
    assert [id(t) for t in offered_tools(tools)] == [id(t) for t in offered_tools(tools)]


def test_calls_that_do_not_fit_the_state_are_refused_with_what_to_do() -> None:
    tools = [CreateCompany(), FormReset()]
    for name in ("FormUpdate", "FormFinalize"):
        outcome = run_tool_call(tools, [], name, {"confirm": True}, turn())
        assert outcome.is_error and "No form is active" in outcome.message and "Start" in outcome.message
    assert run_tool_call(tools, [], "FormReset", {}, turn()).is_error
    started = run_tool_call(tools, [], "CreateCompanyStart", {}, turn()).forms
    outcome = run_tool_call(tools, started, "FormFinalize", {"confirm": True}, turn())
    assert outcome.is_error and outcome.forms == started
    assert outcome.message == "CreateCompany is not filled yet, so it cannot be saved: ask the user for name."
    again = run_tool_call(tools, started, "CreateCompanyStart", {}, turn())
    assert again.is_error and "already open" in again.message


def test_the_window_moves_in_steps_of_half_its_size() -> None:
    history = [HumanMessage(str(n)) for n in range(25)]
    starts = [history_window(history[:length], 10)[0].text for length in range(10, 26)]
    # 10 messages: all of them; then the start jumps by 5 each time it would fall out of the window.
    assert starts == ["0"] + ["5"] * 5 + ["10"] * 5 + ["15"] * 5
    assert all(5 < len(history_window(history[:n], 10)) <= 10 for n in range(11, 26))


def test_dispatch_runs_a_form_call_against_the_stack() -> None:
    tools = [CreateCompany(), FormReset()]
    outcome = run_tool_call(tools, [], "CreateCompanyStart", {}, turn())
    outcome = run_tool_call(tools, outcome.forms, "FormUpdate", {"name": "Acme"}, turn())
    assert outcome.forms[-1]["values"] == {"name": "Acme"}
    outcome = run_tool_call(tools, outcome.forms, "FormReset", {}, turn())
    assert outcome.forms == []


def test_dispatch_refuses_arguments_that_are_not_an_object() -> None:
    outcome = run_tool_call([search], [], "search", ["acme"], turn())
    assert outcome.is_error
    assert outcome.message == "The arguments of search must be a JSON object."
