"""The flat action vocabulary ⇄ Twenty-shaped backend calls (crm_tools.env.actions)."""

from __future__ import annotations

import pytest

from crm_tools.env.actions import (
    ACTIONS,
    STANDARD_ACTION_TYPES,
    ActionShapeError,
    parse_action,
    record_fields,
    require_action,
)
from crm_tools.errors import CRMError

CRM_MD_ACTION_TYPES = [
    "create_company",
    "update_company",
    "delete_company",
    "list_companies",
    "get_company",
    "create_person",
    "update_person",
    "delete_person",
    "list_people",
    "get_person",
    "create_opportunity",
    "update_opportunity",
    "delete_opportunity",
    "list_opportunities",
    "get_opportunity",
    "create_note",
    "list_notes",
    "create_task",
    "update_task",
    "complete_task",
    "list_tasks",
    "submit_answer",
]

# What the public client sends for every action: all fields, unset ones as null, plus its defaults.
PUBLIC_CLIENT_DEFAULTS = {
    "metadata": {},
    "limit": 60,
    "depth": 1,
    "cursor": None,
    "filter": None,
    "answer": None,
}


def test_standard_action_types_are_exactly_those_of_crm_md() -> None:
    assert sorted(STANDARD_ACTION_TYPES) == sorted(CRM_MD_ACTION_TYPES)


def test_create_company_nests_composite_fields_as_twenty_does() -> None:
    call = parse_action(
        {
            "action_type": "create_company",
            "company_name": "Acme",
            "company_domain": "acme.com",
            "company_address": "1 Main St",
            "company_employees": 12,
        }
    )
    assert (call.operation, call.object_name) == ("create", "company")
    assert call.payload == {
        "name": "Acme",
        "domainName": {"primaryLinkUrl": "acme.com"},
        "address": {"addressStreet1": "1 Main St"},
        "employees": 12,
    }


def test_public_client_nulls_and_defaults_count_as_absent_on_a_create() -> None:
    call = parse_action(
        {
            "action_type": "create_company",
            "company_name": "Acme",
            "person_email": None,
            **PUBLIC_CLIENT_DEFAULTS,
        }
    )
    assert call.payload == {"name": "Acme"} and call.params == {}


def test_person_fields_map_to_name_emails_phones_and_company() -> None:
    call = parse_action(
        {
            "action_type": "update_person",
            "record_id": "p1",
            "person_first_name": "Ada",
            "person_last_name": "Lovelace",
            "person_email": "ada@example.com",
            "person_phone": "+44 1",
            "person_company_id": "c1",
            "person_job_title": "CTO",
        }
    )
    assert call.record_id == "p1"
    assert call.payload == {
        "name": {"firstName": "Ada", "lastName": "Lovelace"},
        "emails": {"primaryEmail": "ada@example.com"},
        "phones": {"primaryPhoneNumber": "+44 1"},
        "companyId": "c1",
        "jobTitle": "CTO",
    }


def test_opportunity_amount_in_units_becomes_micros() -> None:
    call = parse_action(
        {
            "action_type": "create_opportunity",
            "opportunity_name": "Deal",
            "opportunity_amount": 1500.25,
            "opportunity_stage": "MEETING",
            "opportunity_close_date": "2026-03-15",
            "opportunity_company_id": "c1",
            "opportunity_person_id": "p1",
        }
    )
    assert call.payload == {
        "name": "Deal",
        "amount": {"amountMicros": 1_500_250_000},
        "stage": "MEETING",
        "closeDate": "2026-03-15",
        "companyId": "c1",
        "pointOfContactId": "p1",
    }


def test_amount_in_units_and_in_micros_together_is_refused() -> None:
    with pytest.raises(CRMError, match="give only one"):
        parse_action(
            {"action_type": "create_opportunity", "opportunity_amount": 1, "opportunity_amount_micros": 1}
        )


def test_create_note_targets_become_links() -> None:
    call = parse_action(
        {
            "action_type": "create_note",
            "note_title": "Call",
            "note_body": "went well",
            "note_target_person_id": "p1",
            "note_target_company_id": "c1",
        }
    )
    assert call.payload == {"title": "Call", "body": "went well"}
    assert sorted(call.links, key=str) == sorted(
        [("noteTarget", {"personId": "p1"}), ("noteTarget", {"companyId": "c1"})], key=str
    )


