"""The data a conversation carries: form snapshots and the graph's state.

Everything here is plain JSON-serializable data, so any LangGraph checkpointer can store it and a
restarted process resumes exactly where the conversation stopped.
"""

from __future__ import annotations

import operator
from enum import StrEnum
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class FormToolState(StrEnum):
    INACTIVE = "INACTIVE"
    ACTIVE = "ACTIVE"
    FILLED = "FILLED"


class FormSnapshot(TypedDict):
    """One open form of one conversation.

    ``values`` holds JSON-safe values only (dates as ISO strings); ``summary_turn`` is the user turn in
    which the summary was shown, so a commit can require a later user turn (the confirmation guard).
    """

    form_id: str
    name: str
    state: str
    values: dict[str, Any]
    errors: dict[str, str]
    summary_turn: int | None


class PublicForm(TypedDict):
    """The active form as surfaces show it (``Reply.form``, ``get_form``)."""

    name: str
    state: str
    values: dict[str, Any]
    missing: list[str]


class AgentState(TypedDict, total=False):
    """The graph's state. ``forms`` is a stack: the last snapshot is the active form, the ones below it
    were interrupted by it and resume when it commits or is reset."""

    messages: Annotated[list[AnyMessage], add_messages]
    forms: list[FormSnapshot]
    # Each turn's input adds 1, so the counter numbers the user turns.
    turn: Annotated[int, operator.add]
    forced_tool: str | None
    error_rounds: int
    last_error: str | None
    stop: bool


def active_form(forms: list[FormSnapshot] | None) -> FormSnapshot | None:
    return forms[-1] if forms else None


def new_snapshot(form_id: str, name: str) -> FormSnapshot:
    return FormSnapshot(
        form_id=form_id,
        name=name,
        state=FormToolState.ACTIVE.value,
        values={},
        errors={},
        summary_turn=None,
    )
