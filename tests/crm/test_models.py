"""Validation of record payloads: what a CRM user would expect to be cleaned or refused."""

from __future__ import annotations

import pytest

from crm_tools.errors import CRMError
from crm_tools.models import (
    SelectOptions,
    format_datetime,
    normalize_domain,
    parse_datetime,
    units_to_micros,
    validate_record,
)


def test_email_is_stored_lower_cased() -> None:
    person = validate_record(
        "person", {"name": {"firstName": "Ana"}, "emails": {"primaryEmail": " Ana@Example.COM "}}
    )
    assert person.emails.primaryEmail == "ana@example.com"


def test_malformed_email_is_refused_naming_the_field() -> None:
    with pytest.raises(CRMError) as info:
        validate_record(
            "person", {"name": {"firstName": "Ana"}, "emails": {"primaryEmail": "ana at example"}}
        )
    assert info.value.status_code == 400
    assert "'emails.primaryEmail'" in info.value.message
    assert "ana@example.com" in info.value.message


@pytest.mark.parametrize(
    "given",
    ["https://www.Acme.com/", "http://acme.com/about?x=1", "WWW.ACME.COM", "acme.com", "acme.com:8080"],
)
def test_domains_are_normalized_to_the_bare_host(given: str) -> None:
    assert normalize_domain(given) == "acme.com"


def test_a_domain_without_a_dot_is_refused() -> None:
    with pytest.raises(CRMError, match=r"'domainName.primaryLinkUrl'.*acme.com"):
        validate_record("company", {"name": "Acme", "domainName": {"primaryLinkUrl": "localhost"}})


def test_company_name_must_be_non_empty_after_trimming() -> None:
    with pytest.raises(CRMError, match="'name' must not be empty"):
        validate_record("company", {"name": "   "})


def test_names_are_trimmed() -> None:
    assert validate_record("company", {"name": "  Acme  "}).name == "Acme"


def test_person_needs_a_first_or_last_name() -> None:
    with pytest.raises(CRMError, match="'name' needs a firstName or a lastName"):
        validate_record("person", {"name": {"firstName": " ", "lastName": ""}})


def test_negative_amount_is_refused() -> None:
    with pytest.raises(CRMError, match=r"'amount.amountMicros'.*greater than or equal to 0"):
        validate_record("opportunity", {"name": "Deal", "amount": {"amountMicros": -1}})


def test_amount_without_currency_is_in_usd() -> None:
    deal = validate_record("opportunity", {"name": "Deal", "amount": {"amountMicros": 5_000_000}})
    assert deal.amount.currencyCode == "USD"


def test_units_convert_to_micros_exactly() -> None:
    assert units_to_micros("1234.5") == 1_234_500_000
    assert units_to_micros(0.1) == 100_000


def test_negative_units_are_refused() -> None:
    with pytest.raises(CRMError, match="number ≥ 0"):
        units_to_micros(-3)


def test_stage_defaults_to_the_first_option() -> None:
    assert validate_record("opportunity", {"name": "Deal"}).stage == "NEW"


def test_unknown_stage_is_refused_listing_the_options() -> None:
    with pytest.raises(
        CRMError, match="'stage' 'FOO' is not an option; accepted: NEW, MEETING, PROPOSAL, WON, LOST"
    ):
        validate_record("opportunity", {"name": "Deal", "stage": "FOO"})


def test_stage_options_are_configurable() -> None:
    options = SelectOptions(stage=("LEAD", "CLOSED"))
    assert validate_record("opportunity", {"name": "Deal"}, options).stage == "LEAD"
    with pytest.raises(CRMError, match="accepted: LEAD, CLOSED"):
        validate_record("opportunity", {"name": "Deal", "stage": "WON"}, options)


def test_task_status_defaults_to_todo_and_is_checked() -> None:
    assert validate_record("task", {"title": "Call"}).status == "TODO"
    with pytest.raises(CRMError, match="accepted: TODO, IN_PROGRESS, DONE"):
        validate_record("task", {"title": "Call", "status": "LATER"})


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("2026-01-31", "2026-01-31T00:00:00.000Z"),
        ("2026-01-31T09:30:00Z", "2026-01-31T09:30:00.000Z"),
        ("2026-01-31T10:30:00+01:00", "2026-01-31T09:30:00.000Z"),
        ("2026-01-31T09:30:00.123456", "2026-01-31T09:30:00.123Z"),
    ],
)
def test_dates_accept_iso_forms_and_plain_days(given: str, shown: str) -> None:
    assert format_datetime(parse_datetime(given)) == shown


def test_a_date_that_is_not_iso_is_refused_with_an_example() -> None:
    with pytest.raises(CRMError, match=r"'closeDate'.*'2026-01-31'"):
        validate_record("opportunity", {"name": "Deal", "closeDate": "31/01/2026"})


def test_unknown_fields_are_refused_listing_the_accepted_ones() -> None:
    with pytest.raises(CRMError, match=r"'nickname' is not a field of person; accepted: .*emails"):
        validate_record("person", {"name": {"firstName": "Ana"}, "nickname": "A"})


def test_text_with_nul_is_refused() -> None:
    with pytest.raises(CRMError, match="NUL"):
        validate_record("company", {"name": "Ac\x00me"})


def test_note_target_links_exactly_one_record() -> None:
    note = "00000000-0000-4000-8000-000000000001"
    with pytest.raises(CRMError, match="exactly one record"):
        validate_record("noteTarget", {"noteId": note})
    with pytest.raises(CRMError, match="received companyId, personId"):
        validate_record("noteTarget", {"noteId": note, "companyId": note, "personId": note})


def test_unknown_object_is_refused() -> None:
    with pytest.raises(CRMError, match="'deal' is not a CRM object; accepted: company, person"):
        validate_record("deal", {})
