"""Grading an episode: the CRM's change set against the task's expected outcome, and the final answer against
the expected values. Pure Python, no LLM.

Points: an expected new record is worth 1 (it exists) + 1 per expected field; an expected update 1 per field
set; an expected deletion 1; an expected answer value 1. Every unexpected write (a stray or duplicate record,
a change or deletion nobody asked for) adds 1 to the points at stake without earning it. ``score`` is the
points earned over the points at stake (1.0 when nothing was expected and nothing written); ``success`` only
at full marks with nothing unexpected. ``reasons`` explains each point lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_tools.forms._base import get_path
from crm_tools.tasks import normalise
from crm_tools.tasks.changes import ChangeSet, Snapshot
from crm_tools.tasks.model import RecordSpec, Task
from crm_tools.tasks.vocabulary import ABOUT_KEYS, FIELDS, FieldSpec

_LINKS = {"noteTarget": "noteId", "taskTarget": "taskId"}
_TARGET_KINDS = ("company", "person", "opportunity")


@dataclass(frozen=True)
class Grade:
    score: float
    success: bool
    reasons: list[str] = field(default_factory=list)
    earned: float = 0
    possible: float = 0

    def as_dict(self) -> dict[str, Any]:
        return {"score": self.score, "success": self.success, "reasons": list(self.reasons)}


def grade(task: Task, changes: ChangeSet, answer: str | None) -> Grade:
    tally = _Tally()
    grader = _Grader(changes, tally)
    assigned = grader.creates(task.expected.create)
    updated = grader.updates(task)
    deleted = grader.deletes(task)
    grader.unexpected(assigned, updated, deleted)
    if task.expected.answer:
        _grade_answer(task.expected.answer, answer, tally)
    possible = tally.possible + tally.unexpected
    score = 1.0 if possible == 0 else tally.earned / possible
    success = tally.earned == tally.possible and tally.unexpected == 0
    return Grade(round(score, 4), success, tally.reasons, tally.earned, possible)


@dataclass
class _Tally:
    earned: float = 0
    possible: float = 0
    unexpected: int = 0
    reasons: list[str] = field(default_factory=list)

    def point(self, ok: bool, reason: str) -> None:
        self.possible += 1
        if ok:
            self.earned += 1
        else:
            self.reasons.append(reason)

    def stray(self, reason: str) -> None:
        self.unexpected += 1
        self.reasons.append(reason)


def find_records(snapshot: Snapshot, object_name: str, match: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records of ``snapshot`` whose ``match`` keys all have the given values (normalised)."""
    found = []
    for record in snapshot.of(object_name).values():
        if all(_key_matches(snapshot, object_name, record, key, value) for key, value in match.items()):
            found.append(record)
    return found


def _key_matches(snapshot: Snapshot, object_name: str, record: dict[str, Any], key: str, value: Any) -> bool:
    if key == "id":
        return record.get("id") == value
    return field_matches(snapshot, object_name, record, FIELDS[object_name][key], value)


def field_value(snapshot: Snapshot, object_name: str, record: dict[str, Any], spec: FieldSpec) -> Any:
    """The record's value for ``spec`` as a person reads it (a company's name instead of its id)."""
    if spec.kind == "about":
        return sorted(_about(snapshot, object_name, record["id"]))
    raw = get_path(record, spec.path)
    if raw is None or raw == "":
        return None
    if spec.kind == "money":
        return int(raw) / 1_000_000
    if spec.kind == "date":
        return normalise.day(raw)
    if spec.kind == "company":
        company = snapshot.get("company", raw)
        return company.get("name") if company else f"(missing company {raw})"
    if spec.kind == "person":
        person = snapshot.get("person", raw)
        return get_path(person, "emails.primaryEmail") if person else f"(missing person {raw})"
    return raw


def field_matches(
    snapshot: Snapshot, object_name: str, record: dict[str, Any], spec: FieldSpec, expected: Any
) -> bool:
    actual = field_value(snapshot, object_name, record, spec)
    if spec.kind == "about":
        ((kind, key),) = expected.items()
        return (kind, _normal(kind_of(kind), key)) in {(k, _normal(kind_of(k), v)) for k, v in actual}
    if expected is None or expected == "":
        return actual is None
    if actual is None:
        return False
    return _normal(spec.kind, actual) == _normal(spec.kind, expected)


