"""The bounded window of the conversation sent to the model."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AnyMessage, ToolMessage


def history_window(messages: Sequence[AnyMessage], size: int) -> list[AnyMessage]:
    """At most ``size`` messages, the last ones, widened backwards so the window never opens on a
    ToolMessage: a tool result is always sent with the AI message that called it (providers reject
    orphaned results).

    Once the history outgrows the window, its start moves forward in steps of half the window rather than
    one message per call: a provider caches the longest prefix a request shares with an earlier one, and
    a window that slid on every call would change the prefix right after the system prompt every time.
    So the window holds between half of ``size`` and ``size`` messages."""
    if size <= 0:
        raise ValueError(f"history window must hold at least one message, got {size}")
    step = max(1, size // 2)
    overflow = len(messages) - size
    start = 0 if overflow <= 0 else -(-overflow // step) * step
    while start > 0 and isinstance(messages[start], ToolMessage):
        start -= 1
    return list(messages[start:])
