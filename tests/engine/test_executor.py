"""The form graph driven through FormAgentExecutor.send, with a scripted model choosing the calls."""

from __future__ import annotations

import itertools
from datetime import timedelta

from langchain_core.messages import SystemMessage, ToolMessage
from langchain_core.tools import ToolException, tool

from tests.engine.conftest import NOW, call, calls
from tests.engine.forms import CreateCompany, CreateEmployee, QuickNote, ScheduleMeeting


@tool
def lookup_company(name: str) -> str:
    """Look a company up by name."""
    if name == "boom":
        raise ToolException("directory offline")
    return f"{name}: 250 employees"


def tool_results(model, index: int) -> list[str]:
    return [m.text for m in model.requests[index].messages if isinstance(m, ToolMessage)]


def company_script() -> list:
    return [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme"}),
        "How many people work at Acme?",
        call("FormUpdate", {"employees": 250}),
        "Acme, 250 people. Shall I save it?",
        call("FormFinalize", {"confirm": True}),
        "Saved.",
    ]


def test_a_form_is_filled_over_three_turns_and_committed_once(make_executor) -> None:
    form = CreateCompany()
    executor, _ = make_executor([form], company_script())
    first = executor.send("t", "Add Acme please")
    assert first.text == "How many people work at Acme?"
    assert first.form == {
        "name": "CreateCompany",
        "state": "ACTIVE",
        "values": {"name": "Acme"},
        "missing": ["employees"],
    }
    second = executor.send("t", "250")
    assert second.form["state"] == "FILLED"
    third = executor.send("t", "yes")
    assert third.text == "Saved."
    assert third.form is None
    assert form.ledger.writes == [{"name": "Acme", "employees": 250, "domain": None, "ideal_customer": None}]
    assert form.commits[0][0].form_id == "form-1"
    assert form.commits[0][0].thread_id == "t"


def test_start_forces_the_next_model_call_to_update(make_executor) -> None:
    executor, model = make_executor([CreateCompany()], company_script()[:3])
    executor.send("t", "Add Acme")
    assert [r.tool_choice for r in model.requests] == [None, "FormUpdate", None]


def test_every_state_offers_the_same_tools_in_the_same_order(make_executor) -> None:
    executor, model = make_executor([CreateCompany(), lookup_company], company_script())
    for text in ("Add Acme", "250", "yes"):
        executor.send("t", text)
    expected = ["CreateCompanyStart", "lookup_company", "FormUpdate", "FormFinalize", "FormReset"]
    assert all(request.tools == expected for request in model.requests)
    assert all(request.tool_schemas == model.requests[0].tool_schemas for request in model.requests)


def test_side_questions_work_mid_form(make_executor) -> None:
    script = [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme"}),
        "How many people?",
        call("lookup_company", {"name": "Acme"}),
        "The directory says 250.",
    ]
    executor, model = make_executor([CreateCompany(), lookup_company], script)
    executor.send("t", "Add Acme")
    reply = executor.send("t", "How big is Acme?")
    assert reply.text == "The directory says 250."
    assert tool_results(model, 4)[-1] == "Acme: 250 employees"
    assert reply.form["values"] == {"name": "Acme"}


def test_a_turn_answered_in_text_alone_replies_with_the_open_form(make_executor) -> None:
    script = [call("CreateCompanyStart"), call("FormUpdate", {"name": "Acme"}), "How many people?", "Pardon?"]
    executor, _ = make_executor([CreateCompany()], script)
    executor.send("t", "Add Acme")
    reply = executor.send("t", "hm")
    assert reply.text == "Pardon?"
    assert reply.form == {"name": "CreateCompany", "state": "ACTIVE", "values": {"name": "Acme"},
                          "missing": ["employees"]}  # fmt: skip


def test_two_interleaved_threads_never_see_each_others_fields(make_executor) -> None:
    script = [
        call("CreateCompanyStart"), call("FormUpdate", {"name": "Acme"}), "Employees?",
        call("CreateCompanyStart"), call("FormUpdate", {"name": "Globex"}), "Employees?",
        call("FormUpdate", {"employees": 5}), "Save Acme?",
        call("FormUpdate", {"domain": "globex.com"}), "Employees?",
    ]  # fmt: skip
    executor, model = make_executor([CreateCompany()], script)
    executor.send("a", "Add Acme")
    executor.send("b", "Add Globex")
    a = executor.send("a", "5 people")
    b = executor.send("b", "globex.com")
    assert a.form["values"] == {"name": "Acme", "employees": 5}
    assert b.form["values"] == {"name": "Globex", "domain": "globex.com"}
    prompt_b = model.requests[8].messages[-1].text
    assert "Acme" not in prompt_b
    assert all("Acme" not in m.text for m in model.requests[8].messages)