def kind_of(about_kind: str) -> str:
    return "email" if ABOUT_KEYS[about_kind] == "email" else "text"


def _normal(kind: str, value: Any) -> Any:
    if kind in ("number", "money"):
        number = normalise.number(value)
        return None if number is None else round(number, 6)
    if kind == "domain":
        return normalise.domain(value)
    if kind in ("email", "person"):
        return normalise.email(value)
    if kind == "phone":
        return normalise.phone(value)
    if kind == "date":
        return normalise.day(value)
    if kind == "option":
        return normalise.option(value)
    return normalise.text(value)


def _about(snapshot: Snapshot, object_name: str, record_id: str) -> set[tuple[str, str]]:
    link = f"{object_name}Target"
    own = _LINKS.get(link)
    if own is None:
        return set()
    found = set()
    for target in snapshot.of(link).values():
        if target.get(own) != record_id:
            continue
        for kind in _TARGET_KINDS:
            linked = snapshot.get(kind, target.get(f"{kind}Id"))
            if linked is not None:
                key = get_path(linked, FIELDS[kind][ABOUT_KEYS[kind]].path)
                found.add((kind, str(key)))
    return found


def label(object_name: str, fields: Mapping[str, Any]) -> str:
    if object_name == "person":
        name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k))
        return f"person {name or fields.get('email') or fields.get('id')}"
    value = fields.get("name") or fields.get("title") or fields.get("domain") or fields.get("id") or ""
    return f"{object_name} {value}".strip()


def record_label(snapshot: Snapshot, object_name: str, record: dict[str, Any]) -> str:
    fields = {
        name: field_value(snapshot, object_name, record, spec)
        for name, spec in FIELDS.get(object_name, {}).items()
        if name in ("name", "title", "first_name", "last_name", "email")
    }
    return label(object_name, {**fields, "id": record.get("id")})


