"""callbacks=: LangChain handlers that see every model call and every tool call of every turn."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tools import tool

from tests.engine.conftest import call, calls
from tests.engine.forms import CreateCompany


@tool
def slow_lookup(name: str) -> str:
    """Look a company up by name, slowly."""
    time.sleep(0.05)
    return f"{name}: 250 employees"


class Runs(BaseCallbackHandler):
    """Each model and tool run as (kind, name, thread_id, seconds, ok), in the order they ended."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, str, str | None, float, bool]] = []
        self._started: dict[UUID, tuple[str, str, str | None, float]] = {}
        self._lock = threading.Lock()

    def _begin(self, run_id: UUID, kind: str, name: str, metadata: dict[str, Any] | None) -> None:
        with self._lock:
            self._started[run_id] = (kind, name, (metadata or {}).get("thread_id"), time.perf_counter())

    def _end(self, run_id: UUID, ok: bool) -> None:
        with self._lock:
            kind, name, thread_id, started = self._started.pop(run_id)
            self.ended.append((kind, name, thread_id, time.perf_counter() - started, ok))

    def on_chat_model_start(self, serialized, messages, *, run_id, metadata=None, **kwargs) -> None:
        self._begin(run_id, "model", "model", metadata)

    def on_llm_end(self, response, *, run_id, **kwargs) -> None:
        self._end(run_id, True)

    def on_tool_start(self, serialized, input_str, *, run_id, metadata=None, **kwargs) -> None:
        self._begin(run_id, "tool", kwargs.get("name") or serialized["name"], metadata)

    def on_tool_end(self, output, *, run_id, **kwargs) -> None:
        self._end(run_id, True)

    def on_tool_error(self, error, *, run_id, **kwargs) -> None:
        self._end(run_id, False)

    def tools(self) -> list[tuple[str, bool]]:
        return [(name, ok) for kind, name, _, _, ok in self.ended if kind == "tool"]


def test_callbacks_see_every_model_call_and_every_tool_call_with_the_thread(make_executor) -> None:
    runs = Runs()
    script = [call("CreateCompanyStart"), call("FormUpdate", {"name": "Acme"}), "How many people?"]
    executor, _ = make_executor([CreateCompany()], script, callbacks=[runs])
    executor.send("t-1", "Add Acme")
    assert [kind for kind, *_ in runs.ended] == ["model", "tool", "model", "tool", "model"]
    assert runs.tools() == [("CreateCompanyStart", True), ("FormUpdate", True)]
    assert {thread_id for _, _, thread_id, _, _ in runs.ended} == {"t-1"}


def test_refused_calls_reach_the_callbacks_as_failed_tool_runs(make_executor) -> None:
    runs = Runs()
    script = [calls(("FormFinalize", {"confirm": True}), ("slow_lookup", {"nom": "x"})), "Sorry."]
    executor, _ = make_executor([CreateCompany(), slow_lookup], script, callbacks=[runs])
    executor.send("t", "save it")
    assert runs.tools() == [("FormFinalize", False), ("slow_lookup", False)]


def test_each_tool_call_of_one_answer_has_its_own_duration(make_executor) -> None:
    runs = Runs()
    script = [
        calls(("slow_lookup", {"name": "Acme"}), ("CreateCompanyStart", {})),
        call("FormUpdate"),
    ]
    executor, _ = make_executor(
        [CreateCompany(), slow_lookup], [*script, "What is it called?"], callbacks=[runs]
    )
    executor.send("t", "Look up Acme and add it")
    durations = {name: seconds for kind, name, _, seconds, _ in runs.ended if kind == "tool"}
    assert durations["slow_lookup"] >= 0.05
    assert durations["CreateCompanyStart"] < 0.05


def test_a_handler_added_later_sees_the_turns_after_it(make_executor) -> None:
    runs = Runs()
    executor, _ = make_executor([CreateCompany()], ["Hello.", "Hello again."])
    executor.send("t", "hi")
    executor.callbacks.append(runs)
    executor.send("t", "hi")
    assert [kind for kind, *_ in runs.ended] == ["model"]
