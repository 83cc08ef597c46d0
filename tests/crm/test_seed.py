"""The demo data set is deterministic per seed and realistic enough to search."""

from __future__ import annotations

from crm_tools.backends.sql import SqlBackend
from crm_tools.seed import seed_demo_data


def _snapshot(backend: SqlBackend) -> dict[str, list]:
    snapshot = {}
    for object_name in ("company", "person", "opportunity", "note", "task", "noteTarget", "taskTarget"):
        body = backend.list(object_name, limit=200, order_by="createdAt")  # type: ignore[arg-type]
        records = next(iter(body["data"].values()))
        while body["pageInfo"]["hasNextPage"]:
            body = backend.list(
                object_name, limit=200, order_by="createdAt", starting_after=body["pageInfo"]["endCursor"]
            )  # type: ignore[arg-type]
            records += next(iter(body["data"].values()))
        snapshot[object_name] = records
    return snapshot


def test_same_seed_gives_the_same_records_and_ids() -> None:
    with SqlBackend("sqlite://") as one, SqlBackend("sqlite://") as two:
        seed_demo_data(one, 42)
        seed_demo_data(two, 42)
        assert _snapshot(one) == _snapshot(two)


def test_different_seeds_give_different_data() -> None:
    with SqlBackend("sqlite://") as one, SqlBackend("sqlite://") as two:
        seed_demo_data(one, 1)
        seed_demo_data(two, 2)
        assert _snapshot(one)["company"] != _snapshot(two)["company"]


def test_demo_data_has_the_promised_size_and_links() -> None:
    with SqlBackend("sqlite://") as crm:
        counts = seed_demo_data(crm, 7)
        assert counts == {"companies": 50, "people": 200, "opportunities": 100, "notes": 60, "tasks": 60}
        assert crm.list("person")["totalCount"] == 200
        assert crm.list("person", filter="companyId[is]:NOT_NULL")["totalCount"] > 150
        assert crm.list("noteTarget")["totalCount"] == 60
        assert crm.list("opportunity", filter="stage[eq]:WON")["totalCount"] > 0
        some = crm.list("company", limit=1, depth=1)["data"]["companies"][0]
        assert some["domainName"]["primaryLinkUrl"].endswith(".com")
