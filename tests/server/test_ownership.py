"""Thread ownership per API key, durable in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from converso.server.ownership import ThreadForbiddenError, ThreadOwnership, owner_of_key


@pytest.fixture
async def sqlite_ownership(tmp_path: Path) -> AsyncIterator[ThreadOwnership]:
    store = ThreadOwnership(str(tmp_path / "owners.sqlite"))
    await store.start()
    yield store
    await store.aclose()


async def test_the_first_key_to_open_a_thread_claims_it(sqlite_ownership: ThreadOwnership) -> None:
    claim = await sqlite_ownership.claim("t1", owner_of_key("alice"))
    assert not claim.resumed
    assert await sqlite_ownership.owner_of("t1") == owner_of_key("alice")


async def test_the_owner_resumes_its_thread(sqlite_ownership: ThreadOwnership) -> None:
    await sqlite_ownership.claim("t1", owner_of_key("alice"))
    assert (await sqlite_ownership.claim("t1", owner_of_key("alice"))).resumed


async def test_another_key_cannot_open_a_claimed_thread(sqlite_ownership: ThreadOwnership) -> None:
    await sqlite_ownership.claim("t1", owner_of_key("alice"))
    with pytest.raises(ThreadForbiddenError, match="belongs to another API key"):
        await sqlite_ownership.claim("t1", owner_of_key("mallory"))


async def test_keys_are_stored_only_as_digests(tmp_path: Path) -> None:
    store = ThreadOwnership(str(tmp_path / "owners.sqlite"))
    await store.start()
    await store.claim("t1", owner_of_key("secret-key-123"))
    await store.aclose()
    assert b"secret-key-123" not in (tmp_path / "owners.sqlite").read_bytes()


async def test_ownership_survives_a_restart(tmp_path: Path) -> None:
    first = ThreadOwnership(str(tmp_path / "owners.sqlite"))
    await first.start()
    await first.claim("t1", owner_of_key("alice"))
    await first.aclose()
    second = ThreadOwnership(str(tmp_path / "owners.sqlite"))
    await second.start()
    with pytest.raises(ThreadForbiddenError):
        await second.claim("t1", owner_of_key("mallory"))
    await second.aclose()


@pytest.mark.postgres
async def test_racing_claims_across_workers_leave_exactly_one_owner(postgres_database: str) -> None:
    workers = [ThreadOwnership(postgres_database) for _ in range(4)]
    for worker in workers:
        await worker.start()
    owners = [owner_of_key(f"key-{i}") for i in range(4)]
    results = await asyncio.gather(
        *(worker.claim("contested", owner) for worker, owner in zip(workers, owners, strict=True)),
        return_exceptions=True,
    )
    for worker in workers:
        await worker.aclose()
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, ThreadForbiddenError) for r in results if r not in winners)


async def test_a_burst_of_new_threads_on_sqlite_all_get_claimed(sqlite_ownership: ThreadOwnership) -> None:
    owner = owner_of_key("alice")
    claims = await asyncio.gather(
        *(sqlite_ownership.claim(f"burst-{i}", owner, fresh=True) for i in range(300))
    )
    assert [c.resumed for c in claims] == [False] * 300
    assert await sqlite_ownership.owner_of("burst-299") == owner


async def test_a_known_owner_is_answered_from_memory(tmp_path: Path) -> None:
    path = tmp_path / "owners.sqlite"
    store = ThreadOwnership(str(path))
    await store.start()
    await store.claim("t1", owner_of_key("alice"))
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM converso_thread_owners")
    assert (await store.claim("t1", owner_of_key("alice"))).resumed
    await store.aclose()


async def test_a_fresh_claim_of_a_taken_id_is_still_refused(sqlite_ownership: ThreadOwnership) -> None:
    await sqlite_ownership.claim("t1", owner_of_key("alice"))
    with pytest.raises(ThreadForbiddenError):
        await sqlite_ownership.claim("t1", owner_of_key("mallory"), fresh=True)


async def test_workers_on_one_sqlite_file_agree_on_owners(tmp_path: Path) -> None:
    workers = [ThreadOwnership(str(tmp_path / "owners.sqlite")) for _ in range(2)]
    for worker in workers:
        await worker.start()
    await workers[0].claim("t1", owner_of_key("alice"))
    resumed = await workers[1].claim("t1", owner_of_key("alice"))
    with pytest.raises(ThreadForbiddenError):
        await workers[1].claim("t1", owner_of_key("mallory"))
    for worker in workers:
        await worker.aclose()
    assert resumed.resumed
