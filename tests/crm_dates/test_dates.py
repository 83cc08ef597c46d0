from datetime import UTC, date, datetime

import pytest

from crm_tools.dates import resolve_date, resolve_datetime

# A Saturday, so "Friday" and "next Friday" both mean the coming one.
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("1 Dec", date(2026, 12, 1)),
        ("Dec 1st", date(2026, 12, 1)),
        ("tomorrow", date(2026, 11, 22)),
        ("in 3 days", date(2026, 11, 24)),
        ("next Friday", date(2026, 11, 27)),
        ("Monday", date(2026, 11, 23)),
        ("2026-12-01T15:00:00Z", date(2026, 12, 1)),
    ],
)
def test_dates_resolve_against_the_conversation_clock(text: str, expected: date) -> None:
    assert resolve_date(text, NOW) == expected


def test_result_is_aware_utc() -> None:
    moment = resolve_datetime("2026-12-01T15:00:00+02:00", NOW)
    assert moment == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def test_clock_not_machine_time_anchors_relative_dates() -> None:
    assert resolve_date("tomorrow", datetime(2030, 1, 31, tzinfo=UTC)) == date(2030, 2, 1)


@pytest.mark.parametrize("text", ["2026-02-30", "30 Feb 2026", "not a date", "", "   "])
def test_impossible_or_unreadable_dates_are_refused_with_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="Accepted: an ISO date"):
        resolve_date(text, NOW)
