"""The prompt layout that lets a provider cache it: what changes from call to call comes after the part
that does not, and a form can start with the values the user already gave."""

from __future__ import annotations

import itertools
from datetime import timedelta

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from converso.form_agent.prompts import is_state_note
from converso.form_agent.state import FormToolState
from tests.engine.conftest import NOW, call
from tests.engine.forms import CreateCompany, CreateEmployee


def test_each_request_extends_the_one_before_it_and_only_the_note_changes(make_executor) -> None:
    script = [
        call("CreateCompanyStart"),
        call("FormUpdate", {"name": "Acme"}),
        "How many people?",
        call("FormUpdate", {"employees": 250}),
        "Acme, 250 people. Save it?",
        call("FormFinalize", {"confirm": True}),
        "Saved.",
    ]
    ticks = itertools.count()
    executor, model = make_executor(
        [CreateCompany()], script, clock=lambda: NOW + timedelta(seconds=next(ticks) * 7.5)
    )
    for text in ("Add Acme", "250", "yes"):
        executor.send("t", text)
    requests = model.requests
    for before, after in itertools.pairwise(requests):
        assert after.tool_schemas == before.tool_schemas
        assert after.messages[: len(before.messages) - 1] == before.messages[:-1]
    assert all(isinstance(request.messages[0], SystemMessage) for request in requests)
    assert all(is_state_note(request.messages[-1]) for request in requests)
    # The history stored for the thread holds no note: it is sent, never kept.
    assert not any(is_state_note(message) for message in executor.messages("t"))


def test_a_start_with_values_fills_the_form_in_one_call(make_executor) -> None:
    form = CreateCompany()
    script = [
        call("CreateCompanyStart", {"name": "Acme", "employees": 250}),
        "Acme, 250 people. Save it?",
        call("FormFinalize", {"confirm": True}),
        "Saved.",
    ]
    executor, model = make_executor([form], script)
    reply = executor.send("t", "Add Acme, 250 people")
    assert reply.form["state"] == "FILLED" and reply.form["values"] == {"name": "Acme", "employees": 250}
    result = [m.text for m in model.requests[1].messages if isinstance(m, ToolMessage)][-1]
    assert result.startswith("Started form CreateCompany. Stored: name, employees.")
    assert model.requests[1].tool_choice is None
    executor.send("t", "yes")
    assert [write["employees"] for write in form.ledger.writes] == [250]


def test_a_start_with_values_still_waits_for_the_users_answer_to_the_summary(make_executor) -> None:
    form = CreateCompany()
    script = [
        {
            "tool_calls": [
                {"name": "CreateCompanyStart", "args": {"name": "Acme", "employees": 3}},
                {"name": "FormFinalize", "args": {"confirm": True}},
            ]
        },
        "Acme, 3 people. Save it?",
    ]
    executor, model = make_executor([form], script)
    reply = executor.send("t", "Add Acme with 3 people and save it")
    assert reply.form["state"] == "FILLED" and form.ledger.writes == []
    result = [m.text for m in model.requests[1].messages if isinstance(m, ToolMessage)][-1]
    assert result.startswith("Not saved: the user has not answered the summary yet")


def test_a_start_with_a_rejected_value_opens_the_form_and_says_what_was_wrong(make_executor) -> None:
    executor, model = make_executor(
        [CreateEmployee(), CreateCompany()],
        [
            call("CreateCompanyStart", {"name": "Acme"}),
            call("CreateEmployeeStart", {"first_name": "Ada", "company": "Globex"}),
            "Which company?",
        ],
    )
    reply = executor.send("t", "Add Acme, and Ada who works at Globex")
    assert reply.form["name"] == "CreateEmployee" and reply.form["values"] == {"first_name": "Ada"}
    result = [m.text for m in model.requests[2].messages if isinstance(m, ToolMessage)][-1]
    assert result.startswith("CreateCompany is paused and resumes after CreateEmployee. Started form")
    assert "company: no company named 'Globex'" in result


def test_the_start_tool_names_the_fields_it_takes() -> None:
    shown = convert_to_openai_tool(CreateCompany().variant(FormToolState.INACTIVE))["function"]
    assert shown["name"] == "CreateCompanyStart"
    assert shown["description"].endswith("Optional arguments: name, employees, domain, ideal_customer.")
    assert shown["parameters"] == {"type": "object", "properties": {}, "additionalProperties": True}


def test_the_note_is_a_user_message_so_every_provider_accepts_it_after_the_history(make_executor) -> None:
    executor, model = make_executor([CreateCompany()], ["Hello."])
    executor.send("t", "hi")
    note = model.requests[0].messages[-1]
    assert isinstance(note, HumanMessage)
    assert note.text == "[Form note] Now: 2026-11-21T10:00+00:00 (Saturday).\nNo form is active."