def test_create_task_maps_due_date_assignee_status_and_targets() -> None:
    call = parse_action(
        {
            "action_type": "create_task",
            "task_title": "Follow up",
            "task_body": "b",
            "task_due_date": "2026-02-15",
            "task_assignee_id": "u1",
            "task_status": "IN_PROGRESS",
            "task_target_opportunity_id": "o1",
        }
    )
    assert call.payload == {
        "title": "Follow up",
        "body": "b",
        "dueAt": "2026-02-15",
        "assigneeId": "u1",
        "status": "IN_PROGRESS",
    }
    assert call.links == (("taskTarget", {"opportunityId": "o1"}),)


def test_complete_task_needs_only_the_record_id() -> None:
    call = parse_action({"action_type": "complete_task", "record_id": "t1", **PUBLIC_CLIENT_DEFAULTS})
    assert (call.operation, call.object_name, call.record_id) == ("complete", "task", "t1")


def test_list_parameters_pass_through_and_cursor_is_starting_after() -> None:
    call = parse_action(
        {
            "action_type": "list_people",
            "limit": 5,
            "cursor": "abc",
            "order_by": "name.firstName[DescNullsLast]",
            "filter": 'name.firstName[ilike]:"%a%"',
            "depth": 0,
        }
    )
    assert call.params == {
        "limit": 5,
        "starting_after": "abc",
        "order_by": "name.firstName[DescNullsLast]",
        "filter": 'name.firstName[ilike]:"%a%"',
        "depth": 0,
    }


def test_cursor_and_a_different_starting_after_are_refused() -> None:
    with pytest.raises(CRMError, match="legacy name"):
        parse_action({"action_type": "list_companies", "cursor": "a", "starting_after": "b"})


def test_get_takes_depth_and_ignores_the_other_list_defaults() -> None:
    call = parse_action({"action_type": "get_company", "record_id": "c1", **PUBLIC_CLIENT_DEFAULTS})
    assert call.params == {"depth": 1}


def test_get_without_record_id_fails_the_step() -> None:
    with pytest.raises(CRMError, match="needs 'record_id'"):
        parse_action({"action_type": "get_person"})


def test_a_field_of_another_object_fails_the_step_naming_what_is_accepted() -> None:
    with pytest.raises(
        CRMError, match="'person_email' cannot be used with create_company; it accepts company_name"
    ):
        parse_action({"action_type": "create_company", "company_name": "A", "person_email": "x@y.z"})


def test_submit_answer_carries_the_answer() -> None:
    call = parse_action(
        {"action_type": "submit_answer", "answer": "42", **PUBLIC_CLIENT_DEFAULTS | {"answer": "42"}}
    )
    assert (call.operation, call.answer) == ("submit", "42")


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({"action_type": "fly_company"}, "Unknown action_type 'fly_company'"),
        ({}, "Unknown action_type None"),
        ({"action_type": "create_company", "company_nam": "A"}, "Did you mean 'company_name'"),
        (
            {"action_type": "create_company", "company_employees": "ten"},
            "'company_employees' must be an integer",
        ),
        ({"action_type": "create_company", "company_employees": True}, "must be an integer"),
        ({"action_type": "create_company", "company_name": 5}, "'company_name' must be a string"),
        ({"action_type": "list_companies", "filter": 5}, "'filter' must be a string"),
    ],
)
def test_malformed_actions_are_shape_errors(action: object, message: str) -> None:
    with pytest.raises(ActionShapeError, match=message):
        parse_action(action)


def test_clear_fields_sets_values_to_null_on_update() -> None:
    call = parse_action(
        {
            "action_type": "update_person",
            "record_id": "p1",
            "clear_fields": ["person_company_id", "person_phone"],
        }
    )
    assert call.payload == {"companyId": None, "phones": {"primaryPhoneNumber": None}}


def test_clear_fields_naming_a_field_of_another_object_fails() -> None:
    with pytest.raises(CRMError, match="does not have"):
        parse_action({"action_type": "update_person", "record_id": "p1", "clear_fields": ["company_name"]})


