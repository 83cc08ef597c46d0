"""What the `converso chat` and `converso serve` commands run: an *app*, i.e. an executor with tools.

converso knows nothing about CRMs, so the commands load the app factory by name
(``module:function``, default ``crm_tools.app:build_app``, or ``CONVERSO_APP``). A factory receives
the command-line options as :class:`AppOptions` and returns an :class:`App`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.tools import BaseTool

if TYPE_CHECKING:
    from converso.form_agent.model_factory import ModelFactory

DEFAULT_APP = "crm_tools.app:build_app"
DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class ModelSettings:
    """How to reach the LLM; ``None`` fields fall back to the provider's own defaults."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    max_retries: int | None = None

    def factory(self) -> ModelFactory:
        """The engine's ModelFactory for these settings; ``check()`` it to find mistakes early."""
        from converso.form_agent.model_factory import ModelFactory

        base_url, api_key = self.base_url, self.api_key
        prefix, _, rest = self.model.partition(":")
        if rest and prefix != "openai":
            # The command-line options fall back to OPENAI_BASE_URL and OPENAI_API_KEY, which describe the
            # OpenAI-compatible endpoint: sent to another provider, they would point it at the wrong place.
            if base_url is not None and base_url == os.environ.get("OPENAI_BASE_URL"):
                base_url = None
            if api_key is not None and api_key == os.environ.get("OPENAI_API_KEY"):
                api_key = None
        return ModelFactory(
            self.model, base_url=base_url, api_key=api_key, timeout=self.timeout, max_retries=self.max_retries
        )


def model_settings(
    model: str | None,
    base_url: str | None,
    api_key: str | None,
    *,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> ModelSettings | None:
    """The configured model, or ``None`` when nothing says where to find one.

    A base URL alone is enough (local OpenAI-compatible servers often need no key), and so is a
    ``provider:model`` string, whose provider reads its own environment.
    """
    if not (api_key or base_url or (model and ":" in model)):
        return None
    return ModelSettings(
        model=model or DEFAULT_MODEL,
        base_url=base_url,
        api_key=api_key,
        timeout=timeout,
        max_retries=max_retries,
    )


def user_data_dir() -> Path:
    from platformdirs import user_data_path

    override = os.environ.get("CONVERSO_DATA_DIR")
    path = Path(override) if override else user_data_path("converso", appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class AppOptions:
    model: ModelSettings | Any
    """``ModelSettings``, or a ready chat model (tests and demos pass a scripted one)."""
    data_dir: Path
    checkpointer: str | None = None
    """Conversation state: SQLite path or PostgreSQL URL; default ``data_dir/threads.sqlite``."""
    crm: str | None = None
    crm_api_key: str | None = None
    journal_dir: Path | None = None
    journal_unmasked: bool = False
    max_concurrent_turns: int | None = None
    """How many turns may be in flight at once in this process (a back-pressure limit; None: no limit)."""
    system_prompt: str | None = None
    """The assistant's instructions (``--system-prompt``), replacing the engine's default ones."""


class App(Protocol):
    @property
    def agent(self) -> Any:
        """The thread-level engine (``FormAgentExecutor``)."""
        ...

    @property
    def tools(self) -> Sequence[BaseTool]: ...

    def close(self) -> None: ...


AppFactory = Callable[[AppOptions], App]


class AppLoadError(Exception):
    """The ``--app`` factory cannot be found; the message says what is expected."""


class AppConfigError(ValueError):
    """Raised by an app factory for an option it cannot use (a CRM URL it does not accept, a service it
    cannot reach). The message says what was wrong and what is accepted; commands print it as it is."""


def load_app_factory(spec: str | None = None) -> AppFactory:
    spec = spec or os.environ.get("CONVERSO_APP") or DEFAULT_APP
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise AppLoadError(f"App {spec!r} must be 'module:function', e.g. {DEFAULT_APP!r}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppLoadError(f"Cannot import the app module {module_name!r}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise AppLoadError(f"{module_name!r} has no callable {attribute!r}; expected an app factory there.")
    return factory
