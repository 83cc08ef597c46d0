"""ScriptedChatModel: a real chat model that answers from a script and records what it was asked."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from converso.testing import ScriptedChatModel, ScriptedRequest, ScriptError, ScriptExhaustedError


@tool
def search(query: str) -> str:
    """Search the CRM."""
    return query


def test_answers_text_items_in_order() -> None:
    model = ScriptedChatModel(responses=["one", AIMessage(content="two")])
    assert model.invoke("a").text == "one"
    assert model.invoke("b").text == "two"
    assert model.remaining == 0


def test_tool_call_items_become_tool_calls_with_ids() -> None:
    model = ScriptedChatModel(responses=[{"tool_calls": [{"name": "search", "args": {"query": "acme"}}]}])
    message = model.invoke("find acme")
    assert message.tool_calls == [
        {"name": "search", "args": {"query": "acme"}, "id": "call_0_0", "type": "tool_call"}
    ]


def test_raw_string_arguments_that_are_not_a_json_object_become_invalid_tool_calls() -> None:
    model = ScriptedChatModel(
        responses=[
            {
                "tool_calls": [
                    {"name": "search", "args": '{"query": '},
                    {"name": "search", "args": '{"query": "x"}'},
                ]
            }
        ]
    )
    message = model.invoke("x")
    assert [bad["args"] for bad in message.invalid_tool_calls] == ['{"query": ']
    assert message.tool_calls[0]["args"] == {"query": "x"}


def test_records_messages_tools_and_forced_tool_choice() -> None:
    model = ScriptedChatModel(responses=["ok"])
    bound = model.bind_tools([search], tool_choice="search")
    bound.invoke([HumanMessage("hi"), AIMessage("hello"), HumanMessage("find")])
    request = model.requests[0]
    assert request.tools == ["search"]
    assert request.tool_choice == "search"
    assert [m.text for m in request.messages] == ["hi", "hello", "find"]
    assert request.tool_schemas[0]["function"]["parameters"]["required"] == ["query"]


def test_running_out_of_script_raises_its_own_error() -> None:
    model = ScriptedChatModel(responses=["only"])
    model.invoke("a")
    with pytest.raises(ScriptExhaustedError, match="the script has 1 answers but the engine made call 2"):
        model.invoke("b")


def test_an_exception_item_is_raised_like_a_failing_provider() -> None:
    model = ScriptedChatModel(responses=[TimeoutError("provider timed out")])
    with pytest.raises(TimeoutError, match="provider timed out"):
        model.invoke("a")


def test_a_callable_item_sees_the_request_and_returns_the_answer() -> None:
    seen: list[ScriptedRequest] = []

    def check(request: ScriptedRequest) -> str:
        seen.append(request)
        return f"last tool result: {request.last_tool_result}"

    model = ScriptedChatModel(responses=[check])
    history = [
        HumanMessage("go"),
        AIMessage("", tool_calls=[{"name": "search", "args": {}, "id": "1"}]),
        ToolMessage("found it", tool_call_id="1"),
    ]
    assert model.invoke(history).text == "last tool result: found it"
    assert seen[0].index == 0


def test_an_unknown_item_shape_is_a_clear_error() -> None:
    model = ScriptedChatModel(responses=[{"say": "hi"}])
    with pytest.raises(ScriptError, match="accepted: an AIMessage, a str"):
        model.invoke("a")


def test_streaming_yields_word_chunks_and_tool_call_chunks() -> None:
    model = ScriptedChatModel(
        responses=[{"text": "Looking it up", "tool_calls": [{"name": "search", "args": {"query": "a"}}]}]
    )
    chunks = list(model.stream("x"))
    assert [c.text for c in chunks[:3]] == ["Looking ", "it ", "up"]
    message = chunks[0]
    for chunk in chunks[1:]:
        message += chunk
    assert message.text == "Looking it up"
    assert message.tool_calls[0]["args"] == {"query": "a"}


def test_extend_appends_answers_for_a_later_turn() -> None:
    model = ScriptedChatModel(responses=[])
    model.extend(["later"])
    assert model.invoke("a").text == "later"
