"""Loading cassettes: the docs/cassettes.md format becomes typed objects; mistakes name file, turn and key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from converso.testing.cassette import (
    DEFAULT_NOW,
    CassetteError,
    CRMSetting,
    ScriptedToolCall,
    cassette_to_yaml,
    load_cassette,
    parse_cassette,
)

SPEC_EXAMPLE = """
name: create a company across three turns
now: "2026-11-21T10:00:00Z"
crm: empty
turns:
  - user: "Please add a company called Acme"
    model:
      - expect_tools_include: [CreateCompanyStart, list_companies]
        tool_calls:
          - {name: CreateCompanyStart, args: {}}
      - expect_tool_choice: FormUpdate
        tool_calls:
          - {name: FormUpdate, args: {name: Acme}}
      - text: "What is Acme's web domain?"
    expect:
      reply: "What is Acme's web domain?"
      form: {name: CreateCompany, state: ACTIVE, values: {name: Acme}}
  - user: "acme.com, 250 people"
    model:
      - tool_calls:
          - {name: FormUpdate, args: {domain: acme.com, employees: 250}}
      - text: "Name Acme, domain acme.com, 250 employees. Shall I create it?"
    expect:
      form: {name: CreateCompany, state: FILLED}
  - user: "yes"
    model:
      - tool_calls:
          - {name: FormFinalize, args: {confirm: true}}
      - expect_last_tool_result_contains: "Acme"
        text: "Done: Acme is in the CRM."
    expect:
      form: null
expect_crm:
  companies:
    - {name: Acme, domainName: {primaryLinkUrl: acme.com}, employees: 250}
  people: []
