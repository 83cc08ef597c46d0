"""What a person sees: labels from the form's declarations, activity phrases, the history of a thread,
and a structured confirmation (a Confirm button) that saves the FILLED form without a model call."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import ToolMessage

from tests.engine.conftest import call
from tests.engine.forms import CreateCompany


def run(executor: Any, text: str, **options: Any) -> list[Any]:
    async def collect() -> list[Any]:
        return [event async for event in executor.astream("t", text, **options)]

    return asyncio.run(collect())


FILL = [
    call("CreateCompanyStart"),
    call("FormUpdate", {"name": "Acme"}),
    "How many people work at Acme?",
    call("FormUpdate", {"employees": 250}),
    "Acme, 250 people. Shall I save it?",
]


def test_the_form_display_has_the_declared_labels_and_the_next_field(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], FILL[:3])
    reply = executor.send("t", "add Acme")
    display = executor.form_display(reply.form)
    assert display["title"] == "Create a company" and display["state"] == "ACTIVE"
    assert [(f["name"], f["label"], f["value"], f["required"]) for f in display["fields"]] == [
        ("name", "Name", "Acme", True),
        ("employees", "Employees", None, True),
    ]
    assert display["fields"][1]["hint"] == "How many people work there"
    assert display["next"] == "employees" and display["can_confirm"] is False
    assert executor.form_display(None) is None


def test_activity_phrases_name_the_form_not_the_tool(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], [])
    assert executor.activity("CreateCompanyStart") == "Starting: Create a company"
    assert executor.activity("FormUpdate", "CreateCompany") == "Filling in: Create a company"
    assert executor.activity("FormFinalize", "CreateCompany") == "Saving: Create a company"
    # The shared tools act on the active form; without its name the phrase stays general.
    assert executor.activity("FormUpdate") == "Filling in the form"
    assert executor.activity("FormReset") == "Dropping the form"
    assert "Create" not in executor.activity("unknown_tool")


def test_a_confirmation_saves_the_filled_form_without_asking_the_model(make_executor) -> None:
    form = CreateCompany()
    executor, model = make_executor([form], [*FILL, "Saved: Acme is in."])
    executor.send("t", "add Acme")
    executor.send("t", "250")
    calls_before = len(model.requests)
    events = run(executor, "Yes, save it.", confirm="CreateCompany")
    # The save came first; the model is asked only to comment on its result.
    assert len(model.requests) == calls_before + 1
    last_seen = model.requests[-1].messages[-2]  # the last message before the state note
    assert isinstance(last_seen, ToolMessage) and last_seen.name == "FormFinalize"
    assert [e.type for e in events if e.type != "token"] == ["tool", "form", "reply"]
    assert events[0].name == "FormFinalize" and events[0].args == {"confirm": True}
    assert events[-1].reply.text == "Saved: Acme is in."
    assert form.ledger.writes == [{"name": "Acme", "employees": 250, "domain": None, "ideal_customer": None}]
    assert executor.get_form("t") is None
    assert executor.history("t")[-2:] == [
        {"role": "user", "text": "Yes, save it."},
        {"role": "assistant", "text": "Saved: Acme is in."},
    ]


def test_a_confirmation_of_a_form_that_is_not_filled_is_an_ordinary_message(make_executor) -> None:
    form = CreateCompany()
    executor, _ = make_executor([form], [*FILL[:3], "Acme still needs its number of employees."])
    executor.send("t", "add Acme")
    events = run(executor, "Yes, save it.", confirm="CreateCompany")
    assert events[-1].reply.text == "Acme still needs its number of employees."
    assert form.ledger.writes == []
    assert executor.get_form("t")["state"] == "ACTIVE"


def test_history_shows_each_message_and_each_reply_and_is_bounded(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], FILL)
    executor.send("t", "add Acme")
    executor.send("t", "250")
    assert executor.history("t") == [
        {"role": "user", "text": "add Acme"},
        {"role": "assistant", "text": "How many people work at Acme?"},
        {"role": "user", "text": "250"},
        {"role": "assistant", "text": "Acme, 250 people. Shall I save it?"},
    ]
    assert executor.history("t", limit=1) == [
        {"role": "assistant", "text": "Acme, 250 people. Shall I save it?"}
    ]
    assert executor.history("unknown") == []