def test_idempotency_key_is_only_for_creates() -> None:
    assert (
        parse_action(
            {"action_type": "create_task", "task_title": "t", "idempotency_key": "k"}
        ).idempotency_key
        == "k"
    )
    with pytest.raises(CRMError, match="only applies to create"):
        parse_action({"action_type": "delete_task", "record_id": "t", "idempotency_key": "k"})


def test_extension_actions_cover_every_operation_on_every_object() -> None:
    for name in ("company", "person", "opportunity", "note", "task", "noteTarget", "taskTarget"):
        for operation in ("create", "update", "delete", "list", "get"):
            assert require_action(name, operation, extensions=True) in ACTIONS


def test_client_refuses_an_action_the_standard_vocabulary_lacks() -> None:
    with pytest.raises(CRMError, match="no 'get_note' action"):
        require_action("note", "get", extensions=False)


# -- client side: Twenty payload -> flat fields --------------------------------------------


def test_record_fields_inverts_parse_action_for_every_standard_field() -> None:
    payload = {
        "name": {"firstName": "Ada", "lastName": "L"},
        "emails": {"primaryEmail": "a@b.c"},
        "phones": {"primaryPhoneNumber": "1"},
        "companyId": "c1",
        "jobTitle": "CTO",
    }
    fields = record_fields("person", payload, extensions=False, creating=True)
    assert parse_action({"action_type": "create_person", **fields}).payload == payload


def test_amount_travels_in_units_without_the_extension_and_in_micros_with_it() -> None:
    payload = {"name": "D", "amount": {"amountMicros": 1_234_567_891, "currencyCode": "USD"}}
    standard = record_fields("opportunity", payload, extensions=False, creating=True)
    assert standard == {"opportunity_name": "D", "opportunity_amount": 1234.567891}
    assert parse_action({"action_type": "create_opportunity", **standard}).payload["amount"] == {
        "amountMicros": 1_234_567_891
    }
    extended = record_fields("opportunity", payload, extensions=True, creating=True)
    assert extended["opportunity_amount_micros"] == 1_234_567_891
    assert extended["opportunity_currency_code"] == "USD"


def test_a_field_the_vocabulary_cannot_carry_is_an_error_naming_it() -> None:
    with pytest.raises(CRMError, match=r"cannot carry address\.addressCity of a company") as raised:
        record_fields(
            "company", {"name": "A", "address": {"addressCity": "Paris"}}, extensions=False, creating=True
        )
    assert "address.addressStreet1" in raised.value.message


def test_the_extension_carries_every_company_field() -> None:
    payload = {
        "name": "A",
        "domainName": {"primaryLinkUrl": "a.com"},
        "address": {
            "addressStreet1": "1",
            "addressStreet2": "2",
            "addressCity": "Paris",
            "addressPostcode": "75001",
            "addressState": "IDF",
            "addressCountry": "France",
        },
        "employees": 3,
        "annualRecurringRevenue": {"amountMicros": 5, "currencyCode": "EUR"},
        "idealCustomerProfile": True,
    }
    fields = record_fields("company", payload, extensions=True, creating=True)
    assert parse_action({"action_type": "create_company", **fields}).payload == payload


def test_setting_a_value_to_null_needs_the_extension() -> None:
    with pytest.raises(CRMError, match=r"companyId \(set to null\)"):
        record_fields("person", {"companyId": None}, extensions=False, creating=False)
    assert record_fields("person", {"companyId": None}, extensions=True, creating=False) == {
        "clear_fields": ["person_company_id"]
    }


def test_a_whole_composite_set_to_null_clears_each_subfield() -> None:
    fields = record_fields("opportunity", {"amount": None}, extensions=True, creating=False)
    call = parse_action({"action_type": "update_opportunity", "record_id": "o", **fields})
    assert call.payload == {"amount": {"amountMicros": None, "currencyCode": None}}


def test_note_target_records_use_their_own_prefixed_fields() -> None:
    fields = record_fields("noteTarget", {"noteId": "n1", "personId": "p1"}, extensions=True, creating=True)
    assert fields == {"note_target_note_id": "n1", "note_target_person_id": "p1"}
    assert parse_action({"action_type": "create_note_target", **fields}).payload == {
        "noteId": "n1",
        "personId": "p1",
    }
