"""Your forms as a plain LangGraph graph: for ``langgraph.json``, LangGraph Server and Studio, or a parent graph.

``make_graph(tools, model)`` returns the compiled form graph. It takes the server's own input,
``{"messages": [{"role": "user", "content": ...}]}``, and keeps every invariant by itself (the user turn
is counted inside the graph, so a form is committed only after a later user message than its summary,
and once). The thread state holds the public :class:`FormAgentState`: ``messages``, ``forms`` (the form
stack), ``form`` (the active form as surfaces show it), ``turn``.

:class:`~converso.FormAgentExecutor` runs the same graph and adds conveniences on top: a ``Reply`` per
message, events, and the roll back of a failed turn.
"""

from __future__ import annotations

import concurrent.futures
import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import get_type_hints

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from converso.form_agent.executor import DEFAULT_HISTORY_WINDOW, DEFAULT_TOOL_TIMEOUT
from converso.form_agent.graph import Engine, build_graph, check_settings
from converso.form_agent.model_factory import ModelFactory
from converso.form_agent.state import FormAgentState
from converso.form_agent.tool_runner import ToolRunner
from converso.form_agent.toolset import with_form_reset

__all__ = ["FormAgentState", "check_parent_state", "make_graph"]


def make_graph(
    tools: Sequence[BaseTool],
    model: BaseChatModel | ModelFactory | str | None = None,
    *,
    checkpointer: BaseCheckpointSaver | None = None,
    embed_in: type | None = None,
    clock: Callable[[], datetime] | None = None,
    id_factory: Callable[[], str] | None = None,
    system_prompt: str | None = None,
    history_window: int = DEFAULT_HISTORY_WINDOW,
    max_error_rounds: int = 3,
    tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT,
    strict: bool = False,
) -> CompiledStateGraph:
    """The compiled form graph over ``tools`` (FormTools and plain tools; FormReset is added).

    ``model``: a chat model, a :class:`ModelFactory`, or a model string (``None``: ``CONVERSO_MODEL``,
    ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` from the environment, see ModelFactory); the model is
    built at its first call. ``checkpointer``: leave it None under LangGraph Server (the server brings its
    own) and in a subgraph (the parent's is used). ``embed_in``: the parent graph's state schema when the
    graph becomes one of its nodes; it must declare every key of :class:`FormAgentState` (subclass it),
    or the form would be lost between runs, so a missing key raises ValueError here.

    ``tool_timeout`` and ``strict`` are those of :class:`FormAgentExecutor`: a tool call still running after
    ``tool_timeout`` seconds becomes an error message the model sees, and a bug in a tool is logged (raised
    when ``strict``).
    """
    check_settings(
        history_window=history_window, max_error_rounds=max_error_rounds, tool_timeout=tool_timeout
    )
    if embed_in is not None:
        check_parent_state(embed_in)
    tools = with_form_reset(tools)
    engine = Engine(
        tools=tools,
        models=model if isinstance(model, ModelFactory) else ModelFactory(model),
        clock=clock or _utc_now,
        id_factory=id_factory or _new_id,
        system_prompt=system_prompt,
        history_window=history_window,
        max_error_rounds=max_error_rounds,
        # Under a server the graph runs on its event loop, where the deadline needs no pool; a pool of
        # its own serves the deadline of a synchronous invoke (its threads start only when used).
        runner=ToolRunner(tools, timeout=tool_timeout, strict=strict, pool=_tool_pool()),
    )
    return build_graph(engine, checkpointer)


@functools.cache
def _tool_pool() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="converso-graph-tool")


def check_parent_state(schema: type) -> None:
    """Raise ValueError unless ``schema`` declares every key of :class:`FormAgentState`.

    A subgraph keeps nothing between runs of its parent: what it returns survives only in the keys the
    parent declares, and LangGraph drops the others without a word."""
    declared = get_type_hints(schema, include_extras=True)
    missing = [key for key in get_type_hints(FormAgentState) if key not in declared]
    if missing:
        raise ValueError(
            f"{schema.__name__} lacks {', '.join(missing)}: a parent graph that embeds the form graph must "
            f"declare every key of converso.langgraph.FormAgentState (subclass it), or the form is lost "
            f"after each run"
        )


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex
