"""How tool calls run: a deadline per call, bugs reported to the developer (or raised when strict), errors
the model can fix handed to the model, and the executor's hooks for tool results and the system prompt."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from langchain_core.messages import SystemMessage, ToolMessage
from langchain_core.tools import ToolException, tool

from converso import FormAgentExecutor, FormContext, TurnContext
from converso.form_agent.state import FormSnapshot
from converso.form_agent.tool_runner import ToolRunner
from tests.engine.conftest import NOW, call
from tests.engine.forms import CreateCompany, CreateEmployee
from tests.engine.test_executor import company_script, tool_results


def last_tool_results(model) -> list[str]:
    return [m.text for m in model.requests[-1].messages if isinstance(m, ToolMessage)]


# -- tool_timeout ---------------------------------------------------------------------------------------


class SlowDirectory:
    """A read tool that takes 6 s unless released: the test releases it once the turn is over."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()

        @tool
        def slow_lookup(name: str) -> str:
            """Look a company up in a slow directory."""
            self.started.set()
            self.release.wait(6)
            self.finished.set()
            return f"{name}: found"

        self.tool = slow_lookup


def test_a_tool_running_past_tool_timeout_becomes_an_error_message_and_the_turn_goes_on(
    make_executor,
) -> None:
    directory = SlowDirectory()
    script = [call("slow_lookup", {"name": "Acme"}), "The directory is too slow right now."]
    executor, model = make_executor([directory.tool], script, tool_timeout=1)
    try:
        reply = executor.send("t", "look up Acme")
        # The turn ended while the tool was still blocked: the deadline, not the tool, ended the wait.
        assert directory.started.is_set() and not directory.finished.is_set()
    finally:
        directory.release.set()
    assert reply.text == "The directory is too slow right now."
    assert reply.error is None
    result = last_tool_results(model)[-1]
    assert result.startswith("slow_lookup did not finish within the tool timeout of 1 s")
    assert [m.status for m in model.requests[-1].messages if isinstance(m, ToolMessage)] == ["error"]


def test_a_form_commit_running_past_the_timeout_keeps_the_form_filled(make_executor) -> None:
    form = CreateCompany()
    release = threading.Event()
    form.ledger.write = lambda key, record: release.wait(6) and "late"  # type: ignore[method-assign]
    script = [*company_script()[:5], call("FormFinalize", {"confirm": True}), "It is taking long."]
    executor, model = make_executor([form], script, tool_timeout=1)
    try:
        executor.send("t", "Add Acme")
        executor.send("t", "250")
        reply = executor.send("t", "yes")
    finally:
        release.set()
    assert "FormFinalize did not finish within the tool timeout" in last_tool_results(model)[-1]
    assert reply.form["state"] == "FILLED"


def test_the_async_runner_stops_waiting_at_the_timeout() -> None:
    directory = SlowDirectory()
    pool = ThreadPoolExecutor(1)
    runner = ToolRunner([directory.tool], timeout=0.2, pool=pool)
    forms: list[FormSnapshot] = []

    async def run() -> Any:
        return await runner.arun(forms, "slow_lookup", {"name": "x"}, TurnContext(), None, [directory.tool])

    try:
        outcome = asyncio.run(run())
        assert not directory.finished.is_set()
    finally:
        directory.release.set()
        pool.shutdown()
    assert outcome.is_error
    assert "did not finish within the tool timeout of 0.2 s" in outcome.message


def test_tool_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tool_timeout must be a positive number"):
        FormAgentExecutor([], _model([]), tool_timeout=0)


# -- bugs and the errors the model can fix --------------------------------------------------------------


class BuggyCompany(CreateCompany):
    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        return fields["employee_count"]  # a KeyError: the field is called employees


BUGGY_COMMIT = [*company_script()[:5], call("FormFinalize", {"confirm": True}), "Sorry."]


