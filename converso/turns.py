"""A turn the user can take back: cancelling it leaves the thread exactly as it was before it.

The engine runs a turn on a worker thread and lets it finish even when its stream is abandoned
(so a dropped client never leaves a half-written turn). A user pressing Ctrl-C wants the
opposite: the message forgotten. So after a cancelled turn has ended, its checkpoint is replaced
by a copy of the one it started from, as the engine does for a failed turn. A commit that
already happened is not undone in the CRM, but its form comes back with the same form id, so
confirming it again returns the first record instead of writing a second one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def _restore(agent: Any, thread_id: str, before: Any) -> None:
    graph = agent.graph
    if before.config.get("configurable", {}).get("checkpoint_id") is None:
        graph.checkpointer.delete_thread(thread_id)
    else:
        graph.update_state(before.config, None, as_node="__copy__")


async def undoable_stream(agent: Any, thread_id: str, text: str) -> AsyncIterator[Any]:
    """``agent.astream(thread_id, text)``; if the consumer is cancelled, the turn is rolled back."""
    before = await asyncio.to_thread(agent.graph.get_state, _config(thread_id))
    stream = agent.astream(thread_id, text)
    try:
        async for event in stream:
            yield event
    except (asyncio.CancelledError, GeneratorExit):
        # Closing the engine's stream waits for the turn to end; only then can it be undone.
        await asyncio.shield(_finish_and_restore(agent, stream, thread_id, before))
        raise


async def _finish_and_restore(agent: Any, stream: Any, thread_id: str, before: Any) -> None:
    try:
        await stream.aclose()
    finally:
        await asyncio.to_thread(_restore, agent, thread_id, before)
