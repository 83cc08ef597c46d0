"""The scripted OpenAI-compatible server, driven by the real ChatOpenAI over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from converso.testing.openai_server import (
    RecordedRequest,
    ScriptedOpenAIServer,
    call,
    cut_stream_after,
    delay,
    garbled,
    status,
    text,
    tool_calls,
)
from tests.conftest import free_port

# retry-after below one millisecond rounds to 0, which the openai client ignores; 1 ms retries at once.
NOW = 0.001
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SearchCompanies(BaseModel):
    """Search the CRM for companies by name."""

    query: str = Field(description="part of the company name")
    limit: int = Field(default=5, description="how many results at most")


def chat(
    server: ScriptedOpenAIServer, *, max_retries: int = 0, timeout: float = 5.0, **kwargs: Any
) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url,
        api_key="test",
        model="scripted",
        max_retries=max_retries,
        timeout=timeout,
        **kwargs,
    )


def collect(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


# -- answers ---------------------------------------------------------------------------------------


def test_text_answer_reaches_the_client() -> None:
    with ScriptedOpenAIServer([text("Hello, how can I help?")]) as server:
        reply = chat(server).invoke("hi")
    assert reply.content == "Hello, how can I help?"
    assert reply.tool_calls == []


def test_plain_string_in_the_script_is_a_text_answer() -> None:
    with ScriptedOpenAIServer(["plain"]) as server:
        assert chat(server).invoke("hi").content == "plain"


def test_tool_call_answer_is_parsed_by_bind_tools() -> None:
    with ScriptedOpenAIServer([tool_calls(call("SearchCompanies", {"query": "acme", "limit": 2}))]) as server:
        reply = chat(server).bind_tools([SearchCompanies]).invoke("find acme")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("SearchCompanies", {"query": "acme", "limit": 2})
    ]
    assert reply.tool_calls[0]["id"]


def test_streamed_tool_call_is_reassembled_from_argument_pieces() -> None:
    args = {"query": "a company with a rather long name", "limit": 3}
    with ScriptedOpenAIServer([tool_calls(call("SearchCompanies", args))], stream_chunk_chars=5) as server:
        chunks = list(chat(server).bind_tools([SearchCompanies]).stream("find it"))
    pieces = [c for chunk in chunks for c in chunk.tool_call_chunks]
    assert len(pieces) > 5, "the arguments should arrive in several deltas"
    assert [(c["name"], c["args"]) for c in collect(chunks).tool_calls] == [("SearchCompanies", args)]


def test_several_tool_calls_in_one_streamed_answer_keep_their_index() -> None:
    script = [
        tool_calls(call("SearchCompanies", {"query": "acme"}), call("SearchCompanies", {"query": "globex"}))
    ]
    with ScriptedOpenAIServer(script) as server:
        total = collect(list(chat(server).bind_tools([SearchCompanies]).stream("find both")))
    assert [c["args"]["query"] for c in total.tool_calls] == ["acme", "globex"]
    assert len({c["id"] for c in total.tool_calls}) == 2


def test_streamed_text_arrives_in_several_tokens() -> None:
    with ScriptedOpenAIServer(["one two three four five six"], stream_chunk_chars=4) as server:
        chunks = list(chat(server).stream("count"))
    assert len([c for c in chunks if c.content]) > 3
    assert collect(chunks).content == "one two three four five six"


def test_stream_includes_usage_when_the_client_asks_for_it() -> None:
    with ScriptedOpenAIServer(["counted"]) as server:
        total = collect(list(chat(server, stream_usage=True).stream("hi")))
        assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert total.usage_metadata is not None
    assert total.usage_metadata["total_tokens"] > 0


def test_raw_argument_string_reaches_the_client_as_an_invalid_tool_call() -> None:
    with ScriptedOpenAIServer([tool_calls(call("SearchCompanies", '{"query": "acme"'))]) as server:
        reply = chat(server).bind_tools([SearchCompanies]).invoke("find acme")
    assert reply.tool_calls == []
    assert reply.invalid_tool_calls[0]["args"] == '{"query": "acme"'


def test_slow_answer_still_succeeds_within_the_client_timeout() -> None:
    with ScriptedOpenAIServer([text("late but fine", delay=0.2)]) as server:
        started = time.monotonic()
        assert chat(server, timeout=5).invoke("hi").content == "late but fine"
    assert time.monotonic() - started >= 0.2


def test_handler_answers_once_the_script_is_used_up() -> None:
    def echo(request: RecordedRequest) -> str:
        return f"you said {request.messages[-1]['content']}"

    with ScriptedOpenAIServer(["scripted first"], handler=echo) as server:
        model = chat(server)
        assert model.invoke("a").content == "scripted first"
        assert model.invoke("b").content == "you said b"


def test_requests_are_served_concurrently() -> None:
    # Each request waits for the other inside the handler: a server handling one at a time would time out.
    both_arrived = threading.Barrier(2, timeout=5)

    def meet(request: RecordedRequest) -> str:
        both_arrived.wait()
        return "met"

    with ScriptedOpenAIServer(handler=meet) as server, ThreadPoolExecutor(2) as pool:
        model = chat(server)
        replies = list(pool.map(lambda _: model.invoke("hi").content, range(2)))
    assert replies == ["met", "met"]


# -- what the client sent --------------------------------------------------------------------------


def test_requests_record_messages_tools_tool_choice_and_stream_flag() -> None:
    with ScriptedOpenAIServer(["first", "second"]) as server:
        model = chat(server).bind_tools([SearchCompanies], tool_choice="SearchCompanies")
        model.invoke([("system", "be brief"), ("user", "find acme")])
        list(model.stream("again"))
        first, second = server.requests
    assert [(m["role"], m["content"]) for m in first.messages] == [
        ("system", "be brief"),
        ("user", "find acme"),
    ]
    assert first.tool_names == ["SearchCompanies"]
    assert first.tools[0]["function"]["parameters"]["required"] == ["query"]
    assert first.tool_choice == {"type": "function", "function": {"name": "SearchCompanies"}}
    assert (first.stream, second.stream) == (False, True)
    assert first.model == "scripted"


def test_unconsumed_lists_what_no_request_used() -> None:
    with ScriptedOpenAIServer(["used", "left over"]) as server:
        chat(server).invoke("hi")
        assert server.unconsumed == [text("left over")]


def test_exhausted_script_fails_at_once_with_a_clear_message() -> None:
    with ScriptedOpenAIServer(["only one"]) as server:
        model = chat(server, max_retries=2)
        model.invoke("hi")
        with pytest.raises(openai.InternalServerError, match="script ran out"):
            model.invoke("one too many")
        assert len(server.requests) == 2, "the client must not retry an exhausted script"


def test_models_endpoint_lists_the_served_models() -> None:
    with ScriptedOpenAIServer(models=["scripted", "other"]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        assert [m.id for m in client.models.list()] == ["scripted", "other"]


def test_wrong_api_key_is_rejected_when_a_key_is_required() -> None:
    with ScriptedOpenAIServer(["never"], api_key="secret") as server:
        with pytest.raises(openai.AuthenticationError):
            chat(server).invoke("hi")
        assert server.unconsumed == [text("never")]


def test_binds_the_given_port() -> None:
    port = free_port()
    with ScriptedOpenAIServer(["on my port"], port=port) as server:
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert chat(server).invoke("hi").content == "on my port"


async def test_usable_from_async_code() -> None:
    async with ScriptedOpenAIServer(
        ["async hello", tool_calls(call("SearchCompanies", {"query": "x"}))]
    ) as server:
        model = chat(server).bind_tools([SearchCompanies])
        assert (await model.ainvoke("hi")).content == "async hello"
        chunks = [chunk async for chunk in model.astream("find x")]
    assert collect(chunks).tool_calls[0]["args"] == {"query": "x"}


# -- faults ----------------------------------------------------------------------------------------


def test_rate_limit_is_retried_by_the_client_and_the_retry_gets_the_answer() -> None:
    with ScriptedOpenAIServer([status(429, retry_after=NOW), "after the rate limit"]) as server:
        assert chat(server, max_retries=2).invoke("hi").content == "after the rate limit"
        assert len(server.requests) == 2
        assert server.unconsumed == []


def test_rate_limit_without_retries_reaches_the_caller() -> None:
    with ScriptedOpenAIServer([status(429, retry_after=NOW), "kept for later"]) as server:
        with pytest.raises(openai.RateLimitError):
            chat(server, max_retries=0).invoke("hi")
        assert server.unconsumed == [text("kept for later")]


def test_server_error_is_retried_by_the_client() -> None:
    with ScriptedOpenAIServer(
        [status(500, retry_after=NOW), status(503, retry_after=NOW), "recovered"]
    ) as server:
        assert chat(server, max_retries=2).invoke("hi").content == "recovered"
        assert len(server.requests) == 3


def test_retries_run_out_on_repeated_server_errors() -> None:
    script = [
        status(500, retry_after=NOW),
        status(500, retry_after=NOW),
        status(500, retry_after=NOW),
        "too late",
    ]
    with ScriptedOpenAIServer(script) as server, pytest.raises(openai.InternalServerError):
        chat(server, max_retries=2).invoke("hi")


def test_timeout_is_retried_by_the_client() -> None:
    # The openai client waits its own backoff (about 0.5 s) after a timeout; no header can shorten it.
    with ScriptedOpenAIServer([delay(3.0), "after the timeout"]) as server:
        assert chat(server, max_retries=1, timeout=0.5).invoke("hi").content == "after the timeout"
        assert len(server.requests) == 2


def test_timeout_without_retries_reaches_the_caller() -> None:
    with ScriptedOpenAIServer([delay(2.0), "never seen"]) as server, pytest.raises(openai.APITimeoutError):
        chat(server, max_retries=0, timeout=0.2).invoke("hi")


def test_stream_cut_mid_tool_call_raises_on_the_client() -> None:
    script = [cut_stream_after(3), tool_calls(call("SearchCompanies", {"query": "a long enough query"}))]
    with ScriptedOpenAIServer(script, stream_chunk_chars=4) as server:
        model = chat(server, max_retries=2).bind_tools([SearchCompanies])
        received: list[AIMessageChunk] = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in model.stream("find it"):
                received.append(chunk)
        assert any(c.tool_call_chunks for c in received), "the cut should come after the tool call started"
        assert len(server.requests) == 1, "a stream already under way is not retried"
        assert len(server.unconsumed) == 1


def test_cut_non_streamed_body_raises_on_the_client() -> None:
    with (
        ScriptedOpenAIServer([cut_stream_after(0), "whole"]) as server,
        pytest.raises(openai.APIConnectionError),
    ):
        chat(server, max_retries=0).invoke("hi")


def test_cut_non_streamed_body_is_retried_by_the_client() -> None:
    with ScriptedOpenAIServer([cut_stream_after(0), "whole"]) as server:
        assert chat(server, max_retries=1).invoke("hi").content == "whole"


def test_garbled_json_body_raises_on_the_client() -> None:
    with ScriptedOpenAIServer([garbled(), "fine"]) as server:
        with pytest.raises(json.JSONDecodeError):
            chat(server, max_retries=2).invoke("hi")
        assert server.unconsumed == [text("fine")]


def test_garbled_stream_event_raises_on_the_client() -> None:
    with ScriptedOpenAIServer([garbled(), "fine"]) as server, pytest.raises(json.JSONDecodeError):
        list(chat(server, max_retries=2).stream("hi"))


# -- the script itself -----------------------------------------------------------------------------


def test_script_accepts_cassette_like_dicts_and_pairs() -> None:
    script = [
        {"tool_calls": [{"name": "SearchCompanies", "args": {"query": "a"}}]},
        [("SearchCompanies", {"query": "b"})],
    ]
    with ScriptedOpenAIServer(script) as server:
        model = chat(server).bind_tools([SearchCompanies])
        assert model.invoke("1").tool_calls[0]["args"] == {"query": "a"}
        assert model.invoke("2").tool_calls[0]["args"] == {"query": "b"}


def test_unknown_script_item_is_refused_with_what_is_accepted() -> None:
    with pytest.raises(TypeError, match="a script item must be"):
        ScriptedOpenAIServer([42])  # type: ignore[list-item]


def test_extend_adds_items_while_running() -> None:
    with ScriptedOpenAIServer() as server:
        server.extend(["added later"])
        assert chat(server).invoke("hi").content == "added later"


def test_stream_wire_format_follows_openai_chunk_order() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    body["stream_options"] = {"include_usage": True}
    with ScriptedOpenAIServer(
        [tool_calls(call("Search", {"query": "abcdefghij"}))], stream_chunk_chars=6
    ) as server:
        http_request = urllib.request.Request(
            f"{server.base_url}/chat/completions", data=json.dumps(body).encode(), method="POST"
        )
        with NO_PROXY.open(http_request, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            lines = [line for line in response.read().decode().split("\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert deltas[1]["tool_calls"][0] == {
        "index": 0,
        "id": "call_1_0",
        "type": "function",
        "function": {"name": "Search", "arguments": ""},
    }
    pieces = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:-1]]
    assert len(pieces) > 1
    assert json.loads("".join(pieces)) == {"query": "abcdefghij"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
