"""The replay runner against the real engine, in a tiny world (one booking form, one read tool)."""

from __future__ import annotations

import pytest

from converso.testing.cassette import parse_cassette
from converso.testing.replay import CassetteFailedError, ReplayResult, assert_replays, replay
from tests.replay.tiny_world import TinyWorld

BOOKING = """
name: book a table in two turns
now: "2026-11-21T10:00:00Z"
turns:
  - user: "A table for Ada please"
    model:
      - expect_tools_include: [BookTableStart, opening_hours]
        tool_calls: [{name: BookTableStart, args: {}}]
      - expect_tool_choice: FormUpdate
        expect_last_tool_result_contains: "Started form BookTable"
        tool_calls: [{name: FormUpdate, args: {guest: Ada, seats: 3}}]
      - text: "Ada, 3 seats. Shall I book it?"
    expect:
      reply: "Ada, 3 seats. Shall I book it?"
      form: {name: BookTable, state: FILLED, values: {guest: Ada, seats: 3}}
  - user: "yes"
    model:
      - expect_tools_include: [FormFinalize, FormReset]
        tool_calls: [{name: FormFinalize, args: {confirm: true}}]
      - expect_last_tool_result_contains: "booked for Ada"
        text: "Booked."
    expect:
      reply_contains: "Booked"
      form: null
expect_crm:
  bookings:
    - {guest: Ada, seats: 3}
"""


def _run(text: str) -> ReplayResult:
    return replay(parse_cassette(text), world=TinyWorld)


def _failure(text: str) -> str:
    result = _run(text)
    assert result.failure is not None, "the cassette was expected to fail but passed"
    return result.report()


def _edit(old: str, new: str, text: str = BOOKING) -> str:
    assert old in text
    return text.replace(old, new, 1)


def test_a_correct_cassette_passes_and_reports_the_records_written() -> None:
    result = _run(BOOKING)

    assert result.passed, result.report()
    assert [turn.reply for turn in result.turns] == ["Ada, 3 seats. Shall I book it?", "Booked."]
    assert result.written["bookings"][0]["guest"] == "Ada"


def test_an_extra_llm_call_fails_naming_the_turn_and_call() -> None:
    # Without the closing text item the engine calls the model again after Finalize.
    text = _edit('      - expect_last_tool_result_contains: "booked for Ada"\n        text: "Booked."\n', "")

    report = _failure(text)

    assert 'turn 2 ("yes"), model call 2: the engine made LLM call 2, but the turn scripts only 1' in report


def test_left_over_items_fail_naming_the_first_unused_call() -> None:
    text = _edit('        text: "Booked."\n', '        text: "Booked."\n      - text: "never asked"\n')

    report = _failure(text)

    assert 'turn 2 ("yes"), model call 3: the turn ended after 2 LLM call(s) but scripts 3' in report


def test_a_tool_not_offered_fails_expect_tools_include_with_the_offered_list() -> None:
    report = _failure(_edit("[BookTableStart, opening_hours]", "[BookTableStart, search]"))

    assert (
        'turn 1 ("A table for Ada please"), model call 1: expect_tools_include: search not offered' in report
    )
    assert "offered tools: BookTableStart, FormUpdate, FormFinalize, FormReset, opening_hours" in report


def test_a_tool_offered_fails_expect_tools_exclude() -> None:
    report = _failure(
        _edit(
            "      - expect_tools_include: [BookTableStart, opening_hours]\n",
            "      - expect_tools_include: [BookTableStart, opening_hours]\n        expect_tools_exclude: [opening_hours]\n",
        )
    )

    assert "model call 1: expect_tools_exclude: opening_hours offered" in report


def test_a_wrong_forced_tool_fails_with_a_diff() -> None:
    report = _failure(_edit("expect_tool_choice: FormUpdate", "expect_tool_choice: FormFinalize"))

    assert "model call 2: expect_tool_choice differs" in report
    assert "-tool_choice: FormFinalize" in report and "+tool_choice: FormUpdate" in report


def test_an_unforced_call_has_tool_choice_auto() -> None:
    text = _edit(
        "      - expect_tools_include: [BookTableStart, opening_hours]",
        "      - expect_tool_choice: auto\n        expect_tools_include: [BookTableStart, opening_hours]",
    )

    assert _run(text).passed


def test_a_missing_tool_result_text_fails_expect_last_tool_result_contains() -> None:
    report = _failure(_edit('"booked for Ada"', '"booked for Bob"'))

    assert "turn 2 (\"yes\"), model call 2: expect_last_tool_result_contains: 'booked for Bob'" in report
    assert "booked for Ada (3 seats)" in report


