"""Turning what a person says about a record ("Acme", "acme.com", "jane@acme.com", an id) into the record.

One match resolves to its id and display name. Several give candidates with a field that tells them
apart, for the model to ask which one. None says so, so the model can ask again or offer to create it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crm_tools.backends.base import PLURALS, CRMBackend, ObjectName
from crm_tools.errors import CRMError
from crm_tools.tools import compact_fields, display_name, search_filter

_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s]+)$")
_DOMAIN = re.compile(r"^(?:https?://)?(?:www\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)/?$", re.IGNORECASE)
MAX_CANDIDATES = 5
# The field that best tells two records of the same name apart, in order of preference.
_DISTINGUISHING = {
    "company": ("domain", "city", "employees"),
    "person": ("email", "company", "job", "phone"),
    "opportunity": ("company", "amount", "stage", "close"),
    "note": ("body",),
    "task": ("due", "status"),
}


@dataclass(frozen=True)
class RecordMatch:
    object_name: str
    id: str
    name: str
    detail: str | None = None

    def describe(self) -> str:
        detail = f", {self.detail}" if self.detail else ""
        return f"{self.name} ({self.object_name}{detail}, id={self.id})"


@dataclass(frozen=True)
class Resolution:
    text: str
    object_names: tuple[str, ...]
    matches: tuple[RecordMatch, ...]

    @property
    def match(self) -> RecordMatch | None:
        return self.matches[0] if len(self.matches) == 1 else None

    def problem(self) -> str | None:
        """Why the reference did not resolve to one record, worded for the model to relay."""
        kinds = " or ".join(self.object_names)
        if not self.matches:
            return (
                f"No {kinds} matches {self.text!r}. Ask the user which one they mean, or offer to create it."
            )
        if len(self.matches) > 1:
            listed = "; ".join(match.describe() for match in self.matches)
            return f"Several records match {self.text!r}: {listed}. Ask the user which one they mean."
        return None


def _match(object_name: str, record: dict[str, Any]) -> RecordMatch:
    fields = compact_fields(object_name, record)
    key = next((key for key in _DISTINGUISHING.get(object_name, ()) if key in fields), None)
    detail = f"{key} {fields[key]}" if key else None
    return RecordMatch(object_name, str(record["id"]), display_name(object_name, record), detail)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _quoted(text: str) -> str:
    return '"' + text.replace('"', "") + '"'


def _records(backend: CRMBackend, object_name: ObjectName, filter: str) -> list[dict[str, Any]]:
    body = backend.list(object_name, filter=filter, limit=MAX_CANDIDATES, depth=1)
    return list(body.get("data", {}).get(PLURALS[object_name], []))


def _by_id(backend: CRMBackend, object_name: ObjectName, record_id: str) -> list[dict[str, Any]]:
    try:
        body = backend.get(object_name, record_id, depth=1)
    except CRMError:
        return []
    return list(body.get("data", {}).values())


def _domain_records(backend: CRMBackend, domain: str) -> list[dict[str, Any]]:
    # Stored domains vary ("acme.com", "https://www.acme.com/"); match the bare host inside them.
    return _records(backend, "company", f"domainName.primaryLinkUrl[ilike]:{_quoted('%' + domain + '%')}")


def _exact_name_filter(object_name: ObjectName, text: str) -> str | None:
    if object_name == "person":
        words = text.split()
        if len(words) != 2:
            return None
        first, last = words
        return f"name.firstName[ilike]:{_quoted(first)},name.lastName[ilike]:{_quoted(last)}"
    if object_name in ("company", "opportunity"):
        return f"name[ilike]:{_quoted(text)}"
    return f"title[ilike]:{_quoted(text)}"


def _find(
    backend: CRMBackend, object_name: ObjectName, text: str, *, emails_name_people: bool
) -> tuple[list[dict[str, Any]], bool]:
    """The records ``text`` may mean, and whether they matched exactly (id, email, domain, full name).
    With ``emails_name_people`` an email is a person's address, never a company's domain."""
    if _is_uuid(text):
        return _by_id(backend, object_name, text), True
    email = _EMAIL.match(text)
    if email:
        if object_name == "person":
            return _records(backend, "person", f"emails.primaryEmail[ilike]:{_quoted(text)}"), True
        if object_name == "company" and not emails_name_people:
            return _domain_records(backend, email.group(1)), True
        return [], False
    domain = _DOMAIN.match(text)
    if domain and object_name == "company":
        found = _domain_records(backend, domain.group(1))
        if found:
            return found, True
    # A name: an exact (case-insensitive) match wins over partial ones, so "Acme" is not ambiguous
    # just because "Acme Labs" also exists.
    exact_filter = _exact_name_filter(object_name, text)
    exact = _records(backend, object_name, exact_filter) if exact_filter else []
    if exact:
        return exact, True
    if object_name in ("company", "person", "opportunity"):
        return _records(backend, object_name, search_filter(object_name, text)), False
    return _records(backend, object_name, f"title[ilike]:{_quoted('%' + text + '%')}"), False


def resolve_reference(backend: CRMBackend, text: str, object_names: Sequence[ObjectName]) -> Resolution:
    """Resolve ``text`` among the given kinds of record; an exact hit in one kind settles it.

    An email names a person wherever a person may be meant, so ``zoe@riverstudios.com`` is Zoe and not
    also the company at riverstudios.com; only a reference that expects a company alone resolves an
    email by its domain (the company of the person writing from it)."""
    cleaned = text.strip()
    emails_name_people = "person" in object_names
    exact: list[RecordMatch] = []
    partial: list[RecordMatch] = []
    for object_name in object_names:
        records, is_exact = _find(backend, object_name, cleaned, emails_name_people=emails_name_people)
        (exact if is_exact else partial).extend(_match(object_name, record) for record in records)
    matches = exact or partial
    return Resolution(cleaned, tuple(object_names), tuple(matches[:MAX_CANDIDATES]))
