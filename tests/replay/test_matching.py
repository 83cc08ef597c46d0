"""Subset matching behind `expect` and `expect_crm`: listed fields must match, distinct records each."""

from __future__ import annotations

from datetime import date

from converso.testing._matching import assign_distinct, diff, matches, project_records


def test_a_record_matches_on_the_listed_fields_only() -> None:
    actual = {"id": "1", "name": "Acme", "domainName": {"primaryLinkUrl": "acme.com"}, "employees": 250}

    assert matches({"name": "Acme", "domainName": {"primaryLinkUrl": "acme.com"}}, actual)
    assert not matches({"name": "Acme", "employees": 251}, actual)


def test_an_unlisted_nested_field_is_not_compared_but_a_listed_one_is() -> None:
    actual = {"name": {"firstName": "Ada", "lastName": "Lovelace"}}

    assert matches({"name": {"firstName": "Ada"}}, actual)
    assert not matches({"name": {"lastName": "Byron"}}, actual)


def test_integers_and_floats_compare_by_value_but_booleans_stay_booleans() -> None:
    assert matches(250, 250.0)
    assert not matches(1, True)
    assert not matches(False, 0)


def test_a_yaml_date_matches_the_crm_iso_string_for_that_day() -> None:
    assert matches(date(2026, 12, 1), "2026-12-01T00:00:00.000Z")
    assert not matches(date(2026, 12, 2), "2026-12-01T00:00:00Z")


def test_each_expected_record_needs_its_own_actual_record() -> None:
    two_acmes = [{"name": "Acme"}, {"name": "Acme"}]

    assert assign_distinct(two_acmes, [{"name": "Acme", "id": 1}, {"name": "Beta", "id": 2}]) is None
    assert assign_distinct(two_acmes, [{"name": "Acme", "id": 1}, {"name": "Acme", "id": 2}]) is not None


def test_counts_must_be_equal() -> None:
    assert assign_distinct([], [{"name": "Acme"}]) is None
    assert assign_distinct([{"name": "Acme"}], []) is None


def test_the_pairing_is_found_even_when_a_greedy_choice_would_block_it() -> None:
    expected = [{}, {"name": "Acme"}]
    actual = [{"name": "Acme"}, {"name": "Beta"}]

    assert assign_distinct(expected, actual) == {0: 1, 1: 0}


def test_actual_records_are_cut_down_to_the_fields_the_cassette_lists() -> None:
    actual = [{"id": "x", "name": "Acme", "employees": 3, "domainName": {"primaryLinkUrl": "a.com", "x": 1}}]

    shown = project_records(actual, [{"name": "A"}, {"domainName": {"primaryLinkUrl": "b"}}])

    assert shown == [{"name": "Acme", "domainName": {"primaryLinkUrl": "a.com"}}]


def test_the_diff_marks_expected_lines_with_minus_and_actual_with_plus() -> None:
    text = diff({"name": "Acme"}, {"name": "Acne"})

    assert "-name: Acme" in text and "+name: Acne" in text
