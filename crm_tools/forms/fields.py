"""The building blocks of CRM form fields: where a field lands in the CRM payload, which fields are
references to other records, and the value types people type loosely (emails, domains, amounts,
option lists, dates), each normalized or rejected with a message saying what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo

from crm_tools.dates import resolve_date

STAGES = ("NEW", "MEETING", "PROPOSAL", "WON", "LOST")
TASK_STATUSES = ("TODO", "IN_PROGRESS", "DONE")


@dataclass(frozen=True)
class Crm:
    """Where a form field lands in the CRM record: a dotted path, with conversions both ways."""

    path: str
    to_crm: Callable[[Any], Any] | None = None
    from_crm: Callable[[Any], Any] | None = None
    # A natural date ("next Friday"), resolved against the conversation clock when given.
    is_date: bool = False


@dataclass(frozen=True)
class Reference:
    """A field naming another record in words; resolved to its id before the commit.

    ``path`` is the join column (``companyId``); None means the link is a note/task target.
    """

    object_names: tuple[str, ...]
    path: str | None = None


_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$")
_AMOUNT = re.compile(r"^([0-9][0-9,_ ]*(?:\.[0-9]+)?)\s*([km]?)$", re.IGNORECASE)


def _email(value: str) -> str:
    cleaned = value.strip()
    if not _EMAIL.match(cleaned):
        raise ValueError(f"'{value}' is not an email address. Expected something like jane@example.com.")
    return cleaned.lower()


def _domain(value: str) -> str:
    cleaned = value.strip().lower()
    cleaned = re.sub(r"^[a-z]+://", "", cleaned)
    cleaned = cleaned.split("/", 1)[0].split("?", 1)[0]
    cleaned = cleaned.removeprefix("www.")
    if not _DOMAIN.match(cleaned):
        raise ValueError(f"'{value}' is not a web domain. Expected something like acme.com.")
    return cleaned


def _phone(value: str) -> str:
    cleaned = " ".join(value.split())
    if not re.fullmatch(r"\+?[0-9 ()./-]+", cleaned) or sum(c.isdigit() for c in cleaned) < 5:
        raise ValueError(f"'{value}' is not a phone number. Expected digits, e.g. +1 415 555 0100.")
    return cleaned


def _amount(value: Any) -> Any:
    # People type "12,000", "$12k" or "1.5m"; numbers pass through to pydantic's own float check.
    if not isinstance(value, str):
        return value
    cleaned = value.strip().lstrip("$€£").strip()
    match = _AMOUNT.match(cleaned)
    if not match:
        raise ValueError(f"'{value}' is not an amount. Expected a number like 12000, 12,000 or 12k.")
    number = float(re.sub(r"[,_ ]", "", match.group(1)))
    return number * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]


def _non_negative(value: float) -> float:
    if value < 0:
        raise ValueError(f"The amount must be 0 or more, got {value:g}.")
    return value


def _currency(value: str) -> str:
    cleaned = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", cleaned):
        raise ValueError(f"'{value}' is not a currency code. Expected three letters like USD, EUR or GBP.")
    return cleaned


def _option(options: tuple[str, ...], label: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        cleaned = re.sub(r"[\s-]+", "_", value.strip()).upper()
        if cleaned not in options:
            raise ValueError(f"'{value}' is not a {label}. Accepted: {', '.join(options)}.")
        return cleaned

    return check


def _employees(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = value.strip().replace(",", "").replace("_", "")
        if not cleaned.isdigit():
            raise ValueError(f"'{value}' is not a number of employees. Expected a whole number like 250.")
        return int(cleaned)
    return value


def _at_least_zero(value: int) -> int:
    if value < 0:
        raise ValueError(f"The number of employees must be 0 or more, got {value}.")
    return value


def _date(value: Any, info: ValidationInfo) -> Any:
    # The form resolves typed dates against the conversation clock before validation; the context
    # clock (or the wall clock) only matters when the model is validated on its own.
    if isinstance(value, str) and value.strip():
        context = info.context
        now = context.get("now") if isinstance(context, dict) else getattr(context, "now", None)
        return resolve_date(value, now or datetime.now(UTC))
    return value


Email = Annotated[str, AfterValidator(_email)]
Domain = Annotated[str, AfterValidator(_domain)]
Phone = Annotated[str, AfterValidator(_phone)]
Amount = Annotated[float, BeforeValidator(_amount), AfterValidator(_non_negative)]
Currency = Annotated[str, AfterValidator(_currency)]
Employees = Annotated[int, BeforeValidator(_employees), AfterValidator(_at_least_zero)]
Stage = Annotated[str, BeforeValidator(_option(STAGES, "stage"))]
TaskStatus = Annotated[str, BeforeValidator(_option(TASK_STATUSES, "task status"))]
Day = Annotated[date, BeforeValidator(_date)]


def to_micros(units: float) -> int:
    return round(units * 1_000_000)


def from_micros(micros: Any) -> float | None:
    return None if micros is None else int(micros) / 1_000_000


def date_field(path: str) -> Crm:
    return Crm(path, day_to_crm, day_from_crm, is_date=True)


def day_to_crm(day: date | str) -> str:
    value = day if isinstance(day, date) else date.fromisoformat(day)
    return f"{value.isoformat()}T00:00:00.000Z"


def day_from_crm(value: Any) -> str | None:
    return str(value)[:10] if value else None


def domain_from_crm(value: Any) -> str | None:
    if not value:
        return None
    try:
        return _domain(str(value))
    except ValueError:
        return str(value)
