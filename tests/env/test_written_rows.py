"""A tracked CRM's written rows give the same change set as comparing two whole snapshots."""

from __future__ import annotations

import random

from crm_tools.backends.sql import SqlBackend
from crm_tools.env.episodes import episode_changes
from crm_tools.errors import CRMError
from crm_tools.seed import seed_demo_data
from crm_tools.tasks import changes_between, snapshot


def _tracked_image(seed: int) -> bytes:
    with SqlBackend("sqlite://") as backend:
        seed_demo_data(backend, seed, companies=20, people=40, opportunities=20, notes=10, tasks=10)
        backend.track_writes()
        return backend.image()


def _ids(backend: SqlBackend, object_name: str) -> list[str]:
    body = backend.list(object_name, limit=200)  # type: ignore[arg-type]
    return [record["id"] for record in next(iter(body["data"].values()))]


def test_the_written_rows_give_the_change_set_of_two_full_snapshots() -> None:
    image = _tracked_image(3)
    for trial in range(5):
        rng = random.Random(trial)
        with SqlBackend("sqlite://", image=image) as backend:
            before = snapshot(backend)
            assert backend.written_ids() == {}
            for n in range(12):
                kind = rng.choice(["create", "update", "delete"])
                object_name = rng.choice(["company", "person", "opportunity", "note", "task"])
                try:
                    if kind == "create":
                        data = {"title": f"T{n}"} if object_name in ("note", "task") else {"name": f"N{n}"}
                        if object_name == "person":
                            data = {"name": {"firstName": f"F{n}", "lastName": "L"}}
                        backend.create(object_name, data)  # type: ignore[arg-type]
                    elif kind == "update":
                        field = {"company": "employees", "person": "jobTitle", "opportunity": "stage"}.get(
                            object_name, "body"
                        )
                        value = {"employees": n, "jobTitle": f"J{n}", "stage": "WON"}.get(field, f"B{n}")
                        backend.update(object_name, rng.choice(_ids(backend, object_name)), {field: value})  # type: ignore[arg-type]
                    else:
                        # Deleting a company or person also clears references and removes links.
                        backend.delete(object_name, rng.choice(_ids(backend, object_name)))  # type: ignore[arg-type]
                except CRMError:
                    pass
            fast = episode_changes(before, backend)
            full = changes_between(before, snapshot(backend))
            assert fast.summary() == full.summary() and not full.empty
            for kind in ("created", "deleted"):
                for name, records in getattr(full, kind).items():
                    assert sorted(r["id"] for r in getattr(fast, kind).get(name, [])) == sorted(
                        r["id"] for r in records
                    )
            for name, updates in full.updated.items():
                assert sorted((u.id, u.fields) for u in fast.updated.get(name, [])) == sorted(
                    (u.id, u.fields) for u in updates
                )
            assert fast.after.records == full.after.records
