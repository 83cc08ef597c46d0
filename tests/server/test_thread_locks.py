"""One turn at a time per thread: in-process locks and PostgreSQL advisory locks across workers."""

from __future__ import annotations

import asyncio

import pytest

from converso.threads import LocalThreadLocks, PostgresThreadLocks, ThreadLocks


async def overlapping_turns(locks_for_each_turn: list[ThreadLocks], thread_ids: list[str]) -> int:
    """Run one short 'turn' per lock object; return the most turns ever inside at once."""
    inside = 0
    most = 0

    async def turn(locks: ThreadLocks, thread_id: str) -> None:
        nonlocal inside, most
        async with locks.hold(thread_id):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.gather(*(turn(lk, t) for lk, t in zip(locks_for_each_turn, thread_ids, strict=True)))
    return most


async def test_turns_of_one_thread_never_overlap_in_a_process() -> None:
    locks = LocalThreadLocks()
    assert await overlapping_turns([locks] * 4, ["t"] * 4) == 1


async def test_turns_of_different_threads_run_concurrently() -> None:
    locks = LocalThreadLocks()
    assert await overlapping_turns([locks] * 3, ["a", "b", "c"]) == 3


async def test_local_locks_are_forgotten_when_nobody_holds_them() -> None:
    locks = LocalThreadLocks()
    await overlapping_turns([locks] * 3, ["a", "b", "a"])
    assert locks.held() == 0


@pytest.mark.postgres
async def test_turns_of_one_thread_never_overlap_across_workers(postgres_database: str) -> None:
    workers = [PostgresThreadLocks(postgres_database, max_connections=2) for _ in range(3)]
    try:
        assert await overlapping_turns(workers, ["shared"] * 3) == 1
    finally:
        for worker in workers:
            await worker.aclose()


@pytest.mark.postgres
async def test_workers_run_different_threads_concurrently(postgres_database: str) -> None:
    workers = [PostgresThreadLocks(postgres_database, max_connections=2) for _ in range(3)]
    try:
        assert await overlapping_turns(workers, ["x", "y", "z"]) == 3
    finally:
        for worker in workers:
            await worker.aclose()


@pytest.mark.postgres
async def test_a_turn_cancelled_mid_way_releases_the_thread_for_other_workers(postgres_database: str) -> None:
    crashed = PostgresThreadLocks(postgres_database, max_connections=1)
    survivor = PostgresThreadLocks(postgres_database, max_connections=1)
    try:
        entered = asyncio.Event()

        async def stuck_turn() -> None:
            async with crashed.hold("t"):
                entered.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(stuck_turn())
        await entered.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await crashed.aclose()
        async with asyncio.timeout(5), survivor.hold("t"):
            pass
    finally:
        await survivor.aclose()
