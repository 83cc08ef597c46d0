"""The opt-in JSONL journal: what a turn leaves behind, and what it hides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converso.apps import AppOptions, ModelSettings
from converso.journal import Journal, mask_text
from converso.testing.openai_server import ScriptedOpenAIServer, call, status, text, tool_calls
from crm_tools.app import build_app

SCRIPT: list[Any] = [
    tool_calls(call("CreatePersonStart")),
    tool_calls(call("FormUpdate", {"first_name": "Jane", "email": "jane.doe@acme.com"})),
    text("Got it. Anything else about Jane?"),
]


def test_emails_are_masked_keeping_the_first_letter_and_the_top_level_domain() -> None:
    assert mask_text("write to jane.doe@acme.com today") == "write to j…@….com today"


def test_phone_numbers_are_masked_keeping_the_last_two_digits() -> None:
    assert mask_text("call +1 (415) 555-0199 now") == "call [phone …99] now"


def test_short_numbers_and_dates_are_not_taken_for_phone_numbers() -> None:
    assert mask_text("250 people since 2024-05-01") == "250 people since 2024-05-01"


def journaled_turn(tmp_path: Path, script: list[Any], *, unmasked: bool = False) -> list[dict[str, Any]]:
    with ScriptedOpenAIServer(script) as server:
        app = build_app(
            AppOptions(
                model=ModelSettings(
                    model="scripted", base_url=server.base_url, api_key="test", max_retries=0
                ),
                data_dir=tmp_path,
                journal_dir=tmp_path / "journal",
                journal_unmasked=unmasked,
            )
        )
        try:
            app.agent.send("thread-1", "Add Jane, jane.doe@acme.com, phone +1 415 555 0199")
        finally:
            app.close()
    return Journal(tmp_path / "journal").read("thread-1")


@pytest.fixture
def records(tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    yield journaled_turn(tmp_path, list(SCRIPT))


def test_a_turn_journals_user_text_model_calls_tool_calls_form_and_reply(
    records: list[dict[str, Any]],
) -> None:
    events = [r["event"] for r in records]
    assert events[0] == "user"
    assert events.count("model_call") == 3
    assert [r["tool"] for r in records if r["event"] == "tool_call"] == [
        "CreatePersonStart",
        "FormUpdate",
    ]
    assert events[-1] == "reply" and records[-1]["text"] == "Got it. Anything else about Jane?"
    assert all(r["thread_id"] == "thread-1" for r in records)


def test_model_calls_carry_latency_and_token_usage(records: list[dict[str, Any]]) -> None:
    call_record = next(r for r in records if r["event"] == "model_call")
    assert call_record["latency_ms"] >= 0
    assert call_record["usage"]["total_tokens"] > 0
    assert call_record["model"] == "scripted"


def test_tool_calls_carry_duration_and_a_bounded_preview(records: list[dict[str, Any]]) -> None:
    update = next(r for r in records if r["event"] == "tool_call" and r["tool"] == "FormUpdate")
    assert update["ok"] is True and update["duration_ms"] >= 0
    assert len(update["result"]) <= 300


def test_form_transitions_are_journaled(records: list[dict[str, Any]]) -> None:
    forms = [r for r in records if r["event"] == "form"]
    assert forms[0]["name"] == "CreatePerson" and forms[0]["from_state"] is None
    assert forms[0]["to_state"] == "ACTIVE"


def test_emails_and_phones_are_masked_by_default(records: list[dict[str, Any]]) -> None:
    dump = repr(records)
    assert "jane.doe@acme.com" not in dump and "555 0199" not in dump
    assert "j…@….com" in records[0]["text"]


def test_masking_can_be_turned_off(tmp_path: Path) -> None:
    records = journaled_turn(tmp_path, list(SCRIPT), unmasked=True)
    assert "jane.doe@acme.com" in records[0]["text"]


def test_a_failed_turn_journals_the_error(tmp_path: Path) -> None:
    records = journaled_turn(tmp_path, [status(500)])
    errors = [r for r in records if r["event"] == "error"]
    assert errors and "language model failed" in errors[0]["message"]
    assert any(r["event"] == "model_call" and r["ok"] is False for r in records)


def test_without_the_option_no_journal_is_written(tmp_path: Path) -> None:
    with ScriptedOpenAIServer([text("hello")]) as server:
        app = build_app(
            AppOptions(
                model=ModelSettings(model="scripted", base_url=server.base_url, api_key="t"),
                data_dir=tmp_path,
            )
        )
        try:
            app.agent.send("thread-1", "hi")
        finally:
            app.close()
    assert not (tmp_path / "journal").exists()
    assert not list(tmp_path.rglob("*.jsonl"))


def test_a_refused_tool_call_is_journaled_as_not_ok(tmp_path: Path) -> None:
    script: list[Any] = [
        tool_calls(call("CreatePersonStart")),
        tool_calls(call("FormUpdate", {"first_name": "Jane", "email": "not an email"})),
        text("What is Jane's email?"),
    ]
    records = journaled_turn(tmp_path, script)
    update = next(r for r in records if r["event"] == "tool_call" and r["tool"] == "FormUpdate")
    assert update["ok"] is False and "email" in update["result"]