def test_a_second_form_interrupts_the_first_which_resumes_with_its_values(make_executor) -> None:
    employee, company = CreateEmployee(companies={}), CreateCompany()
    script = [
        call("CreateEmployeeStart"),
        call("FormUpdate", {"first_name": "Ada", "last_name": "Lovelace"}),
        "Her email?",
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Analytical", "employees": 3}),
        "Save Analytical with 3 people?",
        call("FormFinalize", {"confirm": True}),
        "Saved; back to Ada. Her email?",
    ]
    executor, model = make_executor([employee, company], script)
    executor.send("t", "Add Ada Lovelace")
    paused = executor.send("t", "First add her company Analytical, 3 people")
    assert paused.form["name"] == "CreateCompany"
    assert "CreateEmployee is paused" in tool_results(model, 4)[-1]
    resumed = executor.send("t", "yes")
    assert resumed.form == {
        "name": "CreateEmployee",
        "state": "ACTIVE",
        "values": {"first_name": "Ada", "last_name": "Lovelace"},
        "missing": ["email"],
    }
    told = tool_results(model, 7)[-1]
    assert "The interrupted form CreateEmployee is active again" in told
    assert "next field to ask: email" in told
    assert "Paused forms" not in model.requests[7].messages[-1].text


def test_the_note_names_the_interrupted_forms_until_they_resume(make_executor) -> None:
    script = [
        call("CreateEmployeeStart"),
        call("CreateCompanyStart"),
        call("FormUpdate", {}),
        "Name?",
    ]
    executor, model = make_executor([CreateEmployee(), CreateCompany()], script)
    executor.send("t", "Add a person, and first a company")
    assert "Paused forms, resumed when the active one is saved or reset: CreateEmployee." in (
        model.requests[3].messages[-1].text
    )


def test_form_reset_tool_abandons_the_active_form_and_resumes_the_paused_one(make_executor) -> None:
    script = [
        call("CreateEmployeeStart"),
        call("FormUpdate", {"first_name": "Ada"}),
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "X"}),
        "Employees?",
        call("FormReset"),
        "Dropped it. Back to Ada.",
    ]
    employee, company = CreateEmployee(), CreateCompany()
    executor, model = make_executor([employee, company], script)
    executor.send("t", "Add Ada, and a company X")
    reply = executor.send("t", "forget the company")
    assert reply.form["name"] == "CreateEmployee"
    assert reply.form["values"] == {"first_name": "Ada"}
    assert tool_results(model, 6)[-1].startswith("CreateCompany abandoned; nothing was saved.")
    assert company.ledger.writes == []


def test_reset_form_drops_the_active_form_of_a_thread(make_executor) -> None:
    executor, model = make_executor([CreateCompany()], [*company_script()[:3], "Hello again."])
    executor.send("t", "Add Acme")
    dropped = executor.reset_form("t")
    assert dropped["values"] == {"name": "Acme"}
    assert executor.get_form("t") is None
    assert executor.reset_form("t") is None
    assert executor.send("t", "hi").text == "Hello again."
    assert "No form is active." in model.requests[-1].messages[-1].text


def test_finalize_without_user_turn_is_refused(make_executor) -> None:
    form = CreateCompany()
    script = [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme", "employees": 9}),
        call("FormFinalize", {"confirm": True}),
        "Acme with 9 people: shall I save it?",
    ]
    executor, model = make_executor([form], script)
    reply = executor.send("t", "Add Acme, 9 people, and save it")
    assert form.ledger.writes == []
    assert reply.form["state"] == "FILLED"
    assert "Not saved: the user has not answered the summary yet" in tool_results(model, 3)[-1]


def test_finalize_false_goes_back_to_editing(make_executor) -> None:
    script = [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme", "employees": 9}),
        "Save?",
        call("FormFinalize", {"confirm": False}),
        call("FormUpdate", {"employees": 10}),
        "Now 10. Save?",
    ]
    executor, _ = make_executor([CreateCompany()], script)
    executor.send("t", "Acme, 9")
    reply = executor.send("t", "no, 10 people")
    assert reply.form["state"] == "FILLED"
    assert reply.form["values"]["employees"] == 10


