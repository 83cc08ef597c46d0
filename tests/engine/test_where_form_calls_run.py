"""Where a form's hooks run when turns run on the executor's loop: in place when the form says they only
compute (``hooks_may_block()`` False), on a thread otherwise, since they may wait on I/O and would stall
every other conversation of the loop."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from converso import FormContext
from tests.engine.conftest import call
from tests.engine.forms import CreateCompany


class RecordingCompany(CreateCompany):
    """CreateCompany noting the thread each hook runs on."""

    blocks: ClassVar[bool] = True
    seen: ClassVar[dict[str, threading.Thread]] = {}

    def hooks_may_block(self) -> bool:
        return self.blocks

    def resolve_field(self, name: str, value: Any, context: FormContext) -> Any:
        self.seen["resolve_field"] = threading.current_thread()
        return value

    def display_value(self, name: str, value: Any) -> str:
        self.seen["display"] = threading.current_thread()
        return super().display_value(name, value)

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        self.seen["commit"] = threading.current_thread()
        return super()._run_when_complete(context, **fields)


class ComputingCompany(RecordingCompany):
    blocks: ClassVar[bool] = False
    seen: ClassVar[dict[str, threading.Thread]] = {}


class BlockingCompany(RecordingCompany):
    seen: ClassVar[dict[str, threading.Thread]] = {}


SCRIPT = [
    call("CreateCompanyStart", {"name": "Acme", "employees": 12}),
    "Acme, 12 people. Save it?",
    call("FormFinalize", {"confirm": True}),
    "Saved.",
]


def loop_thread(executor: Any) -> threading.Thread:
    async def current() -> threading.Thread:
        return threading.current_thread()

    return executor.run_on_loop(current())


def test_a_form_whose_hooks_only_compute_is_filled_in_and_shown_on_the_loop(make_executor) -> None:
    executor, _ = make_executor([ComputingCompany()], SCRIPT)
    filled = executor.send("t", "Add Acme, 12 people")
    assert filled.form["state"] == "FILLED"
    executor.run_on_loop(executor.aform_display(filled.form))
    executor.send("t", "yes")
    on_loop = loop_thread(executor)
    assert ComputingCompany.seen["resolve_field"] is on_loop
    assert ComputingCompany.seen["display"] is on_loop
    # A commit may write to a database, whatever the form says of its hooks.
    assert ComputingCompany.seen["commit"] is not on_loop


def test_a_form_whose_hooks_may_block_is_filled_in_and_shown_on_a_thread(make_executor) -> None:
    executor, _ = make_executor([BlockingCompany()], SCRIPT)
    filled = executor.send("t", "Add Acme, 12 people")
    executor.run_on_loop(executor.aform_display(filled.form))
    executor.send("t", "yes")
    on_loop = loop_thread(executor)
    assert {name: thread is on_loop for name, thread in BlockingCompany.seen.items()} == {
        "resolve_field": False,
        "display": False,
        "commit": False,
    }
