"""The configurable keys the executor uses for a turn's cancel event and token callback are also
writable by a LangGraph Server client: any other value there is ignored, not called."""

from __future__ import annotations

import logging

import pytest

from converso.form_agent.graph import CANCEL_KEY
from converso.form_agent.token_tap import TOKEN_SINK_KEY
from converso.langgraph import make_graph
from converso.testing import ScriptedChatModel
from tests.engine.forms import CreateCompany


def test_a_client_value_under_the_executors_keys_neither_cancels_nor_streams(
    caplog: pytest.LogCaptureFixture,
) -> None:
    graph = make_graph([CreateCompany()], ScriptedChatModel(responses=["Hello, how can I help?"]))
    config = {"configurable": {"thread_id": "t", CANCEL_KEY: "yes please", TOKEN_SINK_KEY: "print"}}
    with caplog.at_level(logging.WARNING):
        state = graph.invoke({"messages": [{"role": "user", "content": "hi"}]}, config)
    assert state["messages"][-1].text == "Hello, how can I help?"
    # LangChain logs a callback that fails (calling the string) instead of raising it.
    assert [record.getMessage() for record in caplog.records] == []