def test_falsy_values_fill_required_fields(make_executor) -> None:
    script = [call("CreateCompanyStart"), call("FormUpdate", {"name": "", "employees": 0}), "Save?"]
    executor, _ = make_executor([CreateCompany()], script)
    reply = executor.send("t", "A company with no name and nobody")
    assert reply.form["state"] == "FILLED"
    assert reply.form["values"] == {"name": "", "employees": 0}


def test_optional_fields_are_not_asked_for(make_executor) -> None:
    script = [call("CreateCompanyStart"), call("FormUpdate", {"name": "Acme"}), "Employees?"]
    executor, model = make_executor([CreateCompany()], script)
    executor.send("t", "Add Acme")
    prompt = model.requests[2].messages[-1].text
    assert "Next field to ask: employees — How many people work there." in prompt
    assert "Next field to ask: domain" not in prompt


def test_an_invalid_value_is_reported_and_asked_again(make_executor) -> None:
    script = [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme", "domain": "acme"}),
        "That domain looks wrong; what is it?",
        call("FormUpdate", {"domain": "acme.com"}),
        "Thanks. Employees?",
    ]
    executor, model = make_executor([CreateCompany()], script)
    reply = executor.send("t", "Add Acme at acme")
    assert reply.form["values"] == {"name": "Acme"}
    assert "domain: a domain looks like example.com" in tool_results(model, 2)[-1]
    reply = executor.send("t", "acme.com")
    assert reply.form["values"] == {"name": "Acme", "domain": "acme.com"}


def test_malformed_json_arguments_come_back_as_a_tool_message(make_executor) -> None:
    script = [
        call("CreateCompanyStart"),
        {"tool_calls": [{"name": "FormUpdate", "args": '{"name": "Acme"'}]},
        call("FormUpdate", {"name": "Acme"}),
        "Employees?",
    ]
    executor, model = make_executor([CreateCompany()], script)
    reply = executor.send("t", "Add Acme")
    result = tool_results(model, 2)[-1]
    assert result.startswith("The arguments of FormUpdate were not valid JSON")
    assert "name, employees, domain, ideal_customer" in result
    assert reply.form["values"] == {"name": "Acme"}


def test_an_unknown_tool_comes_back_with_the_tools_available(make_executor) -> None:
    script = [call("DeleteEverything", {}), "Sorry, I cannot do that."]
    executor, model = make_executor([CreateCompany(), lookup_company], script)
    reply = executor.send("t", "delete everything")
    assert reply.text == "Sorry, I cannot do that."
    assert tool_results(model, 1) == [
        "Unknown tool 'DeleteEverything'. Tools available now: CreateCompanyStart, lookup_company, "
        "FormUpdate, FormFinalize, FormReset."
    ]


def test_a_form_tool_that_does_not_fit_the_state_is_refused(make_executor) -> None:
    executor, model = make_executor([CreateCompany()], [call("FormFinalize", {"confirm": True}), "Oops."])
    executor.send("t", "save")
    assert tool_results(model, 1)[0].startswith("No form is active, so there is nothing for FormFinalize.")


def test_a_failing_tool_and_bad_tool_arguments_come_back_as_tool_messages(make_executor) -> None:
    script = [calls(("lookup_company", {"name": "boom"}), ("lookup_company", {"nom": "x"})), "It failed."]
    executor, model = make_executor([lookup_company], script)
    executor.send("t", "look up boom")
    failed, invalid = tool_results(model, 1)
    assert failed == "lookup_company failed: directory offline"
    assert invalid.startswith("Invalid arguments for lookup_company: name: Field required")


def test_a_failing_commit_comes_back_and_keeps_the_form(make_executor) -> None:
    form = CreateCompany()
    script = [*company_script()[:5], call("FormFinalize", {"confirm": True}), "The CRM is down."]
    executor, model = make_executor([form], script)
    executor.send("t", "Add Acme")
    executor.send("t", "250")
    form.ledger.fail_next = ToolException("CRM unreachable")
    reply = executor.send("t", "yes")
    assert "not saved: CRM unreachable" in tool_results(model, 6)[-1]
    assert reply.form["state"] == "FILLED"


