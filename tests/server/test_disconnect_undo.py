"""A client that asked for ``if_disconnected: "undo"`` and goes away mid-turn: the turn is undone at
once, its model request closed (the real ChatOpenAI client against a local server holding its answer), and
the thread's next message, from a new connection, reaches the model while that answer is still held."""

from __future__ import annotations

import asyncio
from pathlib import Path

from converso import FormAgentExecutor
from converso.form_agent import ModelFactory
from converso.testing.held_model import HeldModelServer
from tests.server.conftest import CreateTicket, client_of, running


async def test_a_client_gone_mid_turn_with_undo_closes_the_model_request_and_keeps_nothing(
    tmp_path: Path,
) -> None:
    with HeldModelServer("Hello again.", hold=1) as held:
        model = ModelFactory("held", base_url=held.base_url, api_key="test", max_retries=0)
        agent = FormAgentExecutor([CreateTicket()], model, str(tmp_path / "threads.sqlite"))
        try:
            async with running(agent, str(tmp_path / "server.sqlite")) as server:
                async with client_of(server) as client:
                    await client.auth()
                    thread_id = (await client.open())["thread_id"]
                    await client.send(type="message", text="hello", if_disconnected="undo")
                    assert await asyncio.to_thread(held.wait_for_requests, 1)
                assert await asyncio.to_thread(held.wait_for_drops, 1)

                async with client_of(server) as client:
                    await client.auth()
                    await client.open(thread_id)
                    frames = await client.turn("are you there?")
            assert frames[-1]["type"] == "reply" and frames[-1]["text"] == "Hello again."
            assert [m.text for m in await agent.amessages(thread_id)] == ["are you there?", "Hello again."]
        finally:
            await asyncio.to_thread(agent.close)


async def test_a_client_gone_mid_turn_by_default_still_gets_its_turn_kept(tmp_path: Path) -> None:
    with HeldModelServer("Hello again.", hold=1) as held:
        model = ModelFactory("held", base_url=held.base_url, api_key="test", max_retries=0)
        agent = FormAgentExecutor([CreateTicket()], model, str(tmp_path / "threads.sqlite"))
        try:
            async with running(agent, str(tmp_path / "server.sqlite")) as server:
                async with client_of(server) as client:
                    await client.auth()
                    thread_id = (await client.open())["thread_id"]
                    await client.send(type="message", text="hello")
                    assert await asyncio.to_thread(held.wait_for_requests, 1)
                held.release()
            # Shutting the server down waited for the turn.
            assert held.dropped == 0
            assert [m.text for m in await agent.amessages(thread_id)] == ["hello", "Hello again."]
        finally:
            await asyncio.to_thread(agent.close)
