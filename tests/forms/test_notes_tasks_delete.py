"""Notes and tasks linked to what they are about, and deleting a record as a confirmed form."""

from __future__ import annotations

import pytest

from tests.forms.conftest import add_company, add_opportunity, add_person
from tests.forms.conversation import Conversation, call


@pytest.fixture
def chat(crm):
    conversation = Conversation(crm)
    yield conversation
    conversation.agent.close()


def test_a_note_about_a_person_is_linked_to_that_person(chat, crm):
    jane = add_person(crm, "Jane", "Doe", "jane@acme.com")
    reply = chat.say(
        "Note on Jane: prefers email",
        call("CreateNoteStart"),
        call("FormUpdate", {"body": "Prefers email", "about": "jane@acme.com"}),
    )
    assert "- About: Jane Doe (person)\n" in reply.text
    chat.say("yes", call("FormFinalize", {"confirm": True}))
    [note] = crm.list("note")["data"]["notes"]
    [target] = crm.list("noteTarget")["data"]["noteTargets"]
    assert (target["noteId"], target["personId"]) == (note["id"], jane["id"])


def test_a_task_due_on_a_natural_date_about_an_opportunity(chat, crm):
    deal = add_opportunity(crm, "Acme pilot")
    reply = chat.say(
        "Task: send the proposal for Acme pilot by 1 Feb",
        call("CreateTaskStart"),
        call("FormUpdate", {"title": "Send proposal", "due_date": "1 Feb", "about": "Acme pilot"}),
    )
    assert "- Due date: 2026-02-01 (Sunday)\n- Status: TODO (default)\n" in reply.text
    chat.say("yes", call("FormFinalize", {"confirm": True}))
    [task] = crm.list("task")["data"]["tasks"]
    [target] = crm.list("taskTarget")["data"]["taskTargets"]
    assert (task["dueAt"][:10], task["status"], target["opportunityId"]) == ("2026-02-01", "TODO", deal["id"])


def test_moving_a_task_to_another_record_replaces_its_link(chat, crm):
    acme = add_company(crm, "Acme")
    globex = add_company(crm, "Globex")
    chat.say("Task for Acme", call("CreateTaskStart"), call("FormUpdate", {"title": "Demo", "about": "Acme"}))
    chat.say("yes", call("FormFinalize", {"confirm": True}))
    reply = chat.say(
        "The demo is for Globex",
        call("UpdateTaskStart"),
        call("FormUpdate", {"record": "Demo", "about": "Globex"}),
    )
    assert "- About: Acme (company) → Globex (company)\n" in reply.text
    chat.say("yes", call("FormFinalize", {"confirm": True}))
    targets = crm.list("taskTarget")["data"]["taskTargets"]
    assert [t["companyId"] for t in targets] == [globex["id"]]
    assert acme["id"] not in str(targets)


def test_delete_asks_for_confirmation_then_deletes(chat, crm):
    acme = add_company(crm, "Acme", "acme.com")
    reply = chat.say("Delete acme.com", call("DeleteRecordStart"), call("FormUpdate", {"record": "acme.com"}))
    assert reply.text == "Delete Acme (company)? This cannot be undone. Shall I delete it?"
    assert len(crm.list("company")["data"]["companies"]) == 1
    reply = chat.say("yes", call("FormFinalize", {"confirm": True}))
    assert reply.text == f"Deleted company Acme (id={acme['id']})."
    assert crm.list("company")["data"]["companies"] == []


def test_saying_no_at_the_delete_summary_keeps_the_record(chat, crm):
    add_company(crm, "Acme")
    chat.say("Delete Acme", call("DeleteRecordStart"), call("FormUpdate", {"record": "Acme"}))
    chat.say("no, keep it", call("FormFinalize", {"confirm": False}), call("FormReset"), "Kept.")
    assert len(crm.list("company")["data"]["companies"]) == 1
