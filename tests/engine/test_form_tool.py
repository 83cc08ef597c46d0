"""The FormTool state machine on its own: no model, no graph, no checkpointer."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime

import pytest
from langchain_core.tools import ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from converso import (
    FormContext,
    FormFieldError,
    FormReset,
    FormStateError,
    FormTool,
    FormToolState,
    TurnContext,
)
from converso.form_agent import run_tool_call
from tests.engine.forms import CreateCompany, CreateEmployee, QuickNote, ScheduleMeeting

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def turn(number: int = 1) -> TurnContext:
    ids = itertools.count(1)
    return TurnContext(number=number, now=NOW, thread_id="t", new_id=lambda: f"form-{next(ids)}")


def started(form, forms=None):
    return form.start(forms or [], turn()).forms


def filled_company(form: CreateCompany):
    return form.update(started(form), {"name": "Acme", "employees": 250}, turn(1)).forms


# -- Start --------------------------------------------------------------------------------------------


def test_start_opens_an_active_form_with_a_fresh_id_and_forces_update() -> None:
    outcome = CreateCompany().start([], turn())
    assert outcome.forms == [
        {
            "form_id": "form-1",
            "name": "CreateCompany",
            "state": "ACTIVE",
            "values": {},
            "errors": {},
            "summary_turn": None,
        }
    ]
    assert outcome.force_tool == "FormUpdate"
    assert not outcome.is_error


def test_start_message_names_the_first_field_to_ask() -> None:
    message = CreateCompany().start([], turn()).message
    assert "FormUpdate" in message
    assert "name (The company's name)" in message


def test_start_while_a_form_is_active_pauses_it_on_the_stack() -> None:
    employee = CreateEmployee()
    forms = employee.update(started(employee), {"first_name": "Ada"}, turn()).forms
    outcome = CreateCompany().start(forms, turn())
    assert [f["name"] for f in outcome.forms] == ["CreateEmployee", "CreateCompany"]
    assert outcome.forms[0]["values"] == {"first_name": "Ada"}
    assert "CreateEmployee is paused" in outcome.message


def test_start_of_a_form_that_is_already_open_is_refused() -> None:
    form = CreateCompany()
    forms = started(form)
    outcome = form.start(forms, turn())
    assert outcome.is_error
    assert outcome.forms == forms


# -- Update -------------------------------------------------------------------------------------------


def test_update_stores_several_fields_in_one_call() -> None:
    form = CreateCompany()
    outcome = form.update(started(form), {"name": "Acme", "domain": "acme.com"}, turn())
    assert outcome.forms[-1]["values"] == {"name": "Acme", "domain": "acme.com"}
    assert outcome.forms[-1]["state"] == "ACTIVE"


def test_update_reports_the_next_required_field_with_its_description() -> None:
    form = CreateCompany()
    outcome = form.update(started(form), {"name": "Acme"}, turn())
    assert "Next field to ask the user: employees (How many people work there)" in outcome.message


def test_invalid_value_keeps_the_previous_value_and_names_the_field() -> None:
    form = CreateCompany()
    forms = form.update(started(form), {"name": "Acme", "domain": "acme.com"}, turn()).forms
    outcome = form.update(forms, {"domain": "nodot", "name": "Acme Inc"}, turn())
    assert outcome.is_error
    assert outcome.forms[-1]["values"] == {"name": "Acme Inc", "domain": "acme.com"}
    assert outcome.forms[-1]["errors"] == {"domain": "a domain looks like example.com"}
    assert "domain: a domain looks like example.com" in outcome.message


def test_invalid_value_for_an_unset_field_leaves_it_missing() -> None:
    form = CreateCompany()
    outcome = form.update(started(form), {"name": "Acme", "employees": -3}, turn())
    assert outcome.forms[-1]["values"] == {"name": "Acme"}
    assert "employees" in outcome.forms[-1]["errors"]
    assert form.public_view(outcome.forms[-1])["missing"] == ["employees"]


def test_explicit_null_clears_an_optional_field() -> None:
    form = CreateCompany()
    forms = form.update(started(form), {"name": "Acme", "domain": "acme.com"}, turn()).forms
    outcome = form.update(forms, {"domain": None}, turn())
    assert outcome.forms[-1]["values"] == {"name": "Acme"}
    assert not outcome.is_error


def test_unknown_field_is_rejected_with_the_accepted_fields_and_the_rest_is_stored() -> None:
    form = CreateCompany()
    outcome = form.update(started(form), {"name": "Acme", "colour": "red"}, turn())
    assert outcome.is_error
    assert outcome.forms[-1]["values"] == {"name": "Acme"}
    assert (
        "colour: unknown field; accepted fields: name, employees, domain, ideal_customer" in outcome.message
    )


@pytest.mark.parametrize(("field", "falsy"), [("employees", 0), ("name", ""), ("ideal_customer", False)])
def test_falsy_values_count_as_filled(field: str, falsy: object) -> None:
    form = CreateCompany()
    values = {"name": "Acme", "employees": 5, field: falsy}
    outcome = form.update(started(form), values, turn())
    assert outcome.forms[-1]["state"] == "FILLED"
    assert outcome.forms[-1]["values"][field] == falsy


def test_optional_fields_are_never_forced() -> None:
    form = CreateCompany()
    outcome = form.update(started(form), {"name": "Acme", "employees": 250}, turn())
    assert outcome.forms[-1]["state"] == "FILLED"
    assert form.get_next_field_to_collect(outcome.forms[-1]["values"]) is None


def test_filling_every_required_field_moves_to_filled_with_the_summary() -> None:
    form = CreateCompany()
    outcome = form.update(started(form), {"name": "Acme", "employees": "250"}, turn(4))
    snapshot = outcome.forms[-1]
    assert snapshot["state"] == "FILLED"
    assert snapshot["summary_turn"] == 4
    # Values are stored as the schema normalizes them once the whole form validates.
    assert snapshot["values"] == {"name": "Acme", "employees": 250}
    assert "CreateCompany:\n- name: Acme\n- employees: 250" in outcome.message
    assert "confirm" in outcome.message


def test_a_rejected_value_keeps_an_otherwise_complete_form_active() -> None:
    form = CreateCompany()
    outcome = form.update(started(form), {"name": "Acme", "employees": 5, "domain": "nodot"}, turn())
    assert outcome.is_error
    assert outcome.forms[-1]["state"] == "ACTIVE"
    assert outcome.forms[-1]["values"] == {"name": "Acme", "employees": 5}
    assert "domain: a domain looks like example.com" in outcome.message
    assert "CreateCompany:" not in outcome.message


def test_the_summary_comes_once_the_user_drops_the_rejected_field() -> None:
    form = CreateCompany()
    forms = form.update(started(form), {"name": "Acme", "employees": 5, "domain": "nodot"}, turn()).forms
    outcome = form.update(forms, {}, turn())
    assert not outcome.is_error
    assert outcome.forms[-1]["state"] == "FILLED"
    assert "CreateCompany:\n- name: Acme\n- employees: 5" in outcome.message


def test_summary_is_reply_makes_the_summary_the_whole_result_and_ends_the_turn() -> None:
    form = ScheduleMeeting(summary_is_reply=True)
    outcome = form.update(started(form), {"title": "Kickoff", "day": "2026-12-01"}, turn())
    assert outcome.forms[-1]["state"] == "FILLED"
    assert outcome.message == "Meeting 'Kickoff' on 2026-12-01"
    assert outcome.return_direct


def test_summary_is_reply_does_not_end_the_turn_while_a_value_is_rejected() -> None:
    form = ScheduleMeeting(summary_is_reply=True)
    outcome = form.update(started(form), {"title": "Kickoff", "day": "2026-12-01", "attendees": "x"}, turn())
    assert outcome.forms[-1]["state"] == "ACTIVE"
    assert not outcome.return_direct
    assert "attendees" in outcome.message


def test_inherited_fields_are_collected_and_validated() -> None:
    form = CreateEmployee()
    outcome = form.update(started(form), {"first_name": 7, "last_name": "Lovelace"}, turn())
    assert outcome.forms[-1]["values"] == {"last_name": "Lovelace"}
    assert "first_name: Input should be a valid string" in outcome.message


def test_a_failing_model_validator_rejects_the_changes_of_the_call() -> None:
    form = CreateEmployee()
    forms = form.update(started(form), {"first_name": "Ada", "last_name": "Lovelace"}, turn()).forms
    outcome = form.update(forms, {"email": "ada@example.com"}, turn())
    assert outcome.is_error
    assert outcome.forms[-1]["values"] == {"first_name": "Ada", "last_name": "Lovelace"}
    assert "email: the email must contain the last name" in outcome.message


def test_schema_validators_see_the_form_context_and_its_clock() -> None:
    form = ScheduleMeeting()
    outcome = form.update(started(form), {"title": "Kickoff", "day": "2026-11-20"}, turn())
    assert "the day must not be before today (2026-11-21)" in outcome.message
    assert "day" not in outcome.forms[-1]["values"]


def test_values_are_stored_json_safe() -> None:
    form = ScheduleMeeting()
    outcome = form.update(started(form), {"title": "Kickoff", "day": "today"}, turn())
    assert outcome.forms[-1]["values"] == {"title": "Kickoff", "day": "2026-11-21"}
    assert json.loads(json.dumps(outcome.forms)) == outcome.forms


def test_resolve_field_hook_turns_a_reference_into_an_id() -> None:
    form = CreateEmployee()
    outcome = form.update(started(form), {"company": "ACME"}, turn())
    assert outcome.forms[-1]["values"] == {"company": "company-1"}


def test_resolve_field_hook_can_reject_a_value_with_its_message() -> None:
    form = CreateEmployee()
    outcome = form.update(started(form), {"company": "Globex", "first_name": "Ada"}, turn())
    assert outcome.forms[-1]["values"] == {"first_name": "Ada"}
    assert "company: no company named 'Globex'; known: Acme" in outcome.message


def test_summary_hook_shapes_the_text_shown_at_filled() -> None:
    form = ScheduleMeeting()
    outcome = form.update(started(form), {"title": "Kickoff", "day": "2026-12-01"}, turn())
    assert "Meeting 'Kickoff' on 2026-12-01" in outcome.message


def test_update_arguments_that_are_not_an_object_are_refused() -> None:
    form = CreateCompany()
    forms = started(form)
    outcome = form.update(forms, ["Acme"], turn())
    assert outcome.is_error
    assert outcome.forms == forms


def test_update_of_a_form_that_is_not_active_is_a_state_error() -> None:
    form, other = CreateCompany(), ScheduleMeeting()
    with pytest.raises(FormStateError):
        form.update(started(other, filled_company(form)), {"name": "x"}, turn())
    with pytest.raises(FormStateError):
        form.update([], {"name": "x"}, turn())


# -- Update after the summary (FILLED) ----------------------------------------------------------------


def test_an_update_after_the_summary_applies_the_change_and_shows_a_new_summary() -> None:
    form = CreateCompany()
    outcome = form.update(filled_company(form), {"employees": 300}, turn(2))
    snapshot = outcome.forms[-1]
    assert (snapshot["state"], snapshot["values"]["employees"]) == ("FILLED", 300)
    assert "Stored: employees." in outcome.message and "- employees: 300" in outcome.message
    assert not outcome.is_error


def test_an_update_after_the_summary_makes_its_turn_the_summary_turn() -> None:
    form = CreateCompany()
    changed = form.update(filled_company(form), {"employees": 300}, turn(2)).forms
    assert changed[-1]["summary_turn"] == 2
    assert form.finalize(changed, {"confirm": True}, turn(2)).is_error
    assert form.finalize(changed, {"confirm": True}, turn(3)).committed


def test_an_update_after_the_summary_is_validated_in_full() -> None:
    form = CreateCompany()
    outcome = form.update(filled_company(form), {"employees": -5}, turn(2))
    snapshot = outcome.forms[-1]
    assert outcome.is_error
    assert (snapshot["state"], snapshot["values"]["employees"]) == ("ACTIVE", 250)
    assert snapshot["summary_turn"] is None and "employees" in snapshot["errors"]


def test_clearing_a_required_field_after_the_summary_asks_for_it_again() -> None:
    form = CreateCompany()
    outcome = form.update(filled_company(form), {"employees": None}, turn(2))
    assert outcome.forms[-1]["state"] == "ACTIVE"
    assert "Next field to ask the user: employees" in outcome.message


def test_an_update_after_the_summary_of_a_summary_is_reply_form_answers_with_the_new_summary() -> None:
    form = ScheduleMeeting(summary_is_reply=True)
    filled = form.update(started(form), {"title": "Kickoff", "day": "2026-12-01"}, turn(1)).forms
    outcome = form.update(filled, {"day": "2026-12-02"}, turn(2))
    assert outcome.message == "Meeting 'Kickoff' on 2026-12-02"
    assert outcome.return_direct and outcome.forms[-1]["summary_turn"] == 2


# -- Finalize -----------------------------------------------------------------------------------------


def test_finalize_false_reopens_the_form_for_changes() -> None:
    form = CreateCompany()
    outcome = form.finalize(filled_company(form), {"confirm": False}, turn(2))
    assert outcome.forms[-1]["state"] == "ACTIVE"
    assert outcome.forms[-1]["summary_turn"] is None
    assert outcome.forms[-1]["values"] == {"name": "Acme", "employees": 250}
    assert form.commits == []


def test_finalize_without_user_turn_is_refused() -> None:
    form = CreateCompany()
    forms = filled_company(form)
    outcome = form.finalize(forms, {"confirm": True}, turn(1))
    assert outcome.is_error
    assert "ask the user to confirm" in outcome.message
    assert outcome.forms == forms
    assert form.commits == []


def test_finalize_after_a_user_turn_commits_with_the_form_id_and_validated_values() -> None:
    form = ScheduleMeeting()
    forms = form.update(started(form), {"title": "Kickoff", "day": "2026-12-01"}, turn(1)).forms
    outcome = form.finalize(forms, {"confirm": True}, turn(2))
    assert outcome.committed and outcome.popped
    assert outcome.forms == []
    assert outcome.message == "ScheduleMeeting saved. Result: ScheduleMeeting record 1"
    context, fields = form.commits[0]
    assert context == FormContext(form_id="form-1", now=NOW, values=forms[-1]["values"], thread_id="t")
    assert fields == {"title": "Kickoff", "day": date(2026, 12, 1), "attendees": 2}


def test_skip_confirm_commits_in_the_update_that_fills_the_form() -> None:
    form = QuickNote()
    outcome = form.update(started(form), {"text": "call back"}, turn(1))
    assert outcome.committed and outcome.popped
    assert outcome.forms == []
    assert form.ledger.writes == [{"text": "call back"}]


def test_skip_confirm_does_not_commit_an_incomplete_form() -> None:
    form = QuickNote()
    outcome = form.update(started(form), {}, turn(1))
    assert not outcome.committed
    assert outcome.forms[-1]["state"] == "ACTIVE"


def test_return_direct_makes_the_commit_result_the_whole_result() -> None:
    form = QuickNote()
    outcome = form.update(started(form), {"text": "call back"}, turn(1))
    assert outcome.return_direct
    assert outcome.message == "QuickNote record 1"


def test_return_direct_leaves_the_turn_to_the_model_when_a_paused_form_resumes() -> None:
    company, note = CreateCompany(), QuickNote()
    forms = note.start(started(company), turn()).forms
    outcome = note.update(forms, {"text": "call back"}, turn(1))
    assert outcome.committed
    assert not outcome.return_direct
    assert outcome.message == "QuickNote saved. Result: QuickNote record 1"
    assert [snapshot["name"] for snapshot in outcome.forms] == ["CreateCompany"]


def test_a_failing_commit_keeps_the_form_filled_and_explains() -> None:
    form = CreateCompany()
    forms = filled_company(form)
    form.ledger.fail_next = ToolException("CRM unreachable")
    outcome = form.finalize(forms, {"confirm": True}, turn(2))
    assert outcome.is_error
    assert outcome.forms == forms
    assert "not saved: CRM unreachable" in outcome.message


def test_a_bug_in_a_commit_is_not_turned_into_a_message_for_the_model() -> None:
    form = CreateCompany()
    forms = filled_company(form)
    form.ledger.fail_next = KeyError("employee_count")
    with pytest.raises(KeyError, match="employee_count"):
        form.finalize(forms, {"confirm": True}, turn(2))


def test_a_retried_commit_carries_the_same_idempotency_key() -> None:
    form = CreateCompany()
    forms = filled_company(form)
    first = form.finalize(forms, {"confirm": True}, turn(2))
    again = form.finalize(forms, {"confirm": True}, turn(3))
    assert first.message == again.message
    assert [context.form_id for context, _ in form.commits] == ["form-1", "form-1"]
    assert len(form.ledger.writes) == 1


@pytest.mark.parametrize("arguments", [{}, {"confirm": "yes"}, "true", None])
def test_finalize_needs_a_boolean_confirm(arguments: object) -> None:
    form = CreateCompany()
    forms = filled_company(form)
    outcome = form.finalize(forms, arguments, turn(2))
    assert outcome.is_error
    assert outcome.forms == forms


def test_finalize_of_an_active_form_is_a_state_error() -> None:
    form = CreateCompany()
    with pytest.raises(FormStateError):
        form.finalize(started(form), {"confirm": True}, turn(2))


# -- Statelessness and views --------------------------------------------------------------------------


def test_one_form_definition_serves_independent_conversations() -> None:
    form = CreateCompany()
    first = form.update(started(form), {"name": "Acme"}, turn()).forms
    second = form.update(started(form), {"name": "Globex"}, turn()).forms
    assert first[-1]["values"] == {"name": "Acme"}
    assert second[-1]["values"] == {"name": "Globex"}


def test_public_view_lists_the_missing_required_fields() -> None:
    form = CreateEmployee()
    forms = form.update(started(form), {"first_name": "Ada"}, turn()).forms
    assert form.public_view(forms[-1]) == {
        "name": "CreateEmployee",
        "state": FormToolState.ACTIVE,
        "values": {"first_name": "Ada"},
        "missing": ["last_name", "email"],
    }


def shown(form: FormTool, state: FormToolState) -> dict:
    return convert_to_openai_tool(form.variant(state))["function"]


def test_update_variant_offers_every_field_as_optional() -> None:
    schema = shown(CreateCompany(), FormToolState.ACTIVE)["parameters"]
    assert set(schema["properties"]) == {"name", "employees", "domain", "ideal_customer"}
    assert schema.get("required", []) == []
    assert schema["properties"]["employees"]["description"] == "How many people work there"


def test_start_and_finalize_variants_have_their_own_arguments() -> None:
    form = CreateCompany()
    assert shown(form, FormToolState.INACTIVE)["parameters"].get("properties", {}) == {}
    assert shown(form, FormToolState.FILLED)["parameters"]["required"] == ["confirm"]
    assert shown(form, FormToolState.FILLED)["name"] == "FormFinalize"


def test_the_update_variant_is_shown_compact() -> None:
    properties = shown(CreateCompany(), FormToolState.ACTIVE)["parameters"]["properties"]
    assert properties["employees"] == {"type": "integer", "description": "How many people work there"}
    assert properties["domain"] == {"type": "string", "description": "Web domain, like acme.com"}


def test_validation_uses_the_full_schema_not_the_compact_one_the_model_sees() -> None:
    form = ScheduleMeeting()
    assert shown(form, FormToolState.ACTIVE)["parameters"]["properties"]["day"] == {
        "type": "string",
        "description": "The day of the meeting, not in the past",
    }
    outcome = form.update(started(form), {"day": "the 45th"}, turn())
    assert "day" in outcome.forms[-1]["errors"]


def test_variant_hooks_set_the_description_and_arguments_the_model_sees() -> None:
    class Renaming(BaseModel):
        name: str = Field(description="The new name")

    class RenameOnly(CreateCompany):
        def variant_description(self, state: FormToolState) -> str:
            return "Rename it." if state is FormToolState.ACTIVE else super().variant_description(state)

        def variant_schema(self, state: FormToolState) -> type[BaseModel]:
            return Renaming if state is FormToolState.ACTIVE else super().variant_schema(state)

    form = RenameOnly()
    update = shown(form, FormToolState.ACTIVE)
    assert update["name"] == "FormUpdate"
    assert update["description"] == "Rename it."
    assert update["parameters"]["properties"] == {"name": {"type": "string", "description": "The new name"}}
    # The fields the state note lists for FormUpdate while this form is active.
    assert form.update_fields() == {"name": {"type": "string", "description": "The new name"}}
    assert shown(form, FormToolState.FILLED)["description"].startswith("Save the form")


def test_every_form_is_filled_and_saved_through_the_shared_tools() -> None:
    form = CreateCompany()
    assert (form.start_name, form.update_name, form.finalize_name) == (
        "CreateCompanyStart",
        "FormUpdate",
        "FormFinalize",
    )
    assert list(form.update_fields()) == ["name", "employees", "domain", "ideal_customer"]


# -- Every call in every state, through the dispatcher ------------------------------------------------

CALLS = {
    "start": ("CreateCompanyStart", {}),
    "update": ("FormUpdate", {"employees": 1}),
    "confirm": ("FormFinalize", {"confirm": True}),
    "revise": ("FormFinalize", {"confirm": False}),
    "reset": ("FormReset", {}),
}


def stack_in(state: str, form: CreateCompany) -> list:
    if state == "INACTIVE":
        return []
    if state == "ACTIVE":
        return form.update(started(form), {"name": "Acme"}, turn(1)).forms
    return filled_company(form)


@pytest.mark.parametrize(
    ("state", "call", "after", "refused"),
    [
        ("INACTIVE", "start", "ACTIVE", False),
        ("INACTIVE", "update", "INACTIVE", True),
        ("INACTIVE", "confirm", "INACTIVE", True),
        ("INACTIVE", "revise", "INACTIVE", True),
        ("INACTIVE", "reset", "INACTIVE", True),
        ("ACTIVE", "start", "ACTIVE", True),
        ("ACTIVE", "update", "FILLED", False),
        ("ACTIVE", "confirm", "ACTIVE", True),
        ("ACTIVE", "revise", "ACTIVE", True),
        ("ACTIVE", "reset", "INACTIVE", False),
        ("FILLED", "start", "FILLED", True),
        ("FILLED", "update", "FILLED", False),
        ("FILLED", "confirm", "INACTIVE", False),
        ("FILLED", "revise", "ACTIVE", False),
        ("FILLED", "reset", "INACTIVE", False),
    ],
)
def test_every_call_in_every_state(state: str, call: str, after: str, refused: bool) -> None:
    form = CreateCompany()
    tools = [form, FormReset()]
    name, arguments = CALLS[call]
    outcome = run_tool_call(tools, stack_in(state, form), name, arguments, turn(2))
    assert outcome.is_error is refused
    assert (outcome.forms[-1]["state"] if outcome.forms else "INACTIVE") == after
    assert len(form.ledger.writes) == (1 if (state, call) == ("FILLED", "confirm") else 0)


def test_prepare_values_can_reject_one_field_and_still_prepare_the_others() -> None:
    class StrictMeeting(ScheduleMeeting):
        def prepare_values(self, changes, context):
            if changes.get("title") == "secret":
                raise FormFieldError("title", "that title is not allowed")
            return super().prepare_values(changes, context)

    form = StrictMeeting()
    outcome = form.update(started(form), {"title": "secret", "day": "today"}, turn())
    assert outcome.forms[-1]["values"] == {"day": "2026-11-21"}
    assert "title: that title is not allowed" in outcome.message
