"""ModelFactory builds the chat model from configuration and binds the visible tools."""

from __future__ import annotations

import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from converso import ModelFactory
from converso.form_agent import ModelConfigurationError
from converso.testing import ScriptedChatModel


@tool
def search(query: str) -> str:
    """Search the CRM."""
    return query


def test_a_chat_model_given_directly_is_used_as_is() -> None:
    model = ScriptedChatModel(responses=[])
    assert ModelFactory(model).chat_model() is model


def test_a_model_name_builds_chat_openai_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CONVERSO_MODEL", "gpt-test")
    model = ModelFactory(timeout=5, max_retries=0).chat_model()
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-test"
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
    assert model.max_retries == 0
    assert model.request_timeout == 5


def test_explicit_options_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    model = ModelFactory("gpt-x", base_url="http://127.0.0.1:8/v1", api_key="sk-given").chat_model()
    assert model.openai_api_base == "http://127.0.0.1:8/v1"
    assert model.openai_api_key.get_secret_value() == "sk-given"


def test_a_provider_string_goes_through_init_chat_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = ModelFactory("openai:gpt-4o-mini").chat_model()
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4o-mini"


def test_a_colon_in_a_model_name_that_is_not_a_provider_stays_a_model_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert ModelFactory("llama3:8b", base_url="http://127.0.0.1:9/v1").chat_model().model_name == "llama3:8b"


def test_no_api_key_and_no_local_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelConfigurationError, match="set OPENAI_API_KEY"):
        ModelFactory("gpt-4o-mini").chat_model()


def test_bind_forces_the_named_tool() -> None:
    model = ScriptedChatModel(responses=["ok"])
    ModelFactory(model).bind([search], "search").invoke("x")
    assert model.requests[0].tool_choice == "search"
    assert model.requests[0].tools == ["search"]


def test_forcing_a_tool_that_is_not_offered_is_refused() -> None:
    with pytest.raises(ValueError, match="not among the tools offered: search"):
        ModelFactory(ScriptedChatModel(responses=[])).bind([search], "other")


def test_bound_models_are_reused_for_the_same_tools() -> None:
    factory = ModelFactory(ScriptedChatModel(responses=[]))
    assert factory.bind([search]) is factory.bind([search])
