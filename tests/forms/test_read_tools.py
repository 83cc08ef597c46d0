"""Read and action tools: compact results a person would read, CRM errors as text, never exceptions."""

from __future__ import annotations

import pytest

from crm_tools.toolset import build_tools
from tests.forms.conftest import add_company, add_opportunity, add_person


@pytest.fixture
def tools(crm):
    return {tool.name: tool for tool in build_tools(crm)}


def test_search_finds_companies_people_and_opportunities_by_one_word(crm, tools):
    acme = add_company(crm, "Acme", "acme.com", employees=120)
    add_person(crm, "Jane", "Doe", "jane@acme.com", acme["id"], jobTitle="CTO")
    add_opportunity(crm, "Acme renewal", stage="PROPOSAL")
    add_company(crm, "Globex")
    result = tools["search"].invoke({"query": "acme"})
    assert result == (
        "Companies:\n"
        f"- Acme | id={acme['id']} | domain=acme.com | employees=120\n"
        "People:\n"
        f"- Jane Doe | id={result.split('Jane Doe | id=')[1].split(' ')[0]} | email=jane@acme.com | job=CTO"
        " | company=Acme\n"
        "Opportunities:\n"
        f"- Acme renewal | id={result.split('Acme renewal | id=')[1].split(' ')[0]} | stage=PROPOSAL"
    )


def test_search_matches_a_full_name_word_by_word(crm, tools):
    add_person(crm, "Jane", "Doe")
    add_person(crm, "Jane", "Roe")
    result = tools["search"].invoke({"query": "jane doe"})
    assert "Jane Doe" in result and "Jane Roe" not in result


def test_search_with_no_hit_says_so(crm, tools):
    assert tools["search"].invoke({"query": "zzz"}) == (
        "Nothing matches 'zzz' among companies, people and opportunities."
    )


def test_a_search_term_with_quotes_and_commas_is_not_a_filter_error(crm, tools):
    add_company(crm, "Acme, Inc")
    assert "Acme, Inc" in tools["search"].invoke({"query": 'Acme, "Inc'})


def test_list_shows_the_count_and_a_cursor_for_the_next_page(crm, tools):
    for name in ("Alpha", "Bravo", "Charlie"):
        add_company(crm, name)
    result = tools["list_companies"].invoke({"order_by": "name[ASC]", "limit": 2})
    lines = result.splitlines()
    assert lines[0] == "2 of 3 companies:"
    assert lines[1].startswith("- Alpha | id=") and lines[2].startswith("- Bravo | id=")
    cursor = lines[3].removeprefix("next page: starting_after=")
    following = tools["list_companies"].invoke(
        {"order_by": "name[ASC]", "limit": 2, "starting_after": cursor}
    )
    assert following.splitlines()[1].startswith("- Charlie | id=")


def test_list_applies_the_filter(crm, tools):
    add_opportunity(crm, "Won deal", stage="WON")
    add_opportunity(crm, "New deal")
    result = tools["list_opportunities"].invoke({"filter": "stage[eq]:WON"})
    assert result.startswith("1 of 1 opportunities:\n- Won deal |")


def test_an_invalid_filter_comes_back_as_a_readable_error(crm, tools):
    result = tools["list_opportunities"].invoke({"filter": "stage[eq]:FOO"})
    assert result.startswith("CRM error: ") and "FOO" in result


def test_an_empty_list_says_nothing_matches(crm, tools):
    assert tools["list_tasks"].invoke({}) == "No tasks match."


def test_opportunity_rows_show_amount_stage_close_date_and_names_of_related_records(crm, tools):
    acme = add_company(crm, "Acme")
    jane = add_person(crm, "Jane", "Doe", company_id=acme["id"])
    deal = add_opportunity(
        crm,
        "Big deal",
        amount={"amountMicros": 12_500_000_000, "currencyCode": "EUR"},
        closeDate="2026-12-01T00:00:00.000Z",
        companyId=acme["id"],
        pointOfContactId=jane["id"],
    )
    assert tools["get_record"].invoke({"id": deal["id"]}) == (
        f"opportunity: Big deal | id={deal['id']} | amount=12,500 EUR | stage=NEW | close=2026-12-01"
        " | company=Acme | contact=Jane Doe"
    )


def test_get_company_lists_its_people(crm, tools):
    acme = add_company(crm, "Acme")
    add_person(crm, "Jane", "Doe", "jane@acme.com", acme["id"])
    result = tools["get_record"].invoke({"id": acme["id"]})
    assert result.startswith(f"company: Acme | id={acme['id']}")
    assert "people:\n- Jane Doe | id=" in result


def test_get_of_an_unknown_id_says_no_record_has_it(crm, tools):
    result = tools["get_record"].invoke({"id": "6f1c0c1e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"})
    assert result == (
        "No company, person, opportunity, task or note has id '6f1c0c1e-3a4b-4c5d-8e9f-0a1b2c3d4e5f'."
    )


def test_get_of_a_name_instead_of_an_id_points_to_search(crm, tools):
    assert tools["get_record"].invoke({"id": "acme"}) == (
        "'acme' is not a record id (ids are UUIDs). Use search to find a record by name."
    )


def test_get_shows_a_task_with_its_body(crm, tools):
    task = crm.create("task", {"title": "Call Jane", "body": "About the pilot", "status": "TODO"})
    task_id = task["data"]["createTask"]["id"]
    assert tools["get_record"].invoke({"id": task_id}) == (
        f"task: Call Jane | id={task_id} | status=TODO | body=About the pilot"
    )


def test_get_shows_the_whole_body_of_a_long_note(crm, tools):
    note = crm.create("note", {"title": "Call", "body": "Line one\nLine two"})["data"]["createNote"]
    assert tools["get_record"].invoke({"id": note["id"]}) == (
        f"note: Call | id={note['id']} | body=Line one\nLine one\nLine two"
    )


def test_complete_task_marks_it_done_and_names_it(crm, tools):
    task = crm.create("task", {"title": "Call Jane"})["data"]["createTask"]
    assert tools["complete_task"].invoke({"task_id": task["id"]}) == (
        f"Task 'Call Jane' (id={task['id']}) is now DONE."
    )
    assert crm.get("task", task["id"])["data"]["task"]["status"] == "DONE"


def test_read_only_toolset_has_no_tool_that_writes(crm):
    names = {tool.name for tool in build_tools(crm, read_only=True)}
    assert "search" in names and "list_companies" in names and "get_record" in names
    assert not any(name.startswith(("Create", "Update", "Delete", "complete")) for name in names)
