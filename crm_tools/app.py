"""The CRM app the `converso chat` and `converso serve` commands run: the engine with the CRM tools.

converso loads ``crm_tools.app:build_app`` by name, so the engine never imports the CRM side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from converso.apps import AppConfigError, AppOptions, ModelSettings
from converso.form_agent.model_factory import ModelFactory
from converso.journal import Journal, JournaledAgent
from crm_tools.backends.base import CRMBackend
from crm_tools.errors import CRMError
from crm_tools.store import open_backend
from crm_tools.toolset import build_tools

ACCEPTED_CRM_URLS = (
    "a SQLite file path, sqlite:///PATH, postgresql://..., or ws:// / wss:// (with --crm-api-key)"
)


def open_crm(crm: str | None, api_key: str | None, data_dir: Path) -> CRMBackend:
    """The CRM behind ``--crm``: a file path, a database URL or a CRM env server.

    A SQLite file is created only inside an existing folder (a mistyped folder is an error, not a new
    empty CRM); a database or env server that cannot be reached is reported at once. Every such problem
    is an ``AppConfigError`` saying what was wrong and what is accepted."""
    if crm is None:
        return _opened(f"sqlite:///{data_dir / 'crm.sqlite3'}")
    if crm.startswith(("ws://", "wss://", "http://", "https://")):
        return _env_backend(crm, api_key)
    if "://" not in crm or crm.startswith("sqlite:///"):
        path = Path(crm.removeprefix("sqlite:///")).expanduser()
        if not path.parent.is_dir():
            raise AppConfigError(
                f"--crm {crm}: the folder {path.parent} does not exist. Give a SQLite file in an existing "
                f"folder, or one of: {ACCEPTED_CRM_URLS}."
            )
        return _opened(f"sqlite:///{path}")
    return _opened(crm)


def _opened(url: str) -> CRMBackend:
    try:
        return open_backend(url)
    except CRMError as exc:  # StoreURLError, StoreUnavailableError
        raise AppConfigError(f"--crm: {exc.message}") from exc


def _env_backend(url: str, api_key: str | None) -> CRMBackend:
    if not api_key:
        raise AppConfigError(
            f"The CRM env at {url} needs an API key: pass --crm-api-key (or CONVERSO_CRM_API_KEY)."
        )
    from crm_tools.backends.env_client import EnvBackend, EnvError

    try:
        backend = EnvBackend(url, api_key)
        backend.list("company", limit=1)  # connect now: an unreachable CRM is reported before the chat
    except (EnvError, ValueError) as exc:
        raise AppConfigError(f"--crm {url}: {exc}") from exc
    return backend


def model_from(settings: ModelSettings | BaseChatModel | ModelFactory) -> BaseChatModel | ModelFactory:
    if isinstance(settings, ModelSettings):
        return settings.factory()
    return settings


@dataclass
class CrmApp:
    agent: Any
    tools: Sequence[BaseTool]
    backend: CRMBackend
    journal: Journal | None = None
    crm_description: str = ""
    """Where the CRM lives, for a person (``converso chat`` prints it at start); never a password."""
    _closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self.backend.close()


def build_app(options: AppOptions) -> CrmApp:
    from converso.form_agent import FormAgentExecutor

    backend = open_crm(options.crm, options.crm_api_key, options.data_dir)
    tools = build_tools(backend)
    journal = Journal(options.journal_dir, mask=not options.journal_unmasked) if options.journal_dir else None
    checkpointer = options.checkpointer or str(options.data_dir / "threads.sqlite")
    extra: dict[str, Any] = {}
    if options.max_concurrent_turns is not None:
        extra["max_concurrent_turns"] = options.max_concurrent_turns
    if options.system_prompt is not None:
        extra["system_prompt"] = options.system_prompt
    executor = FormAgentExecutor(
        tools=tools,
        model=model_from(options.model),
        checkpointer=checkpointer,
        callbacks=[journal.callback_handler()] if journal else None,
        **extra,
    )
    agent: Any = JournaledAgent(executor, journal) if journal else executor
    closers = [executor.close] if hasattr(executor, "close") else []
    return CrmApp(
        agent=agent,
        tools=tools,
        backend=backend,
        journal=journal,
        crm_description=describe_crm(backend),
        _closers=closers,
    )


def describe_crm(backend: CRMBackend) -> str:
    url = str(getattr(backend, "url", "") or "")
    if url.startswith("sqlite:///"):
        return f"SQLite file {url.removeprefix('sqlite:///')}"
    if url.startswith(("ws://", "wss://")):
        return f"CRM env {url}"
    if "://" in url:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    return type(backend).__name__
