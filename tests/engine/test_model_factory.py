"""ModelFactory builds the chat model from configuration and binds the visible tools."""

from __future__ import annotations

import importlib

import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from converso import FormAgentExecutor, ModelFactory
from converso.apps import ModelSettings
from converso.form_agent import ModelConfigurationError
from converso.testing import ScriptedChatModel
from converso.testing.openai_server import ScriptedOpenAIServer


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


# -- provider strings honour the options given, and mistakes surface when the executor is built ---------


def test_an_openai_provider_string_sends_to_the_base_url_with_the_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    with ScriptedOpenAIServer(["Hello from the local server."], api_key="sk-given") as server:
        factory = ModelFactory("openai:scripted", base_url=server.base_url, api_key="sk-given", max_retries=0)
        reply = factory.chat_model().invoke("hi")
        [request] = server.requests
    assert reply.text == "Hello from the local server."
    assert request.headers["authorization"] == "Bearer sk-given"
    assert request.model == "scripted"


def test_the_openai_model_asks_for_token_usage_when_streaming() -> None:
    with ScriptedOpenAIServer(["Hi."]) as server:
        model = ModelFactory("openai:scripted", base_url=server.base_url, api_key="k").chat_model()
        chunks = list(model.stream("hi"))
        [request] = server.requests
    assert request.body.get("stream_options") == {"include_usage": True}
    assert sum(chunk.usage_metadata["total_tokens"] for chunk in chunks if chunk.usage_metadata) > 0


def test_timeout_and_max_retries_reach_a_provider_string_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = ModelFactory("openai:gpt-4o-mini", timeout=7, max_retries=5).chat_model()
    assert (model.request_timeout, model.max_retries) == (7, 5)


def test_an_unknown_provider_is_refused_when_the_executor_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(
        ModelConfigurationError, match=r"unknown model provider 'antropic'.*Known providers: .*anthropic"
    ):
        FormAgentExecutor([], "antropic:claude-sonnet-4-5")


def test_a_provider_whose_package_is_missing_is_refused_when_the_executor_is_built() -> None:
    # langchain-anthropic is in the dev extra (the prompt-caching tests use it); Mistral's is not.
    with pytest.raises(ModelConfigurationError, match="needs the package langchain-mistralai: pip install"):
        FormAgentExecutor([], ModelFactory("mistralai:mistral-large-latest", api_key="k"))


@pytest.fixture
def ollama_package(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider package whose chat model takes a base_url but no api_key (as langchain-ollama's)."""
    package = tmp_path / "langchain_ollama"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from langchain_core.language_models.fake_chat_models import FakeListChatModel\n"
        "class ChatOllama(FakeListChatModel):\n"
        "    model: str = ''\n"
        "    base_url: str | None = None\n"
        "    responses: list[str] = ['ok']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


def test_an_option_the_provider_does_not_take_is_refused_clearly(ollama_package) -> None:
    with pytest.raises(ModelConfigurationError, match=r"'ollama' \(ChatOllama\) does not take api_key"):
        ModelFactory("ollama:llama3", api_key="k").check()


def test_an_option_the_provider_takes_is_passed_on(ollama_package) -> None:
    model = ModelFactory("ollama:llama3", base_url="http://127.0.0.1:11434").chat_model()
    assert (type(model).__name__, model.model, model.base_url) == (
        "ChatOllama",
        "llama3",
        "http://127.0.0.1:11434",
    )


def test_the_openai_environment_is_not_sent_to_another_provider(
    ollama_package, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `converso chat --model ollama:llama3` with OPENAI_* set: the options read them from the environment.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = ModelSettings("ollama:llama3", base_url="http://127.0.0.1:9/v1", api_key="sk-openai")
    assert settings.factory().chat_model().base_url is None
    with pytest.raises(ModelConfigurationError, match="does not take api_key"):
        ModelSettings("ollama:llama3", api_key="sk-ollama").factory().check()
