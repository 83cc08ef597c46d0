"""What a turn produces: the reply, and the events streamed while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from converso.form_agent.state import PublicForm


@dataclass(frozen=True)
class Reply:
    """The answer to one user message. ``form`` is the active form after the turn, or None; ``error`` is
    set when the turn failed (the model failed, or too many tool calls in a row failed)."""

    text: str
    form: PublicForm | None = None
    error: str | None = None


@dataclass(frozen=True)
class TokenEvent:
    text: str
    type: Literal["token"] = "token"


@dataclass(frozen=True)
class ToolEvent:
    """One tool call of the model and its result."""

    name: str
    args: Any
    result: str
    is_error: bool = False
    type: Literal["tool"] = "tool"


@dataclass(frozen=True)
class FormEvent:
    """The active form changed (values, state, or which form is active)."""

    form: PublicForm | None
    type: Literal["form"] = "form"


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    type: Literal["error"] = "error"


@dataclass(frozen=True)
class ReplyEvent:
    reply: Reply
    type: Literal["reply"] = "reply"
    text: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", self.reply.text)


Event = TokenEvent | ToolEvent | FormEvent | ErrorEvent | ReplyEvent