class _Grader:
    def __init__(self, changes: ChangeSet, tally: _Tally) -> None:
        self.changes = changes
        self.after = changes.after
        self.tally = tally

    # -- created records ------------------------------------------------------------------------------

    def creates(self, specs: Iterable[RecordSpec]) -> set[tuple[str, str]]:
        """Grade the expected new records; returns (object, id) of the created records they matched."""
        assigned: set[tuple[str, str]] = set()
        by_object: dict[str, list[RecordSpec]] = {}
        for spec in specs:
            by_object.setdefault(spec.object, []).append(spec)
        for object_name, wanted in by_object.items():
            created = self.changes.created.get(object_name, [])
            pairs = sorted(
                (
                    (self._matching_fields(spec, record), i, j)
                    for i, spec in enumerate(wanted)
                    for j, record in enumerate(created)
                ),
                key=lambda item: (-len(item[0]), item[1], item[2]),
            )
            taken_specs: dict[int, int] = {}
            taken_records: set[int] = set()
            for matched, i, j in pairs:
                # A record that shares no field with the expected one is not "that record, with errors".
                if i in taken_specs or j in taken_records or not matched:
                    continue
                taken_specs[i] = j
                taken_records.add(j)
            for i, spec in enumerate(wanted):
                what = label(object_name, spec.fields)
                if i not in taken_specs:
                    self.tally.point(False, f"{what} was not created")
                    for name in spec.fields:
                        self.tally.point(False, f"{what}: {name} missing (the record was not created)")
                    continue
                record = created[taken_specs[i]]
                assigned.add((object_name, record["id"]))
                self.tally.point(True, "")
                self._fields(object_name, record, spec.fields, what)
        return assigned

    def _matching_fields(self, spec: RecordSpec, record: dict[str, Any]) -> list[str]:
        specs = FIELDS[spec.object]
        return [
            name
            for name, value in spec.fields.items()
            if field_matches(self.after, spec.object, record, specs[name], value)
        ]

    def _fields(self, object_name: str, record: dict[str, Any], fields: Mapping[str, Any], what: str) -> None:
        for name, expected in fields.items():
            spec = FIELDS[object_name][name]
            ok = field_matches(self.after, object_name, record, spec, expected)
            actual = field_value(self.after, object_name, record, spec)
            self.tally.point(ok, f"{what}: {name} is {_show(actual)}, expected {_show(expected)}")

    # -- updated and deleted records -----------------------------------------------------------------

    def updates(self, task: Task) -> dict[tuple[str, str], set[str]]:
        """Grade expected updates; returns the records they touch with the record paths they may change."""
        touched: dict[tuple[str, str], set[str]] = {}
        for spec in task.expected.update:
            what = label(spec.object, spec.match)
            found = find_records(self.changes.before, spec.object, spec.match)
            if len(found) != 1:
                problem = "no record" if not found else f"{len(found)} records"
                for _name in spec.set:
                    self.tally.point(
                        False, f"{what}: {problem} in the starting CRM match {dict(spec.match)} (task error)"
                    )
                continue
            record_id = found[0]["id"]
            touched[(spec.object, record_id)] = {FIELDS[spec.object][name].path for name in spec.set}
            after = self.after.get(spec.object, record_id)
            if after is None:
                for name in spec.set:
                    self.tally.point(False, f"{what}: {name} not set (the record was deleted)")
                continue
            self._fields(spec.object, after, spec.set, what)
        return touched

    def deletes(self, task: Task) -> set[tuple[str, str]]:
        gone: set[tuple[str, str]] = set()
        for spec in task.expected.delete:
            what = label(spec.object, spec.match)
            found = find_records(self.changes.before, spec.object, spec.match)
            if len(found) != 1:
                self.tally.point(
                    False,
                    f"{what}: {len(found)} records in the starting CRM match {dict(spec.match)} (task error)",
                )
                continue
            record_id = found[0]["id"]
            gone.add((spec.object, record_id))
            self.tally.point(self.after.get(spec.object, record_id) is None, f"{what} was not deleted")
        return gone

    # -- whatever else was written -------------------------------------------------------------------

    def unexpected(
        self,
        assigned: set[tuple[str, str]],
        updated: dict[tuple[str, str], set[str]],
        deleted: set[tuple[str, str]],
    ) -> None:
        expected_links = {key for key in (*assigned, *updated)}
        deleted_ids = {record_id for _, record_id in deleted}
        for object_name, records in self.changes.created.items():
            for record in records:
                if (object_name, record["id"]) in assigned or self._expected_link(
                    object_name, record, expected_links
                ):
                    continue
                self.tally.stray(f"unexpected {record_label(self.after, object_name, record)} created")
        for object_name, updates in self.changes.updated.items():
            for update in updates:
                allowed = updated.get((object_name, update.id), set())
                extra = [
                    path
                    for path in update.fields
                    if path not in allowed
                    and not _cleared_reference(update.before, update.after, path, deleted_ids)
                ]
                if extra:
                    what = record_label(self.changes.before, object_name, update.before)
                    self.tally.stray(f"unexpected change of {what}: {', '.join(extra)}")
        for object_name, records in self.changes.deleted.items():
            for record in records:
                if (object_name, record["id"]) in deleted:
                    continue
                if object_name in _LINKS and (
                    self._expected_link(object_name, record, expected_links | deleted)
                    or any(record.get(f"{kind}Id") in deleted_ids for kind in _TARGET_KINDS)
                ):
                    continue
                self.tally.stray(
                    f"unexpected deletion of {record_label(self.changes.before, object_name, record)}"
                )

    @staticmethod
    def _expected_link(object_name: str, record: dict[str, Any], expected: set[tuple[str, str]]) -> bool:
        own = _LINKS.get(object_name)
        return own is not None and (object_name.removesuffix("Target"), record.get(own)) in expected


def _cleared_reference(
    before: dict[str, Any], after: dict[str, Any], path: str, deleted_ids: set[str]
) -> bool:
    """Deleting a record clears the references to it (a person's companyId): a consequence, not a stray write."""
    return get_path(after, path) is None and get_path(before, path) in deleted_ids


def _grade_answer(values: Iterable[str | int | float], answer: str | None, tally: _Tally) -> None:
    for value in values:
        if answer is None or not answer.strip():
            tally.point(False, f"no answer given (expected it to say {_show(value)})")
        else:
            tally.point(normalise.answer_contains(answer, value), f"the answer does not say {_show(value)}")


def _show(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        ((key, item),) = value.items()
        return f"{key} {item!r}"
    if isinstance(value, list):
        return ", ".join(f"{k} {v!r}" for k, v in value) if value else "none"
    return repr(value)