def test_three_failing_rounds_end_the_turn_with_what_went_wrong(make_executor) -> None:
    executor, model = make_executor(
        [CreateCompany()], [call("Nope"), call("Nope"), call("Nope"), "never asked"]
    )
    reply = executor.send("t", "hi")
    assert len(model.requests) == 3
    assert reply.text.startswith("Sorry, I could not complete this: my last 3 attempts failed.")
    assert "Unknown tool 'Nope'" in reply.text
    assert reply.error is not None
    assert model.remaining == 1


def test_the_error_bound_counts_consecutive_failures_only(make_executor) -> None:
    script = [
        call("Nope"), call("Nope"), call("lookup_company", {"name": "Acme"}), call("Nope"), call("Nope"), "Done.",
    ]  # fmt: skip
    executor, model = make_executor([lookup_company], script)
    reply = executor.send("t", "hi")
    assert reply.text == "Done."
    assert reply.error is None
    assert "Your previous tool call failed: Nope: Unknown tool" in model.requests[1].messages[-1].text
    assert "Your previous tool call failed" not in model.requests[3].messages[-1].text


def test_the_error_bound_is_configurable(make_executor) -> None:
    executor, model = make_executor([lookup_company], [call("Nope"), "never asked"], max_error_rounds=1)
    assert executor.send("t", "hi").error is not None
    assert len(model.requests) == 1


def test_a_return_direct_form_ends_the_turn_with_its_result(make_executor) -> None:
    script = [call("QuickNoteStart"), call("FormUpdate", {"text": "call Ada"})]
    executor, model = make_executor([QuickNote()], script)
    reply = executor.send("t", "note: call Ada")
    assert reply.text == "QuickNote record 1"
    assert len(model.requests) == 2


def test_a_return_direct_commit_hands_the_turn_back_to_the_model_when_a_paused_form_resumes(
    make_executor,
) -> None:
    script = [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme"}),
        call("QuickNoteStart"),
        call("FormUpdate", {"text": "call Ada"}),
        "Noted. How many people work at Acme?",
    ]
    executor, model = make_executor([CreateCompany(), QuickNote()], script)
    reply = executor.send("t", "add Acme, and note: call Ada")
    assert reply.text == "Noted. How many people work at Acme?"
    assert reply.form["name"] == "CreateCompany"
    assert "The interrupted form CreateCompany is active again" in tool_results(model, 4)[-1]


def test_a_summary_is_reply_form_answers_with_its_summary_without_another_model_call(make_executor) -> None:
    script = [
        call("ScheduleMeetingStart"),
        call("FormUpdate", {"title": "Kickoff", "day": "2026-12-01"}),
        call("FormFinalize", {"confirm": True}),
        "Booked.",
    ]
    executor, model = make_executor([ScheduleMeeting(summary_is_reply=True)], script)
    reply = executor.send("t", "Kickoff on December 1st")
    assert reply.text == "Meeting 'Kickoff' on 2026-12-01"
    assert reply.form["state"] == "FILLED"
    assert len(model.requests) == 2
    assert executor.send("t", "yes").text == "Booked."


def test_the_prompt_tells_the_time_of_each_call(make_executor) -> None:
    ticks = itertools.count()
    executor, model = make_executor(
        [CreateCompany()], ["one", "two"], clock=lambda: NOW + timedelta(minutes=next(ticks))
    )
    executor.send("t", "a")
    executor.send("t", "b")
    # The time is in the note after the history, to the minute; the system prompt never changes.
    assert model.requests[0].messages[0] == model.requests[1].messages[0]
    assert isinstance(model.requests[0].messages[0], SystemMessage)
    notes = [request.messages[-1].text for request in model.requests]
    assert notes[0].startswith("[Form note] Now: 2026-11-21T10:00+00:00 (Saturday).")
    assert notes[1].startswith("[Form note] Now: 2026-11-21T10:01+00:00 (Saturday).")


def test_the_prompt_describes_the_active_form_and_its_values(make_executor) -> None:
    executor, model = make_executor([CreateCompany()], company_script()[:5])
    executor.send("t", "Add Acme")
    executor.send("t", "250")
    active = model.requests[2].messages[-1].text
    assert "Active form: CreateCompany (Create a company), state ACTIVE." in active
    assert 'Values so far: {"name": "Acme"}.' in active
    filled = model.requests[4].messages[-1].text
    assert "state FILLED" in filled
    assert "call FormFinalize with confirm=true" in filled
    assert "to change or add values, call FormUpdate with any of: name, employees, domain" in filled


