"""The data a conversation carries: form snapshots and the graph's state.

Everything here is plain JSON-serializable data, so any LangGraph checkpointer can store it and a
restarted process resumes exactly where the conversation stopped.
"""

from __future__ import annotations

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


class FieldDisplay(TypedDict):
    name: str
    label: str
    """From the field's ``title``, else its name in words ("first_name" becomes "First name")."""
    hint: str | None
    """The field's description, when it says more than the label."""
    value: str | None
    """The value as a person reads it (a linked record by its name), None while missing."""
    required: bool


class FormDisplay(TypedDict):
    """The active form as a person sees it (chat page, widget): labels instead of field names."""

    name: str
    title: str
    """What the form does, for a person ("New company")."""
    state: str
    fields: list[FieldDisplay]
    """Filled fields and missing required ones, in declaration order."""
    next: str | None
    """The field the assistant asks for next."""
    can_confirm: bool
    """FILLED: the summary was shown; a confirmation saves the form."""


class FormAgentState(TypedDict, total=False):
    """The public state of the form graph: what a client reads in the thread state, and the keys a parent
    graph must declare (subclass this) to embed the form graph as a subgraph and keep the form between
    runs. ``forms`` is a stack: the last snapshot is the active form, the ones below it were interrupted
    by it and resume when it commits or is reset. ``form`` is the active form as surfaces show it."""

    messages: Annotated[list[AnyMessage], add_messages]
    forms: list[FormSnapshot]
    form: PublicForm | None
    # The user turns, counted by the graph's entry node: a run whose newest message is a user message it
    # has not counted yet (``turn_message_id``) starts a new turn. Plain ``{"messages": [...]}`` input is
    # enough, so the consent guard holds however the graph is run.
    turn: int
    turn_message_id: str | None


class AgentState(FormAgentState, total=False):
    """The graph's whole state: the public keys and the per-run fields, which the entry node resets at the
    start of every run (so a parent graph need not carry them)."""

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
