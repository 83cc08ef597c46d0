"""The bounded window of the conversation sent to the model."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AnyMessage, ToolMessage


def history_window(messages: Sequence[AnyMessage], size: int) -> list[AnyMessage]:
    """The last ``size`` messages, widened backwards so the window never opens on a ToolMessage: a tool
    result is always sent with the AI message that called it (providers reject orphaned results)."""
    if size <= 0:
        raise ValueError(f"history window must hold at least one message, got {size}")
    start = max(0, len(messages) - size)
    while start > 0 and isinstance(messages[start], ToolMessage):
        start -= 1
    return list(messages[start:])