def test_a_rejected_optional_value_is_asked_again_before_the_summary(make_executor) -> None:
    script = [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme", "employees": 250, "domain": "acme"}),
        "acme is not a domain; what is it, or shall I leave it out?",
        call("FormUpdate", {}),
        "Acme, 250 people. Save it?",
    ]
    executor, model = make_executor([CreateCompany()], script)
    first = executor.send("t", "Add Acme, 250 people, domain acme")
    assert first.form["state"] == "ACTIVE"
    assert "domain: a domain looks like example.com" in tool_results(model, 2)[-1]
    second = executor.send("t", "leave it out")
    assert "the value given for domain was rejected" in model.requests[3].messages[-1].text
    assert second.form["state"] == "FILLED"


def test_a_custom_system_prompt_leads_the_prompt(make_executor) -> None:
    executor, model = make_executor([CreateCompany()], ["hi"], system_prompt="You are Acme's CRM assistant.")
    executor.send("t", "hello")
    assert model.requests[0].messages[0].text.startswith("You are Acme's CRM assistant.\nTo create or change")


def test_the_history_sent_is_bounded_and_keeps_tool_calls_with_their_results(make_executor) -> None:
    script = []
    for i in range(6):
        script += [call("lookup_company", {"name": f"c{i}"}), f"answer {i}"]
    executor, model = make_executor([lookup_company], script, history_window=3)
    for i in range(6):
        executor.send("t", f"question {i}")
    for request in model.requests:
        window = request.messages[1:-1]
        assert len(window) <= 4
        assert not isinstance(window[0], ToolMessage)
    last = model.requests[-1].messages[1:-1]
    assert [type(m).__name__ for m in last] == ["HumanMessage", "AIMessage", "ToolMessage"]
    assert len(executor.messages("t")) == 24


def test_tool_names_must_be_unique(make_executor) -> None:
    import pytest

    with pytest.raises(ValueError, match="'CreateCompanyStart'"):
        make_executor([CreateCompany(), CreateCompany()], [])


def test_a_correction_after_the_summary_is_committed_with_the_change(make_executor) -> None:
    form = CreateCompany()
    script = [
        *company_script()[:5],
        call("FormUpdate", {"employees": 300}),
        "Acme, 300 people. Shall I save it?",
        call("FormFinalize", {"confirm": True}),
        "Saved.",
    ]
    executor, _ = make_executor([form], script)
    for text in ("Add Acme", "250", "make it 300 employees"):
        reply = executor.send("t", text)
    assert (reply.form["state"], reply.form["values"]["employees"]) == ("FILLED", 300)
    executor.send("t", "yes")
    assert [write["employees"] for write in form.ledger.writes] == [300]


def test_a_confirmation_in_the_turn_of_a_correction_waits_for_the_user(make_executor) -> None:
    form = CreateCompany()
    script = [
        *company_script()[:5],
        calls(("FormUpdate", {"employees": 300}), ("FormFinalize", {"confirm": True})),
        "Acme now has 300 people. Shall I save it?",
    ]
    executor, model = make_executor([form], script)
    for text in ("Add Acme", "250", "make it 300 employees"):
        reply = executor.send("t", text)
    assert "Not saved: the user has not answered the summary yet" in tool_results(model, 6)[-1]
    assert reply.form["state"] == "FILLED" and form.ledger.writes == []


def test_a_rejected_correction_after_the_summary_reopens_the_form(make_executor) -> None:
    form = CreateCompany()
    script = [
        *company_script()[:5],
        call("FormUpdate", {"employees": -3}),
        "That is not a headcount; how many people?",
    ]
    executor, model = make_executor([form], script)
    for text in ("Add Acme", "250", "make it -3"):
        reply = executor.send("t", text)
    assert reply.form["state"] == "ACTIVE" and reply.form["values"]["employees"] == 250
    assert "state ACTIVE" in model.requests[-1].messages[-1].text


def test_the_graph_has_the_designed_edges(make_executor) -> None:
    executor, _ = make_executor([CreateCompany()], [])
    edges = {(edge.source, edge.target) for edge in executor.graph.get_graph().edges}
    assert edges == {
        ("__start__", "agent"),
        ("agent", "tool"),  # also a structured confirmation, which saves the FILLED form without the model
        ("agent", "__end__"),
        ("tool", "agent"),
        ("tool", "give_up"),
        ("tool", "__end__"),
        ("give_up", "__end__"),
    }