# -- provider hooks -------------------------------------------------------------------------------------


def _sent(model_messages) -> list:
    started = AIMessage("", tool_calls=[{"name": "CreateCompanyStart", "args": {}, "id": "c1"}])
    return [
        SystemMessage("rules"),
        HumanMessage("add Acme"),
        started,
        ToolMessage("Started", tool_call_id="c1"),
        *model_messages,
    ]


def test_openai_calls_carry_a_prompt_cache_key_per_thread_in_the_request_body() -> None:
    from langchain_openai import ChatOpenAI

    from converso.form_agent.prompt_cache import cache_kwargs

    model = ChatOpenAI(model="gpt-4o-mini", api_key="unused")
    key = cache_kwargs(model, "thread-1")["prompt_cache_key"]
    assert (
        key
        == cache_kwargs(model, "thread-1")["prompt_cache_key"]
        != cache_kwargs(model, "t2")["prompt_cache_key"]
    )
    assert "thread-1" not in key
    payload = model._get_request_payload([HumanMessage("hi")], **cache_kwargs(model, "thread-1"))
    assert payload["prompt_cache_key"] == key
    # Another OpenAI-compatible server may not know the parameter: it is not sent there.
    local = ChatOpenAI(model="m", api_key="unused", base_url="http://127.0.0.1:9/v1")
    assert cache_kwargs(local, "thread-1") == {}


def test_other_models_get_the_messages_unchanged_and_no_arguments(make_executor) -> None:
    from converso.form_agent.prompt_cache import cache_kwargs, with_cache_breakpoints
    from converso.testing import ScriptedChatModel

    model = ScriptedChatModel(responses=[])
    messages = _sent([HumanMessage("[Form note] Now")])
    assert with_cache_breakpoints(model, messages) == messages
    assert cache_kwargs(model, "thread-1") == {}


def test_anthropic_requests_mark_the_system_prompt_and_the_end_of_the_history() -> None:
    import pytest

    anthropic = pytest.importorskip("langchain_anthropic")
    from converso.form_agent.prompt_cache import with_cache_breakpoints

    model = anthropic.ChatAnthropic(model="claude-sonnet-4-5", api_key="unused")
    messages = [*_sent([]), HumanMessage("[Form note] Now: 2026-11-21T10:00+00:00.")]
    payload = model._get_request_payload(with_cache_breakpoints(model, messages))
    assert payload["system"][-1]["cache_control"] == {"type": "ephemeral"}
    tool_result = payload["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["cache_control"] == {"type": "ephemeral"}
    note = payload["messages"][-1]["content"][-1]
    assert "cache_control" not in note and note["text"].startswith("[Form note]")
    # The stored messages are left as they were.
    assert messages[0].content == "rules"


def test_the_journal_records_the_prompt_tokens_read_from_the_cache() -> None:
    from langchain_core.outputs import ChatGeneration, LLMResult

    from converso.journal import _usage

    usage = {"input_tokens": 2000, "output_tokens": 10, "total_tokens": 2010}
    message = AIMessage("hi", usage_metadata={**usage, "input_token_details": {"cache_read": 1792}})
    result = LLMResult(generations=[[ChatGeneration(message=message)]])
    assert _usage(result) == {**usage, "cache_read_tokens": 1792}
    raw = {
        "prompt_tokens": 5,
        "completion_tokens": 1,
        "total_tokens": 6,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    assert _usage(LLMResult(generations=[[]], llm_output={"token_usage": raw}))["cache_read_tokens"] == 0


def test_the_names_a_forms_own_tools_had_are_still_accepted_for_the_active_form(make_executor) -> None:
    form = CreateCompany()
    script = [
        call("CreateCompanyStart"),
        call("CreateCompanyUpdate", {"name": "Acme", "employees": 3}),
        "Save Acme?",
        call("CreateCompanyFinalize", {"confirm": True}),
        "Saved.",
    ]
    executor, _ = make_executor([form, CreateEmployee()], script)
    assert executor.send("t", "Add Acme, 3 people").form["state"] == "FILLED"
    executor.send("t", "yes")
    assert [write["name"] for write in form.ledger.writes] == ["Acme"]
    # Only for the active form: another form's old name is an unknown tool.
    executor2, model2 = make_executor([form, CreateEmployee()], [call("CreateEmployeeUpdate", {}), "?"])
    executor2.send("t", "hi")
    assert [m.text for m in model2.requests[1].messages if isinstance(m, ToolMessage)][-1].startswith(
        "Unknown tool 'CreateEmployeeUpdate'"
    )
