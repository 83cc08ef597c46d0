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

from converso.apps import AppOptions, ModelSettings
from converso.form_agent.model_factory import ModelFactory
from converso.journal import Journal, JournaledAgent
from crm_tools.backends.base import CRMBackend
from crm_tools.store import open_backend
from crm_tools.toolset import build_tools

ACCEPTED_CRM_URLS = (
    "a SQLite file path, sqlite:///PATH, postgresql://..., or ws:// / wss:// (with --crm-api-key)"
)


def open_crm(crm: str | None, api_key: str | None, data_dir: Path) -> CRMBackend:
    """The CRM behind ``--crm``: a file path, a database URL or a CRM env server."""
    if crm is None:
        return open_backend(f"sqlite:///{data_dir / 'crm.sqlite3'}")
    if crm.startswith(("ws://", "wss://", "http://", "https://")):
        if not api_key:
            raise ValueError(
                f"The CRM env at {crm} needs an API key: pass --crm-api-key (or CONVERSO_CRM_API_KEY)."
            )
        from crm_tools.backends.env_client import EnvBackend

        return EnvBackend(crm, api_key)
    if "://" not in crm:
        return open_backend(f"sqlite:///{Path(crm).expanduser()}")
    return open_backend(crm)


def model_from(settings: ModelSettings | BaseChatModel | ModelFactory) -> BaseChatModel | ModelFactory:
    if isinstance(settings, ModelSettings):
        extra: dict[str, Any] = {}
        if settings.timeout is not None:
            extra["timeout"] = settings.timeout
        if settings.max_retries is not None:
            extra["max_retries"] = settings.max_retries
        return ModelFactory(settings.model, base_url=settings.base_url, api_key=settings.api_key, **extra)
    return settings


@dataclass
class CrmApp:
    agent: Any
    tools: Sequence[BaseTool]
    backend: CRMBackend
    journal: Journal | None = None
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
        extra["max_workers"] = options.max_concurrent_turns
    executor = FormAgentExecutor(
        tools=tools,
        model=model_from(options.model),
        checkpointer=checkpointer,
        callbacks=[journal.callback_handler()] if journal else None,
        **extra,
    )
    agent: Any = JournaledAgent(executor, journal) if journal else executor
    closers = [executor.close] if hasattr(executor, "close") else []
    return CrmApp(agent=agent, tools=tools, backend=backend, journal=journal, _closers=closers)
