"""What an episode wrote: every record of every object before and after, and the difference between them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_tools.backends.base import PLURALS, CRMBackend

_PAGE = 200
# Bookkeeping the store changes on every write; a difference there alone is no change of the record.
_IGNORED = frozenset({"updatedAt", "position"})


@dataclass(frozen=True)
class Snapshot:
    """Every live record of a CRM: ``records[object_name][id] = record`` (Twenty's singular names,
    link objects ``noteTarget``/``taskTarget`` included)."""

    records: Mapping[str, Mapping[str, dict[str, Any]]]

    def of(self, object_name: str) -> Mapping[str, dict[str, Any]]:
        return self.records.get(object_name, {})

    def get(self, object_name: str, record_id: str | None) -> dict[str, Any] | None:
        return self.of(object_name).get(record_id) if record_id else None

    def count(self) -> int:
        return sum(len(records) for records in self.records.values())


def snapshot(backend: CRMBackend) -> Snapshot:
    """Read every record of every object (paging through ``list``)."""
    return Snapshot(
        {object_name: {r["id"]: r for r in _all(backend, object_name)} for object_name in PLURALS}
    )


def _all(backend: CRMBackend, object_name: Any) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        body = backend.list(object_name, limit=_PAGE, starting_after=cursor)
        yield from next(iter(body["data"].values()))
        if not body["pageInfo"]["hasNextPage"]:
            return
        cursor = body["pageInfo"]["endCursor"]


@dataclass(frozen=True)
class Update:
    object_name: str
    before: dict[str, Any]
    after: dict[str, Any]
    fields: tuple[str, ...]
    """The dotted paths whose value changed (``domainName.primaryLinkUrl``)."""

    @property
    def id(self) -> str:
        return self.after["id"]


@dataclass(frozen=True)
class ChangeSet:
    """Records created, updated (with the changed fields) and deleted between two snapshots, by object name.
    The snapshots stay attached: graders look up references (a person's company) in them."""

    before: Snapshot
    after: Snapshot
    created: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    updated: dict[str, list[Update]] = field(default_factory=dict)
    deleted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return (
            not any(self.created.values())
            and not any(self.updated.values())
            and not any(self.deleted.values())
        )

    def summary(self) -> dict[str, dict[str, int]]:
        """``{"created": {"company": 1}, ...}``, leaving out what did not happen."""
        counts = {
            "created": {k: len(v) for k, v in self.created.items() if v},
            "updated": {k: len(v) for k, v in self.updated.items() if v},
            "deleted": {k: len(v) for k, v in self.deleted.items() if v},
        }
        return {kind: objects for kind, objects in counts.items() if objects}


def changes_between(before: Snapshot, after: Snapshot) -> ChangeSet:
    created: dict[str, list[dict[str, Any]]] = {}
    updated: dict[str, list[Update]] = {}
    deleted: dict[str, list[dict[str, Any]]] = {}
    for object_name in sorted(set(before.records) | set(after.records)):
        old, new = before.of(object_name), after.of(object_name)
        created[object_name] = [record for record_id, record in new.items() if record_id not in old]
        deleted[object_name] = [record for record_id, record in old.items() if record_id not in new]
        updated[object_name] = []
        for record_id, record in new.items():
            if record_id in old:
                paths = changed_paths(old[record_id], record)
                if paths:
                    updated[object_name].append(Update(object_name, old[record_id], record, paths))
    return ChangeSet(before, after, created, updated, deleted)


def changed_paths(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> tuple[str, ...]:
    paths: list[str] = []
    for key in sorted(set(old) | set(new)):
        if not prefix and key in _IGNORED:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            paths.extend(changed_paths(a, b, f"{prefix}{key}."))
        elif a != b:
            paths.append(f"{prefix}{key}")
    return tuple(paths)
