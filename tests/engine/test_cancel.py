"""Cancelling a turn: an undone turn leaves the thread exactly as it was before it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Any

from converso import ErrorEvent, ReplyEvent
from tests.engine.conftest import call
from tests.engine.forms import CreateCompany


class SlowAnswer:
    """A script item that holds the model call until released, so a test can cancel during it."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.called = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: Any) -> Any:
        self.called.set()
        self.release.wait(10)
        return self.answer


async def cancel_during(executor, thread_id: str, text: str, slow: SlowAnswer, **options: Any) -> list:
    """Consume the turn's stream until the slow model call starts, then cancel the consumer."""
    seen: list = []

    async def consume() -> None:
        async for event in executor.astream(thread_id, text, **options):
            seen.append(event)

    task = asyncio.create_task(consume())
    await asyncio.to_thread(slow.called.wait, 10)
    task.cancel()
    if options.get("if_abandoned") != "undo":
        # A turn that is finished holds its cancelled consumer until the model answers.
        asyncio.get_running_loop().call_later(0.05, slow.release.set)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    slow.release.set()
    return seen


def summary_script() -> list:
    return [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme", "employees": 250}),
        "Acme, 250 people. Save it?",
    ]


async def test_an_undone_turn_leaves_the_thread_as_before_it(make_executor) -> None:
    slow = SlowAnswer(call("FormUpdate", {"employees": 300}))
    executor, _ = make_executor([CreateCompany()], [*summary_script(), slow, "Hello again."])
    await executor.asend("t", "Add Acme, 250 people")
    before = [m.text for m in executor.messages("t")]
    await cancel_during(executor, "t", "make it 300", slow, if_abandoned="undo")
    await executor.asend("t", "hi")
    assert [m.text for m in executor.messages("t")] == [*before, "hi", "Hello again."]
    assert executor.get_form("t")["values"]["employees"] == 250


async def test_the_consumer_of_an_undone_turn_is_released_before_the_model_answers(make_executor) -> None:
    slow = SlowAnswer("Hello.")
    executor, _ = make_executor([CreateCompany()], [slow])
    task = asyncio.create_task(anext(executor.astream("t", "hello", if_abandoned="undo")))
    await asyncio.to_thread(slow.called.wait, 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert not slow.release.is_set()
    slow.release.set()


async def test_an_undone_first_turn_leaves_no_thread(make_executor) -> None:
    slow = SlowAnswer("Hello.")
    executor, _ = make_executor([CreateCompany()], [slow, "Hi."])
    await cancel_during(executor, "t", "hello", slow, if_abandoned="undo")
    await executor.asend("t", "hi")
    assert [m.text for m in executor.messages("t")] == ["hi", "Hi."]


async def test_an_undone_turn_stops_before_the_tool_calls_of_the_answer_under_way(make_executor) -> None:
    form = CreateCompany()
    slow = SlowAnswer(call("FormFinalize", {"confirm": True}))
    executor, _ = make_executor([form], [*summary_script(), slow, "Still here."])
    await executor.asend("t", "Add Acme, 250 people")
    await cancel_during(executor, "t", "yes", slow, if_abandoned="undo")
    await executor.asend("t", "hello")  # runs once the undo is done
    assert form.ledger.writes == []
    assert executor.get_form("t")["state"] == "FILLED"


async def test_a_commit_made_by_an_undone_turn_is_not_written_again_when_confirmed_again(
    make_executor,
) -> None:
    form = CreateCompany()
    slow = SlowAnswer("Saved.")
    script = [*summary_script(), call("FormFinalize", {"confirm": True}), slow]
    script += [call("FormFinalize", {"confirm": True}), "Saved."]
    executor, model = make_executor([form], script)
    await executor.asend("t", "Add Acme, 250 people")
    await cancel_during(executor, "t", "yes", slow, if_abandoned="undo")
    await executor.asend("t", "yes, save it")
    assert len(form.ledger.writes) == 1
    assert [context.form_id for context, _ in form.commits] == ["form-1", "form-1"]
    assert model.requests[-1].last_tool_result == "CreateCompany saved. Result: CreateCompany record 1"
    assert executor.get_form("t") is None


async def test_an_abandoned_turn_is_finished_and_kept_by_default(make_executor) -> None:
    slow = SlowAnswer(call("FormUpdate", {"employees": 300}))
    executor, _ = make_executor([CreateCompany()], [*summary_script(), slow, "Acme, 300 people. Save it?"])
    await executor.asend("t", "Add Acme, 250 people")
    await cancel_during(executor, "t", "make it 300", slow)
    assert executor.get_form("t")["values"]["employees"] == 300
    assert executor.messages("t")[-1].text == "Acme, 300 people. Save it?"


def test_a_cancelled_sync_stream_ends_saying_nothing_was_kept(make_executor) -> None:
    slow = SlowAnswer("Hello.")
    executor, _ = make_executor([CreateCompany()], [slow])
    cancel = threading.Event()
    threading.Thread(target=lambda: (slow.called.wait(10), cancel.set(), slow.release.set())).start()
    events = list(executor.stream("t", "hello", cancel=cancel))
    assert [type(event) for event in events] == [ErrorEvent, ReplyEvent]
    assert events[-1].reply.error == "Stopped; nothing from this message was kept."
    assert executor.messages("t") == []


async def test_turn_threads_leave_ctrl_c_to_the_main_thread(make_executor) -> None:
    # A Ctrl-C the kernel hands to a turn's worker would never wake `converso chat` at its prompt.
    masks: list[set] = []

    def answer(request: Any) -> str:
        masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        return "Hello"

    executor, _ = make_executor([CreateCompany()], [answer])

    reply = await executor.asend("t1", "hi")

    assert reply.text == "Hello"
    assert signal.SIGINT in masks[0] and signal.SIGTERM in masks[0]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
