"""Several `converso serve` workers sharing one PostgreSQL: a thread's turns never interleave."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from converso.testing import ScriptedRequest
from tests.server.conftest import KEY, OTHER_KEY, client_of, running

pytestmark = pytest.mark.postgres


class ConcurrencyProbe:
    """A model answer that records how many model calls of the thread overlap."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self._lock = threading.Lock()

    def answer(self, text: str) -> Any:
        def respond(request: ScriptedRequest) -> str:
            with self._lock:
                self.inside += 1
                self.most = max(self.most, self.inside)
            time.sleep(0.3)
            with self._lock:
                self.inside -= 1
            return text

        return respond


async def test_two_workers_process_messages_to_one_thread_one_at_a_time(
    make_agent: Any, postgres_database: str
) -> None:
    probe = ConcurrencyProbe()
    agent_a = make_agent([probe.answer("reply from A")], checkpointer=postgres_database)
    agent_b = make_agent([probe.answer("reply from B")], checkpointer=postgres_database)
    async with (
        running(agent_a, postgres_database) as worker_a,
        running(agent_b, postgres_database) as worker_b,
        client_of(worker_a) as tab_1,
        client_of(worker_b) as tab_2,
    ):
        await tab_1.auth()
        await tab_2.auth()
        thread_id = (await tab_1.open())["thread_id"]
        assert (await tab_2.open(thread_id))["resumed"] is True
        await asyncio.gather(tab_1.turn("first tab"), tab_2.turn("second tab"))
    assert probe.most == 1
    kinds = [type(m).__name__ for m in agent_a.messages(thread_id)]
    assert kinds == ["HumanMessage", "AIMessage", "HumanMessage", "AIMessage"]


async def test_ownership_is_shared_by_workers(make_agent: Any, postgres_database: str) -> None:
    async with (
        running(make_agent([]), postgres_database) as worker_a,
        running(make_agent([]), postgres_database) as worker_b,
    ):
        async with client_of(worker_a) as owner:
            await owner.auth(KEY)
            thread_id = (await owner.open())["thread_id"]
        async with client_of(worker_b) as intruder:
            await intruder.auth(OTHER_KEY)
            refused = await intruder.open(thread_id)
    assert refused["code"] == "thread_forbidden"
