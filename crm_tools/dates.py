"""Dates as people type them ("next Friday", "1 Dec", "2026-12-01"), resolved against a clock.

ISO forms are parsed directly; everything else goes through dateparser, anchored on the
conversation's clock (never the machine's), so a replayed conversation resolves the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

ACCEPTED_FORMS = (
    "an ISO date like 2026-12-01, a date like '1 Dec' or 'Dec 1 2026', or 'tomorrow', 'next Friday'"
)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _as_naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def resolve_datetime(text: str, now: datetime) -> datetime:
    """The moment ``text`` names, as an aware UTC datetime; ambiguous dates prefer the future.

    Raises ``ValueError`` saying what was received and which forms are accepted.
    """
    cleaned = text.strip() if isinstance(text, str) else ""
    if not cleaned:
        raise ValueError(f"Expected a date, got an empty value. Accepted: {ACCEPTED_FORMS}.")
    if _ISO_DATE.match(cleaned):
        try:
            return datetime.combine(date.fromisoformat(cleaned), time(), tzinfo=UTC)
        except ValueError:
            raise ValueError(
                f"'{cleaned}' is not a real calendar date. Accepted: {ACCEPTED_FORMS}."
            ) from None
    try:
        parsed = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        parsed = _parse_natural(cleaned, now)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def resolve_date(text: str, now: datetime) -> date:
    """The calendar day ``text`` names (see ``resolve_datetime``)."""
    return resolve_datetime(text, now).date()


def _parse_natural(text: str, now: datetime) -> datetime:
    # Imported lazily: dateparser loads its language data on first import (about a second),
    # which only conversations that actually mention a date should pay for.
    import dateparser

    parsed = dateparser.parse(
        text,
        languages=["en"],
        settings={
            "RELATIVE_BASE": _as_naive_utc(now),
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    if parsed is None:
        raise ValueError(f"Could not read '{text}' as a date. Accepted: {ACCEPTED_FORMS}.")
    return parsed
