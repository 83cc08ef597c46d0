"""The CRM form agent for LangGraph Server: ``langgraph.json`` names :func:`make_crm_graph`.

The model comes from ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``CONVERSO_MODEL`` and the CRM from
``CONVERSO_CRM`` (with ``CONVERSO_CRM_API_KEY`` for a ``ws://`` CRM env), as for ``converso chat``; without
``CONVERSO_CRM`` the CRM is the SQLite file in the user data directory (``CONVERSO_DATA_DIR``).
Conversations are the server's threads, kept by the server's own checkpointer.
"""

from __future__ import annotations

import asyncio
import os
import threading

from langgraph.graph.state import CompiledStateGraph

from converso.apps import model_settings, user_data_dir
from converso.form_agent.model_factory import ModelConfigurationError
from converso.langgraph import make_graph
from crm_tools.app import model_from, open_crm
from crm_tools.toolset import build_tools


async def make_crm_graph() -> CompiledStateGraph:
    """The graph factory of ``langgraph.json``. The server calls it for every run and every state read,
    on its event loop: the graph is built once, on a worker thread (opening the CRM blocks), and shared."""
    return _built or await asyncio.to_thread(_build_once)


def build_crm_graph() -> CompiledStateGraph:
    """A new CRM form graph configured from the environment (see the module's docstring)."""
    settings = model_settings(
        os.environ.get("CONVERSO_MODEL"), os.environ.get("OPENAI_BASE_URL"), os.environ.get("OPENAI_API_KEY")
    )
    if settings is None:
        raise ModelConfigurationError(
            "No language model is configured for the CRM graph: set OPENAI_API_KEY (a provider's key) or "
            "OPENAI_BASE_URL (any OpenAI-compatible endpoint), and optionally CONVERSO_MODEL (the model "
            "name, or provider:model)"
        )
    crm = open_crm(os.environ.get("CONVERSO_CRM"), os.environ.get("CONVERSO_CRM_API_KEY"), user_data_dir())
    return make_graph(build_tools(crm), model_from(settings))


_built: CompiledStateGraph | None = None
_build_lock = threading.Lock()


def _build_once() -> CompiledStateGraph:
    global _built
    with _build_lock:
        if _built is None:
            _built = build_crm_graph()
        return _built