def test_a_key_error_in_a_commit_is_logged_with_its_traceback_and_the_model_gets_a_neutral_message(
    make_executor, caplog: pytest.LogCaptureFixture
) -> None:
    executor, model = make_executor([BuggyCompany()], BUGGY_COMMIT)
    executor.send("t", "Add Acme")
    executor.send("t", "250")
    with caplog.at_level(logging.ERROR, logger="converso"):
        reply = executor.send("t", "yes")
    [record] = [r for r in caplog.records if r.name == "converso"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert "_run_when_complete" in caplog.text and "KeyError: 'employee_count'" in caplog.text
    assert (record.thread_id, record.tool) == ("t", "FormFinalize")
    message = last_tool_results(model)[-1]
    assert message.startswith("FormFinalize failed because of an internal error")
    assert "employee_count" not in message
    assert reply.text == "Sorry."
    assert reply.form["state"] == "FILLED"


def test_strict_raises_a_bug_out_of_the_turn_and_leaves_the_thread_as_before(make_executor) -> None:
    executor, _ = make_executor([BuggyCompany()], BUGGY_COMMIT, strict=True)
    executor.send("t", "Add Acme")
    executor.send("t", "250")
    with pytest.raises(KeyError, match="employee_count"):
        executor.send("t", "yes")
    assert executor.get_form("t")["state"] == "FILLED"
    assert [m.text for m in executor.messages("t")][-1] == "Acme, 250 people. Shall I save it?"


def test_a_bug_in_a_form_hook_is_logged_and_does_not_escape_the_turn(make_executor, caplog) -> None:
    class BrokenResolver(CreateEmployee):
        def resolve_field(self, name: str, value: Any, context: FormContext) -> Any:
            return self.directory[value]  # an AttributeError: there is no directory

    script = [call("CreateEmployeeStart"), call("FormUpdate", {"first_name": "Ada"}), "Hmm."]
    executor, model = make_executor([BrokenResolver()], script)
    with caplog.at_level(logging.ERROR, logger="converso"):
        reply = executor.send("t", "Add Ada")
    assert reply.text == "Hmm."
    assert "AttributeError" in caplog.text
    assert last_tool_results(model)[-1].startswith("FormUpdate failed because of an internal error")


@tool
def directory(name: str) -> str:
    """Look a company up."""
    if name == "unknown":
        raise ToolException("no company named 'unknown'; try the domain")
    raise RuntimeError("connection pool exhausted")


def test_a_tool_exception_goes_to_the_model_and_is_not_logged(make_executor, caplog) -> None:
    executor, model = make_executor([directory], [call("directory", {"name": "unknown"}), "Try the domain?"])
    with caplog.at_level(logging.ERROR, logger="converso"):
        executor.send("t", "look up unknown")
    assert last_tool_results(model) == ["directory failed: no company named 'unknown'; try the domain"]
    assert caplog.records == []


def test_a_bug_in_a_read_tool_is_logged_with_the_thread_and_the_tool(make_executor, caplog) -> None:
    executor, model = make_executor([directory], [call("directory", {"name": "Acme"}), "Sorry."])
    with caplog.at_level(logging.ERROR, logger="converso"):
        executor.send("support-7", "look up Acme")
    [record] = caplog.records
    assert (record.thread_id, record.tool) == ("support-7", "directory")
    assert "RuntimeError: connection pool exhausted" in caplog.text
    assert last_tool_results(model)[-1].startswith("directory failed because of an internal error")


def test_a_failing_on_tool_start_hook_is_logged_and_the_call_still_runs(make_executor, caplog) -> None:
    def on_tool_start(tool, tool_input):
        raise ValueError("hook bug")

    executor, _ = make_executor(
        [CreateCompany()], [call("CreateCompanyStart"), "Name?"], on_tool_start=on_tool_start
    )
    with caplog.at_level(logging.ERROR, logger="converso"):
        reply = executor.send("t", "Add a company")
    assert reply.form["name"] == "CreateCompany"
    assert "the on_tool_start hook raised ValueError" in caplog.text


# -- formatting tool results and the system prompt ---------------------------------------------------------


@tool
def headcount(name: str) -> dict:
    """How many people work at a company."""
    return {"company": name, "employees": 250}


def test_format_tool_result_turns_a_result_into_the_text_the_model_reads(make_executor) -> None:
    def brief(tool, result) -> str:
        return f"{tool.name}: " + ", ".join(f"{key}={value}" for key, value in result.items())

    executor, model = make_executor(
        [headcount], [call("headcount", {"name": "Acme"}), "250."], format_tool_result=brief
    )
    executor.send("t", "how big is Acme?")
    assert last_tool_results(model) == ["headcount: company=Acme, employees=250"]


def test_a_subclass_formats_tool_results_and_commit_results(make_executor) -> None:
    class Executor(FormAgentExecutor):
        def format_tool_result(self, tool, result) -> str:
            return f"<{tool.name}> {result}"

    model = _model(company_script())
    with Executor([CreateCompany()], model, clock=lambda: NOW) as executor:
        executor.send("t", "Add Acme")
        executor.send("t", "250")
        executor.send("t", "yes")
    assert tool_results(model, 6)[-1] == "CreateCompany saved. Result: <CreateCompany> CreateCompany record 1"


def _model(script: list[Any]):
    from converso.testing import ScriptedChatModel

    return ScriptedChatModel(responses=script)


def test_the_system_prompt_is_set_by_subclassing(make_executor) -> None:
    class AcmeAgent(FormAgentExecutor):
        system_prompt = "You are Acme's CRM assistant."

    model = _model(["Hello."])
    with AcmeAgent([CreateCompany()], model) as executor:
        executor.send("t", "hi")
    prompt = model.requests[0].messages[0]
    assert isinstance(prompt, SystemMessage)
    assert prompt.text.startswith("You are Acme's CRM assistant.\nTo create or change a record")


def test_the_whole_system_prompt_can_be_built_by_a_subclass() -> None:
    class Minimal(FormAgentExecutor):
        def build_system_prompt(self, forms, now: datetime, last_error: str | None) -> str:
            return f"{len(forms)} forms open at {now:%H:%M}"

    model = _model(["Hello."])
    with Minimal([CreateCompany()], model, clock=lambda: NOW) as executor:
        executor.send("t", "hi")
    assert model.requests[0].messages[0].text == "0 forms open at 10:00"


def test_the_system_prompt_parameter_wins_over_the_class_attribute() -> None:
    class AcmeAgent(FormAgentExecutor):
        system_prompt = "You are Acme's CRM assistant."

    model = _model(["Hello."])
    with AcmeAgent([CreateCompany()], model, system_prompt="You are terse.") as executor:
        executor.send("t", "hi")
    assert model.requests[0].messages[0].text.startswith("You are terse.")


class FlakyHint(CreateCompany):
    """Its next-field hook works once (for the Start result) and then fails (building the next prompt)."""

    calls: list[int] = []

    def get_next_field_to_collect(self, values: Any) -> str | None:
        self.calls.append(1)
        if len(self.calls) > 1:
            raise AttributeError("'CompanyFields' object has no attribute 'emplyees'")
        return super().get_next_field_to_collect(values)


def test_a_bug_in_a_hook_while_the_prompt_is_built_ends_the_turn_cleanly_and_is_logged(
    make_executor, caplog
) -> None:
    executor, _ = make_executor([FlakyHint(calls=[])], [call("CreateCompanyStart"), "never asked"])
    with caplog.at_level(logging.ERROR, logger="converso"):
        reply = executor.send("t", "Add a company")
    assert reply.error == reply.text
    assert reply.text.startswith("Sorry, something went wrong on our side")
    assert executor.get_form("t") is None
    [record] = caplog.records
    assert record.exc_info[0] is AttributeError
    assert (record.thread_id, record.tool) == ("t", "CreateCompany")


def test_a_bug_in_a_hook_while_the_prompt_is_built_is_raised_when_strict(make_executor) -> None:
    executor, _ = make_executor(
        [FlakyHint(calls=[])], [call("CreateCompanyStart"), "never asked"], strict=True
    )
    with pytest.raises(AttributeError, match="emplyees"):
        executor.send("t", "Add a company")
