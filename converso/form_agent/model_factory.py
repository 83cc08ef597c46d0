"""ModelFactory: the chat model from configuration, bound to the tools visible in the current state."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

DEFAULT_MODEL = "gpt-4o-mini"


class ModelConfigurationError(ValueError):
    """The model cannot be built from the configuration given."""


class ModelFactory:
    """Builds the chat model once and binds tools per call.

    ``model`` is a ``BaseChatModel`` (used as is), a ``"provider:model"`` string for LangChain's
    ``init_chat_model`` (e.g. ``"anthropic:claude-sonnet-4-5"``), or a model name for any
    OpenAI-compatible endpoint through ``ChatOpenAI``. Unset options come from the environment:
    ``CONVERSO_MODEL`` (model name, default ``gpt-4o-mini``), ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``.
    """

    def __init__(
        self,
        model: BaseChatModel | str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        temperature: float | None = None,
        **options: Any,
    ) -> None:
        self._given = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        self.options = options
        self._model: BaseChatModel | None = model if isinstance(model, BaseChatModel) else None
        self._bound: dict[tuple[tuple[str, ...], str | None], Runnable[LanguageModelInput, AIMessage]] = {}
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        if isinstance(self._given, str):
            return self._given
        if self._given is None:
            return os.environ.get("CONVERSO_MODEL") or DEFAULT_MODEL
        return getattr(self._given, "model_name", None) or type(self._given).__name__

    def chat_model(self) -> BaseChatModel:
        with self._lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def bind(
        self, tools: Sequence[BaseTool], tool_choice: str | None = None
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The model with ``tools`` offered; ``tool_choice`` names a tool the model must call."""
        names = tuple(tool.name for tool in tools)
        if tool_choice is not None and tool_choice not in names:
            raise ValueError(
                f"forced tool {tool_choice!r} is not among the tools offered: {', '.join(names)}"
            )
        key = (names, tool_choice)
        bound = self._bound.get(key)
        if bound is None:
            model = self.chat_model()
            if not tools:
                bound = model
            elif tool_choice is None:
                bound = model.bind_tools(list(tools))
            else:
                bound = model.bind_tools(list(tools), tool_choice=tool_choice)
            self._bound[key] = bound
        return bound

    def _build(self) -> BaseChatModel:
        name = self.model_name
        provider, _, provider_model = name.partition(":")
        if provider_model and provider in _init_chat_model_providers():
            from langchain.chat_models import init_chat_model

            options = {"timeout": self.timeout, "max_retries": self.max_retries, **self.options}
            if self.temperature is not None:
                options["temperature"] = self.temperature
            return init_chat_model(provider_model, model_provider=provider, **options)
        from langchain_openai import ChatOpenAI

        api_key = self.api_key
        if api_key is None:
            if self.base_url is None:
                raise ModelConfigurationError(
                    f"no API key for model {name!r}: set OPENAI_API_KEY or pass api_key=, or pass base_url= "
                    "for a local OpenAI-compatible server, or give a 'provider:model' string"
                )
            api_key = "unused"  # local OpenAI-compatible servers usually ignore the key
        options = dict(self.options)
        if self.temperature is not None:
            options["temperature"] = self.temperature
        return ChatOpenAI(
            model=name,
            base_url=self.base_url,
            api_key=api_key,
            timeout=self.timeout,
            max_retries=self.max_retries,
            **options,
        )


def _init_chat_model_providers() -> set[str]:
    from langchain.chat_models import base

    return set(base._BUILTIN_PROVIDERS)
