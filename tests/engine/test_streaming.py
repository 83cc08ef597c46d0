"""The async API: asend and the astream event stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from converso import ErrorEvent, FormAgentExecutor, FormEvent, ReplyEvent, TokenEvent, ToolEvent
from converso.testing import ScriptedChatModel
from tests.engine.conftest import call
from tests.engine.forms import CreateCompany
from tests.engine.test_executor import company_script


async def collect(executor, thread_id: str, text: str) -> list:
    return [event async for event in executor.astream(thread_id, text)]


async def test_asend_runs_a_turn(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], company_script()[:3])
    reply = await executor.asend("t", "Add Acme")
    assert reply.text == "How many people work at Acme?"
    assert executor.get_form("t")["values"] == {"name": "Acme"}


async def test_astream_yields_tool_form_token_and_reply_events_in_order(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], company_script()[:3])
    events = await collect(executor, "t", "Add Acme")
    assert [e.type for e in events] == ["tool", "form", "tool", "form", *["token"] * 6, "reply"]
    start, update = events[0], events[2]
    assert isinstance(start, ToolEvent) and start.name == "CreateCompanyStart" and not start.is_error
    assert update.args == {"name": "Acme"}
    assert isinstance(events[3], FormEvent) and events[3].form["values"] == {"name": "Acme"}
    tokens = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert isinstance(events[-1], ReplyEvent)
    assert tokens == events[-1].reply.text == "How many people work at Acme?"


async def test_astream_reports_a_malformed_call_as_an_error_tool_event(make_executor) -> None:
    script = [{"tool_calls": [{"name": "CreateCompanyStart", "args": "name=Acme"}]}, "Let me try again."]
    executor, _ = make_executor([CreateCompany()], script)
    events = await collect(executor, "t", "Add a company")
    tool = events[0]
    assert isinstance(tool, ToolEvent)
    assert tool.is_error
    assert tool.args == "name=Acme"
    assert "not valid JSON" in tool.result


async def test_astream_reports_a_failing_model_as_an_error_then_the_reply(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], [RuntimeError("provider down")])
    events = await collect(executor, "t", "hello")
    assert [e.type for e in events] == ["error", "reply"]
    assert isinstance(events[0], ErrorEvent)
    assert events[1].reply.error == events[0].message


async def test_turns_of_one_thread_are_serialized(make_executor) -> None:
    script = ["one", "two", "three", "four"]
    executor, model = make_executor([CreateCompany()], script)
    await asyncio.gather(*(executor.asend("t", f"m{i}") for i in range(4)))
    history = [m.text for m in executor.messages("t")]
    assert len(history) == 8
    # Every request saw a complete history: each human message is answered before the next arrives.
    for request in model.requests:
        kinds = [type(m).__name__ for m in request.messages[1:-1]]
        assert kinds == ["HumanMessage", "AIMessage"] * (len(kinds) // 2) + ["HumanMessage"]


def test_on_token_receives_the_answer_as_it_streams_and_the_stream_holds_no_tokens(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], company_script()[:3])
    seen: list = []
    for event in executor.stream("t", "Add Acme", tokens=False, on_token=seen.append):
        seen.append(event)
    # on_token runs on the executor's loop, the stream is read on this thread: the tool and form events
    # may be taken before or after the tokens arrive, but the reply comes after them all.
    assert [e.type for e in seen if not isinstance(e, TokenEvent)] == [
        "tool",
        "form",
        "tool",
        "form",
        "reply",
    ]
    assert [e.type for e in seen].count("token") == 6 and seen[-1].type == "reply"
    assert "".join(e.text for e in seen if isinstance(e, TokenEvent)) == seen[-1].reply.text


def test_tokens_in_the_stream_and_on_token_together_are_refused(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], company_script()[:3])
    with pytest.raises(ValueError, match="on_token"):
        list(executor.stream("t", "Add Acme", tokens=True, on_token=print))


@tool
def summarize_with_a_model(topic: str, config: RunnableConfig) -> str:
    """Summarize a topic (asks a model of its own)."""
    inner = ScriptedChatModel(responses=["inner model words"])
    return inner.invoke(f"summarize {topic}", config).text


async def test_a_model_called_inside_a_tool_does_not_speak_for_the_agent(make_executor) -> None:
    script = [call("summarize_with_a_model", {"topic": "Acme"}), "Acme makes anvils."]
    executor, _ = make_executor([CreateCompany(), summarize_with_a_model], script)
    events = await collect(executor, "t", "Tell me about Acme")
    tool_events = [e for e in events if isinstance(e, ToolEvent)]
    assert [e.result for e in tool_events] == ["inner model words"]
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == "Acme makes anvils."


async def test_tokens_stream_beside_the_executors_own_callbacks(make_executor) -> None:
    class ModelTokens(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tokens: list[str] = []

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            self.tokens.append(token)

    handler = ModelTokens()
    executor, _ = make_executor([CreateCompany()], company_script()[:3], callbacks=[handler])
    events = await collect(executor, "t", "Add Acme")
    streamed = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert streamed == events[-1].reply.text == "How many people work at Acme?"
    # The executor's handler sees the same tokens (and the text of the tool-calling rounds, if any).
    assert streamed in "".join(handler.tokens)


class AnswersInOnePiece(BaseChatModel):
    """A model with no streaming method: LangChain calls it whole, however it is called."""

    @property
    def _llm_type(self) -> str:
        return "one-piece"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage("Hello in one piece."))])


async def test_a_model_that_cannot_stream_answers_in_one_piece_without_tokens() -> None:
    executor = FormAgentExecutor([CreateCompany()], AnswersInOnePiece())
    try:
        events = await collect(executor, "t", "hello")
    finally:
        executor.close()
    assert [e.type for e in events] == ["reply"]
    assert events[0].reply.text == "Hello in one piece."


async def test_a_model_with_a_cache_streams_its_tokens_and_fills_its_cache(make_executor) -> None:
    # LangChain consults a model's cache on invoke only: the agent's call keeps to it when tokens stream.
    cache = InMemoryCache()
    executor, model = make_executor([CreateCompany()], ["Hello there."])
    model.cache = cache
    events = await collect(executor, "t", "hello")
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == "Hello there."
    assert len(cache._cache) == 1


def test_a_token_callback_that_raises_is_logged_and_the_turn_still_replies(make_executor, caplog) -> None:
    executor, _ = make_executor([CreateCompany()], ["Hello there."])

    def broken(event: TokenEvent) -> None:
        raise RuntimeError("the caller's bug")

    with caplog.at_level("ERROR", logger="converso"):
        events = list(executor.stream("t", "hello", tokens=False, on_token=broken))
    assert events[-1].reply.text == "Hello there." and events[-1].reply.error is None
    [record] = [r for r in caplog.records if "token callback" in r.getMessage()]
    assert record.exc_info is not None and "the caller's bug" in str(record.exc_info[1])
