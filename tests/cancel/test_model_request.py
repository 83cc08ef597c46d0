"""Cancelling a turn closes its model request: with the real ChatOpenAI client against a local server that
holds its answer, the abandoned HTTP connection drops and the thread's next message reaches the model
while the first answer is still held (it never is released)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest

from converso import FormAgentExecutor
from converso.form_agent import ModelFactory
from converso.testing.held_model import HeldModelServer
from tests.engine.forms import CreateCompany


@pytest.fixture
def held() -> Iterator[HeldModelServer]:
    with HeldModelServer("Hello again.", hold=1) as server:
        yield server


@pytest.fixture
def executor(held: HeldModelServer, tmp_path) -> Iterator[FormAgentExecutor]:
    model = ModelFactory("held", base_url=held.base_url, api_key="test", max_retries=0)
    with FormAgentExecutor([CreateCompany()], model, str(tmp_path / "threads.sqlite")) as executor:
        yield executor


async def test_an_undone_turn_closes_its_model_request_and_the_next_message_goes_through(
    held: HeldModelServer, executor: FormAgentExecutor
) -> None:
    async def consume() -> None:
        async for _ in executor.astream("t", "hello", if_abandoned="undo"):
            pass

    task = asyncio.create_task(consume())
    assert await asyncio.to_thread(held.wait_for_requests, 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(held.wait_for_drops, 1)
    reply = await executor.asend("t", "are you there?")
    assert reply.text == "Hello again."
    assert held.requests == 2 and held.answered == 1
    assert [m.text for m in await executor.amessages("t")] == ["are you there?", "Hello again."]


def test_a_sync_stream_cancelled_from_another_thread_closes_its_model_request(
    held: HeldModelServer, executor: FormAgentExecutor
) -> None:
    cancel = threading.Event()
    threading.Thread(target=lambda: held.wait_for_requests(1) and cancel.set(), daemon=True).start()

    events = list(executor.stream("t", "hello", cancel=cancel))

    assert events[-1].reply.error == "Stopped; nothing from this message was kept."
    assert held.wait_for_drops(1)
    assert executor.send("t", "are you there?").text == "Hello again."
    assert executor.messages("t")[0].text == "are you there?"


async def test_a_turn_kept_when_abandoned_still_gets_its_answer(
    held: HeldModelServer, executor: FormAgentExecutor
) -> None:
    async def consume() -> None:
        async for _ in executor.astream("t", "hello"):
            pass

    task = asyncio.create_task(consume())
    assert await asyncio.to_thread(held.wait_for_requests, 1)
    task.cancel()
    held.release()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert held.dropped == 0
    assert [m.text for m in await executor.amessages("t")] == ["hello", "Hello again."]
