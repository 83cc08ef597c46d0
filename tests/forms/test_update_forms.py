"""Update forms: which record, what changes; the summary shows old → new; only changes are written."""

from __future__ import annotations

import pytest

from tests.forms.conftest import add_company, add_opportunity
from tests.forms.conversation import Conversation, call


@pytest.fixture
def chat(crm):
    conversation = Conversation(crm)
    yield conversation
    conversation.agent.close()


def test_update_summary_shows_old_and_new_for_each_change_only(chat, crm):
    add_company(crm, "Acme", "acme.com", employees=120)
    reply = chat.say(
        "Acme has 300 people now",
        call("UpdateCompanyStart"),
        call("FormUpdate", {"record": "Acme", "employees": 300, "domain": "acme.com"}),
    )
    assert reply.text == (
        "Update company Acme:\n- Employees: 120 → 300\nAnything else to change, or shall I save it?"
    )


def test_an_empty_field_is_shown_as_empty_before_its_first_value(chat, crm):
    add_company(crm, "Acme")
    reply = chat.say(
        "Acme's domain is acme.io",
        call("UpdateCompanyStart"),
        call("FormUpdate", {"record": "Acme", "domain": "acme.io"}),
    )
    assert "- Domain: (empty) → acme.io\n" in reply.text


def test_naming_the_record_without_a_change_asks_what_to_change(chat, crm):
    add_company(crm, "Acme", employees=120)
    reply = chat.say(
        "Update Acme",
        call("UpdateCompanyStart"),
        call("FormUpdate", {"record": "Acme", "employees": 120}),
        "What should change?",
    )
    assert reply.form["state"] == "ACTIVE"
    assert (
        "Next field to ask the user: changes (what to change; fields: name, domain, address, employees)"
        in (chat.tool_results()[-1])
    )


def test_confirmed_update_writes_only_the_changed_fields(chat, crm):
    acme = add_company(crm, "Acme", "acme.com", employees=120)
    chat.say(
        "Acme has 300 people",
        call("UpdateCompanyStart"),
        call("FormUpdate", {"record": "Acme", "employees": 300, "name": "Acme"}),
    )
    # Someone renames the company between the summary and the "yes": the rename must survive.
    crm.update("company", acme["id"], {"name": "Acme Inc"})
    reply = chat.say("yes", call("FormFinalize", {"confirm": True}))
    record = crm.get("company", acme["id"])["data"]["company"]
    assert (record["name"], record["employees"]) == ("Acme Inc", 300)
    assert reply.text == f"Updated company Acme Inc (id={acme['id']})."


def test_updating_an_amount_keeps_the_currency(chat, crm):
    deal = add_opportunity(crm, "Pilot", amount={"amountMicros": 10_000_000_000, "currencyCode": "EUR"})
    reply = chat.say(
        "Pilot is 12k now",
        call("UpdateOpportunityStart"),
        call("FormUpdate", {"record": "Pilot", "amount": "12k"}),
    )
    assert "- Amount: 10,000 → 12,000\n" in reply.text
    chat.say("ok", call("FormFinalize", {"confirm": True}))
    amount = crm.get("opportunity", deal["id"])["data"]["opportunity"]["amount"]
    assert amount == {"amountMicros": 12_000_000_000, "currencyCode": "EUR"}


def test_an_unknown_record_to_update_is_reported(chat, crm):
    chat.say(
        "Update Initech",
        call("UpdateCompanyStart"),
        call("FormUpdate", {"record": "Initech", "employees": 5}),
        "I can't find Initech.",
    )
    assert "record: No company matches 'Initech'." in chat.tool_results()[-1]


def test_task_status_and_due_date_update_with_natural_values(chat, crm):
    task = crm.create("task", {"title": "Call Jane"})["data"]["createTask"]
    reply = chat.say(
        "Call Jane is in progress, due next Friday",
        call("UpdateTaskStart"),
        call("FormUpdate", {"record": "Call Jane", "status": "in progress", "due_date": "next Friday"}),
    )
    assert "- Due date: (empty) → 2026-01-09 (Friday)\n" in reply.text
    assert "- Status: TODO → IN_PROGRESS\n" in reply.text
    chat.say("yes", call("FormFinalize", {"confirm": True}))
    stored = crm.get("task", task["id"])["data"]["task"]
    assert (stored["status"], stored["dueAt"][:10]) == ("IN_PROGRESS", "2026-01-09")