"""


def _error(text: str) -> str:
    with pytest.raises(CassetteError) as info:
        parse_cassette(text, source=Path("broken.cassette.yaml"))
    return str(info.value)


def test_the_specification_example_loads_into_typed_turns_and_items() -> None:
    cassette = parse_cassette(SPEC_EXAMPLE)

    assert cassette.name == "create a company across three turns"
    assert cassette.now == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert cassette.crm == CRMSetting(seed=None)
    assert [len(turn.model) for turn in cassette.turns] == [3, 2, 2]
    first = cassette.turns[0]
    assert first.model[0].expect_tools_include == ("CreateCompanyStart", "list_companies")
    assert first.model[0].tool_calls == (ScriptedToolCall(name="CreateCompanyStart", args={}),)
    assert first.model[1].expect_tool_choice == "FormUpdate"
    assert first.model[2].text == "What is Acme's web domain?"
    assert first.expect.reply == "What is Acme's web domain?"
    assert first.expect.form is not None and first.expect.form.values == {"name": "Acme"}
    assert cassette.turns[2].model[1].expect_last_tool_result_contains == "Acme"
    assert cassette.expect_crm == {
        "companies": ({"name": "Acme", "domainName": {"primaryLinkUrl": "acme.com"}, "employees": 250},),
        "people": (),
    }


def test_form_null_means_no_form_may_be_active_while_absent_form_is_unchecked() -> None:
    cassette = parse_cassette(SPEC_EXAMPLE)

    assert cassette.turns[2].expect.checks_form and cassette.turns[2].expect.form is None
    no_expect = parse_cassette("name: x\nturns:\n  - user: hi\n    model:\n      - text: hello\n")
    assert not no_expect.turns[0].expect.checks_form


def test_seeded_crm_and_defaults() -> None:
    cassette = parse_cassette("name: x\ncrm: {seed: 7}\nturns:\n  - user: hi\n    model: [{text: hello}]\n")

    assert cassette.crm.seed == 7
    assert cassette.now == DEFAULT_NOW
    assert cassette.world == "crm"
    assert cassette.expect_crm is None


def test_raw_string_args_are_kept_verbatim_for_malformed_json() -> None:
    cassette = parse_cassette(
        "name: x\nturns:\n  - user: hi\n    model:\n"
        '      - tool_calls: [{name: FormUpdate, args: \'{"name": "Ac\'}]\n'
        "      - text: sorry\n"
    )

    assert cassette.turns[0].model[0].tool_calls[0].args == '{"name": "Ac'


def test_an_unknown_key_names_file_turn_call_and_the_accepted_keys() -> None:
    message = _error("name: x\nturns:\n  - user: hi\n    model:\n      - text: a\n      - txt: b\n")

    assert message.startswith("broken.cassette.yaml: turn 1, model call 2:")
    assert "unknown key 'txt'" in message
    assert "'text'" in message and "'tool_calls'" in message


def test_an_item_with_both_text_and_tool_calls_is_rejected() -> None:
    message = _error(
        "name: x\nturns:\n  - user: hi\n    model:\n      - {text: a, tool_calls: [{name: T}]}\n"
    )

    assert "turn 1, model call 1" in message
    assert "either 'tool_calls'" in message and "not both" in message


def test_an_item_with_neither_text_nor_tool_calls_is_rejected() -> None:
    message = _error("name: x\nturns:\n  - user: hi\n    model:\n      - expect_tool_choice: T\n")

    assert "turn 1, model call 1" in message and "not neither" in message


def test_an_unquoted_yes_is_reported_with_a_hint_to_quote_it() -> None:
    message = _error(
        "name: x\nturns:\n  - user: hi\n    model: [{text: a}]\n  - user: yes\n    model: [{text: b}]\n"
    )

    assert "turn 2: 'user' must be text" in message
    assert "YAML read it as True" in message


def test_a_turn_without_model_items_is_rejected() -> None:
    message = _error("name: x\nturns:\n  - user: hi\n    model: []\n")

    assert "turn 1: 'model' must be a non-empty list" in message


def test_missing_turns_is_rejected() -> None:
    assert "missing required key 'turns'" in _error("name: x\n")


def test_an_unknown_form_state_lists_the_states_accepted() -> None:
    message = _error(
        "name: x\nturns:\n  - user: hi\n    model: [{text: a}]\n    expect: {form: {name: F, state: DONE}}\n"
    )

    assert "turn 1, expect, form: 'state' must be one of ACTIVE, FILLED, got 'DONE'" in message


def test_a_bad_crm_setting_says_what_is_accepted() -> None:
    message = _error("name: x\ncrm: {seed: seven}\nturns:\n  - user: hi\n    model: [{text: a}]\n")

    assert "'crm' must be 'empty' or {seed: N}" in message


def test_reply_and_reply_contains_together_are_rejected() -> None:
    message = _error(
        "name: x\nturns:\n  - user: hi\n    model: [{text: a}]\n    expect: {reply: a, reply_contains: a}\n"
    )

    assert "turn 1, expect: give 'reply' (exact) or 'reply_contains', not both" in message


def test_invalid_yaml_reports_the_line() -> None:
    message = _error("name: x\nturns:\n  - user: [unclosed\n")

    assert message.startswith("broken.cassette.yaml: line ")
    assert "not valid YAML" in message


def test_expect_crm_must_list_records() -> None:
    message = _error("name: x\nturns:\n  - user: hi\n    model: [{text: a}]\nexpect_crm: {companies: Acme}\n")

    assert "expect_crm, companies: expected a list of records" in message


def test_a_missing_file_is_a_cassette_error(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="cannot read the cassette"):
        load_cassette(tmp_path / "absent.cassette.yaml")


def test_writing_and_loading_a_cassette_round_trips(tmp_path: Path) -> None:
    original = parse_cassette(SPEC_EXAMPLE)
    path = tmp_path / "round.cassette.yaml"
    path.write_text(cassette_to_yaml(original), encoding="utf-8")

    again = load_cassette(path)

    assert again.turns == original.turns
    assert again.expect_crm == original.expect_crm
    assert (again.name, again.now, again.crm) == (original.name, original.now, original.crm)
