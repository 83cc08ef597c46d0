"""The history window and the tools visible in each form state."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from converso import FormReset, TurnContext, filter_active_tools
from converso.form_agent import history_window, run_tool_call
from converso.form_agent.dispatch import VisibleTools
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


def test_without_a_form_only_starts_and_other_tools_are_visible() -> None:
    tools = [CreateCompany(), search, FormReset()]
    assert names(filter_active_tools(tools, [])) == ["CreateCompanyStart", "search"]


def test_an_active_form_shows_update_and_reset_next_to_the_other_forms_starts() -> None:
    tools = [CreateCompany(), CreateEmployee(), search, FormReset()]
    forms = tools[0].start([], turn()).forms
    assert names(filter_active_tools(tools, forms)) == [
        "CreateCompanyUpdate",
        "CreateEmployeeStart",
        "search",
        "FormReset",
    ]


def test_remembered_visible_tools_follow_each_change_of_the_stack() -> None:
    tools = [CreateCompany(), CreateEmployee(), search, FormReset()]
    visible = VisibleTools(tools)
    empty: list = []
    started = run_tool_call(tools, empty, "CreateCompanyStart", {}, turn()).forms
    filled = run_tool_call(
        tools, started, "CreateCompanyUpdate", {"name": "Acme", "employees": 3}, turn()
    ).forms
    nested = run_tool_call(tools, started, "CreateEmployeeStart", {}, turn()).forms
    assert [form["state"] for form in filled] == ["FILLED"]
    for forms in [empty, started, filled, nested, started, empty]:
        assert names(visible(forms)) == names(filter_active_tools(tools, forms))


def test_dispatch_runs_a_form_call_against_the_stack() -> None:
    tools = [CreateCompany(), FormReset()]
    outcome = run_tool_call(tools, [], "CreateCompanyStart", {}, turn())
    outcome = run_tool_call(tools, outcome.forms, "CreateCompanyUpdate", {"name": "Acme"}, turn())
    assert outcome.forms[-1]["values"] == {"name": "Acme"}
    outcome = run_tool_call(tools, outcome.forms, "FormReset", {}, turn())
    assert outcome.forms == []


def test_dispatch_refuses_arguments_that_are_not_an_object() -> None:
    outcome = run_tool_call([search], [], "search", ["acme"], turn())
    assert outcome.is_error
    assert outcome.message == "The arguments of search must be a JSON object."
