"""ModelFactory: the chat model from configuration, bound to the tools visible in the current state."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2


class ModelConfigurationError(ValueError):
    """The model cannot be built from the configuration given."""


@dataclass
class _Built:
    model: BaseChatModel
    bound: dict[tuple[tuple[str, ...], str | None], Runnable[LanguageModelInput, AIMessage]] = field(
        default_factory=dict
    )


class ModelFactory:
    """Builds the chat model once and binds tools per call.

    ``model`` is a ``BaseChatModel`` (used as is), a ``"provider:model"`` string for LangChain's
    ``init_chat_model`` (e.g. ``"anthropic:claude-sonnet-4-5"``), or a model name for any
    OpenAI-compatible endpoint through ``ChatOpenAI`` (``"openai:NAME"`` is the same). Unset options come
    from the environment: ``CONVERSO_MODEL`` (model name, default ``gpt-4o-mini``), and for the OpenAI
    endpoint ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``.

    ``base_url``, ``api_key``, ``timeout`` (seconds) and ``max_retries`` go to the provider's model;
    one the provider's model does not take is refused with a ModelConfigurationError, as are an unknown
    provider and a provider whose package is not installed. ``check()`` builds the model (FormAgentExecutor
    calls it when it is built), so such mistakes surface before the first message. A ``prefix:name`` whose
    prefix is no provider is a model name when a ``base_url`` is set (e.g. ``llama3:8b`` on a local server).
    """

    def __init__(
        self,
        model: BaseChatModel | str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        temperature: float | None = None,
        **options: Any,
    ) -> None:
        self._given = model
        self._base_url = base_url
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        self.options = options
        # A model built here from configuration is built again for each event loop that calls it: an
        # async HTTP client's connections belong to the loop that opened them, and a FormAgentExecutor
        # runs its turns on a loop of its own. A BaseChatModel given is used as is, on every loop.
        self._given_built = _Built(model) if isinstance(model, BaseChatModel) else None
        self._outside_loops: _Built | None = None
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Built] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str | None:
        if self._base_url is not None or self.provider is not None:
            return self._base_url
        return os.environ.get("OPENAI_BASE_URL") or None

    @property
    def api_key(self) -> str | None:
        if self._api_key is not None or self.provider is not None:
            return self._api_key
        return os.environ.get("OPENAI_API_KEY") or None

    @property
    def model_name(self) -> str:
        if isinstance(self._given, str):
            return self._given
        if self._given is None:
            return os.environ.get("CONVERSO_MODEL") or DEFAULT_MODEL
        return getattr(self._given, "model_name", None) or type(self._given).__name__

    @property
    def provider(self) -> str | None:
        """The ``init_chat_model`` provider of a ``provider:model`` string, or None for the OpenAI endpoint."""
        if isinstance(self._given, BaseChatModel):
            return None
        prefix, _, rest = self.model_name.partition(":")
        if not rest or prefix == "openai":
            return None
        if prefix in _init_chat_model_providers():
            return prefix
        if self._base_url is not None or os.environ.get("OPENAI_BASE_URL"):
            return None  # a model name with a colon, served by an OpenAI-compatible endpoint
        raise ModelConfigurationError(
            f"unknown model provider {prefix!r} in {self.model_name!r}. Known providers: "
            f"{', '.join(sorted(_init_chat_model_providers()))}. A model name with a colon on an "
            "OpenAI-compatible server needs base_url (--base-url)."
        )

    def check(self) -> None:
        """Raise ModelConfigurationError now for an unknown provider, a provider whose package is missing
        or an option the provider does not take, rather than at the first message. The model itself is
        built at first use (an executor opened only to read its threads needs no credentials)."""
        provider = self.provider
        if provider is not None and self._given_built is None:
            self._provider_options(provider)

    def chat_model(self) -> BaseChatModel:
        return self._built().model

    def _built(self) -> _Built:
        if self._given_built is not None:
            return self._given_built
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            built = self._outside_loops if loop is None else self._per_loop.get(loop)
            if built is None:
                built = _Built(self._build(async_client=loop is not None))
                if loop is None:
                    self._outside_loops = built
                else:
                    self._per_loop[loop] = built
            return built

    async def aclose_loop(self) -> None:
        """Close the HTTP client the model built for the running loop opened (a closing executor's)."""
        built = self._per_loop.pop(asyncio.get_running_loop(), None)
        client = getattr(built.model, "http_async_client", None) if built else None
        if client is not None:
            await client.aclose()

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
        built = self._built()
        bound = built.bound.get(key)
        if bound is None:
            model = built.model
            if not tools:
                bound = model
            elif tool_choice is None:
                bound = model.bind_tools(list(tools))
            else:
                bound = model.bind_tools(list(tools), tool_choice=tool_choice)
            built.bound[key] = bound
        return bound

    def _build(self, *, async_client: bool = False) -> BaseChatModel:
        provider = self.provider
        if provider is not None:
            return self._build_provider(provider)
        return self._build_openai(async_client=async_client)

    def _build_provider(self, provider: str) -> BaseChatModel:
        from langchain.chat_models import init_chat_model

        options = self._provider_options(provider)
        _, _, name = self.model_name.partition(":")
        return init_chat_model(name, model_provider=provider, **options, **self.options)

    def _provider_options(self, provider: str) -> dict[str, Any]:
        """The options given, checked against what the provider's chat model class takes."""
        package, class_name = _init_chat_model_providers()[provider]
        distribution = package.split(".")[0]
        if importlib.util.find_spec(distribution) is None:
            raise ModelConfigurationError(
                f"model provider {provider!r} needs the package {distribution.replace('_', '-')}: "
                f"pip install {distribution.replace('_', '-')}"
            )
        accepted = _option_names(getattr(importlib.import_module(package), class_name))
        options: dict[str, Any] = {}
        for option, value in (
            ("base_url", self._base_url),
            ("api_key", self._api_key),
            ("timeout", self.timeout),
            ("max_retries", self.max_retries),
            ("temperature", self.temperature),
        ):
            if value is None:
                continue
            if option not in accepted:
                raise ModelConfigurationError(
                    f"model provider {provider!r} ({class_name}) does not take {option}; leave it out, or "
                    "pass a ready chat model instead of a model string"
                )
            options[option] = value
        return options

    def _build_openai(self, *, async_client: bool = False) -> BaseChatModel:
        from langchain_openai import ChatOpenAI

        name = self.model_name.removeprefix("openai:")
        api_key = self.api_key
        if api_key is None:
            if self.base_url is None:
                raise ModelConfigurationError(
                    f"no API key for model {name!r}: set OPENAI_API_KEY or pass api_key=, or pass base_url= "
                    "for a local OpenAI-compatible server, or give a 'provider:model' string"
                )
            api_key = "unused"  # local OpenAI-compatible servers usually ignore the key
        options: dict[str, Any] = {"stream_usage": True, **self.options}
        if self.temperature is not None:
            options["temperature"] = self.temperature
        if async_client and "http_async_client" not in options:
            import httpx

            # A client of this loop's own (langchain-openai shares one per base URL across loops). Its
            # pool has no cap on connections: a worker's turns in flight each wait on one model request
            # (the default cap, 1,000, would queue the rest of them behind it).
            options["http_async_client"] = httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT if self.timeout is None else self.timeout,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            )
        # Token usage comes in the last chunk of a stream only when asked for (stream_usage).
        return ChatOpenAI(
            model=name,
            base_url=self.base_url,
            api_key=api_key,
            timeout=DEFAULT_TIMEOUT if self.timeout is None else self.timeout,
            max_retries=DEFAULT_MAX_RETRIES if self.max_retries is None else self.max_retries,
            **options,
        )


def _init_chat_model_providers() -> dict[str, tuple[str, str]]:
    from langchain.chat_models import base

    return {name: (entry[0], entry[1]) for name, entry in base._BUILTIN_PROVIDERS.items()}


def _option_names(model_class: type) -> set[str]:
    """The keyword arguments a chat model class takes: its pydantic fields and their aliases."""
    names: set[str] = set()
    for name, info in getattr(model_class, "model_fields", {}).items():
        names.add(name)
        if isinstance(info.alias, str):
            names.add(info.alias)
        if isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
    return names
