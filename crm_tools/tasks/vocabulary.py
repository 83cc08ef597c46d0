"""The field names a task's ``expected`` uses, where each lives in a CRM record, and how it compares.

They are the form fields a person would name (``domain``, ``job_title``, ``close_date``), not Twenty's
record paths, so a task reads like what the user asked for. Another record is referred to by a key a
program can look up: a company by its name, a person by their email, an opportunity, note or task by its
name or title (see ``MATCH_KEYS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "text", "domain", "email", "phone", "number", "money", "date", "option", "company", "person", "about"
]


@dataclass(frozen=True)
class FieldSpec:
    path: str
    """Dotted path in the record (``domainName.primaryLinkUrl``); for ``about``, unused (links)."""
    kind: Kind


FIELDS: dict[str, dict[str, FieldSpec]] = {
    "company": {
        "name": FieldSpec("name", "text"),
        "domain": FieldSpec("domainName.primaryLinkUrl", "domain"),
        "address": FieldSpec("address.addressStreet1", "text"),
        "city": FieldSpec("address.addressCity", "text"),
        "employees": FieldSpec("employees", "number"),
    },
    "person": {
        "first_name": FieldSpec("name.firstName", "text"),
        "last_name": FieldSpec("name.lastName", "text"),
        "email": FieldSpec("emails.primaryEmail", "email"),
        "phone": FieldSpec("phones.primaryPhoneNumber", "phone"),
        "job_title": FieldSpec("jobTitle", "text"),
        "city": FieldSpec("city", "text"),
        "company": FieldSpec("companyId", "company"),
    },
    "opportunity": {
        "name": FieldSpec("name", "text"),
        "amount": FieldSpec("amount.amountMicros", "money"),
        "currency": FieldSpec("amount.currencyCode", "option"),
        "stage": FieldSpec("stage", "option"),
        "close_date": FieldSpec("closeDate", "date"),
        "company": FieldSpec("companyId", "company"),
        "point_of_contact": FieldSpec("pointOfContactId", "person"),
    },
    "note": {
        "title": FieldSpec("title", "text"),
        "body": FieldSpec("body", "text"),
        "about": FieldSpec("", "about"),
    },
    "task": {
        "title": FieldSpec("title", "text"),
        "body": FieldSpec("body", "text"),
        "due_date": FieldSpec("dueAt", "date"),
        "status": FieldSpec("status", "option"),
        "about": FieldSpec("", "about"),
    },
}

OBJECTS: tuple[str, ...] = tuple(FIELDS)

# How ``update``/``delete`` entries and references find an existing record: any one of these keys.
MATCH_KEYS: dict[str, tuple[str, ...]] = {
    "company": ("id", "name", "domain"),
    "person": ("id", "email", "first_name", "last_name"),
    "opportunity": ("id", "name"),
    "note": ("id", "title"),
    "task": ("id", "title"),
}
# What ``about: {company: ...}`` etc. names: the key the value is matched on.
ABOUT_KEYS: dict[str, str] = {"company": "name", "person": "email", "opportunity": "name"}