def test_an_exact_reply_mismatch_prints_expected_and_actual() -> None:
    report = _failure(_edit('reply: "Ada, 3 seats. Shall I book it?"', 'reply: "Ada, 4 seats?"'))

    assert 'turn 1 ("A table for Ada please"), expect: reply differs' in report
    assert "-reply: Ada, 4 seats?" in report and "+reply: Ada, 3 seats. Shall I book it?" in report


def test_reply_contains_mismatch_fails() -> None:
    assert "reply does not contain 'Cancelled'" in _failure(
        _edit('reply_contains: "Booked"', 'reply_contains: "Cancelled"')
    )


def test_a_form_value_mismatch_shows_the_form_diff() -> None:
    report = _failure(_edit("values: {guest: Ada, seats: 3}", "values: {guest: Ada, seats: 4}"))

    assert 'turn 1 ("A table for Ada please"), expect: the active form differs' in report
    assert "-    seats: 4" in report and "+    seats: 3" in report


def test_form_null_fails_while_a_form_is_active() -> None:
    report = _failure(
        _edit("form: {name: BookTable, state: FILLED, values: {guest: Ada, seats: 3}}", "form: null")
    )

    assert 'turn 1 ("A table for Ada please"), expect: expected no active form' in report


def test_expect_crm_counts_records_exactly() -> None:
    report = _failure(
        _edit("    - {guest: Ada, seats: 3}\n", "    - {guest: Ada, seats: 3}\n    - {guest: Ada}\n")
    )

    assert "expect_crm: bookings: expected 2 records, found 1" in report


def test_expect_crm_fields_must_match() -> None:
    report = _failure(_edit("    - {guest: Ada, seats: 3}\n", "    - {guest: Ada, seats: 2}\n"))

    assert "expect_crm: bookings: the records do not each match a distinct expected record" in report
    assert "-  seats: 2" in report and "+  seats: 3" in report


def test_an_unknown_object_type_in_expect_crm_names_the_known_ones() -> None:
    report = _failure(_edit("  bookings:\n", "  tables:\n"))

    assert "unknown object type 'tables'; this world has: bookings" in report


def test_with_a_seed_only_records_written_by_the_conversation_are_compared() -> None:
    seeded = _edit('now: "2026-11-21T10:00:00Z"\n', 'now: "2026-11-21T10:00:00Z"\ncrm: {seed: 3}\n')

    result = _run(seeded)

    assert result.passed, result.report()
    assert [b["guest"] for b in result.written["bookings"]] == ["Ada"]


def test_without_a_seed_every_record_is_compared() -> None:
    result = _run(
        _edit("expect_crm:\n  bookings:\n    - {guest: Ada, seats: 3}\n", "expect_crm:\n  bookings: []\n")
    )

    assert "expect_crm: bookings: expected 0 records, found 1" in result.report()


def test_the_run_stops_at_the_first_failing_turn() -> None:
    result = _run(_edit('reply: "Ada, 3 seats. Shall I book it?"', 'reply: "something else"'))

    assert len(result.turns) == 1


def test_a_failing_item_check_is_reported_even_though_the_turn_completed() -> None:
    result = _run(_edit("expect_tool_choice: FormUpdate", "expect_tool_choice: opening_hours"))

    assert result.turns[0].reply == "Ada, 3 seats. Shall I book it?"
    assert result.failure is not None and result.failure.where.endswith("model call 2")


def test_malformed_json_arguments_reach_the_engine_as_raw_text() -> None:
    text = _edit(
        "        tool_calls: [{name: FormUpdate, args: {guest: Ada, seats: 3}}]\n",
        '        tool_calls: [{name: FormUpdate, args: \'{"guest": "Ad\'}]\n'
        '      - expect_last_tool_result_contains: "not valid JSON"\n'
        "        tool_calls: [{name: FormUpdate, args: {guest: Ada, seats: 3}}]\n",
    )

    assert _run(text).passed


def test_replay_is_deterministic() -> None:
    first, second = _run(BOOKING), _run(BOOKING)

    assert [t.requests[-1].messages[-1].text for t in first.turns] == [
        t.requests[-1].messages[-1].text for t in second.turns
    ]
    assert first.written == second.written


def test_assert_replays_raises_with_the_report() -> None:
    with pytest.raises(CassetteFailedError, match="FAILED book a table in two turns"):
        assert_replays(
            parse_cassette(_edit('reply_contains: "Booked"', 'reply_contains: "Nope"')), world=TinyWorld
        )
