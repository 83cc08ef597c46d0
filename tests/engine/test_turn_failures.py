"""A turn is all or nothing: a failing model leaves the thread exactly as it was before the turn."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from tests.engine.conftest import call
from tests.engine.forms import CreateCompany
from tests.engine.test_executor import company_script


class ProviderDown(RuntimeError):
    pass


def test_a_failing_model_ends_the_turn_with_a_clear_reply(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], [ProviderDown("503 from provider")])
    reply = executor.send("t", "hello")
    assert reply.text.startswith("Sorry, the language model failed (ProviderDown: 503 from provider).")
    assert reply.error == reply.text
    assert reply.form is None


def test_a_failing_model_leaves_the_checkpointed_state_as_before_the_turn(make_executor) -> None:
    script = [*company_script()[:3], call("FormUpdate", {"employees": 7}), ProviderDown("timeout")]
    executor, _ = make_executor([CreateCompany()], script)
    executor.send("t", "Add Acme")
    config = {"configurable": {"thread_id": "t"}}
    before = executor.graph.get_state(config).values
    reply = executor.send("t", "7 people")
    assert reply.form == {
        "name": "CreateCompany",
        "state": "ACTIVE",
        "values": {"name": "Acme"},
        "missing": ["employees"],
    }
    assert executor.graph.get_state(config).values == before
    assert executor.graph.get_state(config).next == ()


def test_the_turn_after_a_failure_does_not_see_the_failed_message(make_executor) -> None:
    executor, model = make_executor([CreateCompany()], ["hi", ProviderDown("x"), "still here"])
    executor.send("t", "first")
    executor.send("t", "lost message")
    assert executor.send("t", "again").text == "still here"
    sent = [m.text for m in model.requests[-1].messages[:-1] if isinstance(m, HumanMessage)]
    assert sent == ["first", "again"]


def test_a_failing_first_turn_leaves_no_thread_behind(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], [call("CreateCompanyStart"), ProviderDown("x")])
    executor.send("new", "Add a company")
    assert executor.messages("new") == []
    assert executor.get_form("new") is None


def test_a_commit_replayed_after_a_failed_turn_writes_once(make_executor) -> None:
    form = CreateCompany()
    script = [
        *company_script()[:5],
        call("FormFinalize", {"confirm": True}),
        ProviderDown("lost the answer after the commit"),
        call("FormFinalize", {"confirm": True}),
        "Saved.",
    ]
    executor, _ = make_executor([form], script)
    executor.send("t", "Add Acme")
    executor.send("t", "250")
    failed = executor.send("t", "yes")
    assert failed.error is not None
    assert failed.form["state"] == "FILLED"
    assert executor.send("t", "yes").text == "Saved."
    assert [context.form_id for context, _ in form.commits] == ["form-1", "form-1"]
    assert len(form.ledger.writes) == 1


class CountingSaver(SqliteSaver):
    """A real SQLite saver that counts how often the latest checkpoint of a thread is read."""

    reads = 0

    def get_tuple(self, config: Any) -> Any:
        self.reads += 1
        return super().get_tuple(config)


def test_a_turn_reads_the_thread_state_once(make_executor, tmp_path: Path) -> None:
    # Reading (and decoding) the whole history a second time per turn, to know where a failing turn
    # started, cost about a twentieth of a turn: the failure path finds the start instead.
    saver = CountingSaver(sqlite3.connect(tmp_path / "threads.sqlite", check_same_thread=False))
    saver.setup()
    executor, _ = make_executor([CreateCompany()], company_script(), checkpointer=saver)
    executor.send("t", "Add Acme")
    saver.reads = 0
    executor.send("t", "Acme, 7 people")
    assert saver.reads == 1


def test_a_failing_turn_after_a_failed_one_rolls_back_to_the_last_good_state(make_executor) -> None:
    script = [*company_script()[:3], ProviderDown("first"), ProviderDown("second"), "still here"]
    executor, _ = make_executor([CreateCompany()], script)
    executor.send("t", "Add Acme")
    config = {"configurable": {"thread_id": "t"}}
    good = executor.graph.get_state(config).values
    assert executor.send("t", "lost").error
    assert executor.send("t", "lost again").error
    assert executor.graph.get_state(config).values == good
    assert executor.send("t", "hello").text == "still here"
