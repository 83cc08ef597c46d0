"""Conversation binds one thread id to an executor."""

from __future__ import annotations

from converso import Conversation
from tests.engine.forms import CreateCompany
from tests.engine.test_executor import company_script


def test_a_conversation_sends_to_its_own_thread(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], company_script()[:3])
    conversation = Conversation(executor, "user-42")
    reply = conversation.send("Add Acme")
    assert reply.text == "How many people work at Acme?"
    assert conversation.form == executor.get_form("user-42")
    assert executor.get_form("someone-else") is None
    assert len(conversation.messages) == 6


def test_a_conversation_resets_its_form(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], company_script()[:3])
    conversation = Conversation(executor, "user-42")
    conversation.send("Add Acme")
    assert conversation.reset_form()["name"] == "CreateCompany"
    assert conversation.form is None
