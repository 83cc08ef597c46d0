"""One turn at a time per thread: in-process locks, lock files and PostgreSQL advisory locks across workers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import converso.server.thread_locks as threads_module
from converso.server.thread_locks import (
    FileThreadLocks,
    LocalThreadLocks,
    PostgresThreadLocks,
    ThreadLocks,
    thread_locks_for,
)

# The children load converso/server/thread_locks.py by path: importing the converso package costs ~0.7 s.
_LOAD_THREADS = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("threads", {str(Path(threads_module.__file__))!r})
threads = importlib.util.module_from_spec(spec)
spec.loader.exec_module(threads)
FileThreadLocks, advisory_key = threads.FileThreadLocks, threads.advisory_key
"""

# A second process that takes a thread's lock, says so, and keeps it until its stdin closes.
_HOLDER = (
    _LOAD_THREADS
    + """
import asyncio, sys

async def main():
    async with FileThreadLocks(sys.argv[1]).hold(sys.argv[2]):
        print("held", flush=True)
        await asyncio.to_thread(sys.stdin.read)

asyncio.run(main())
"""
)


# A second process that tries once to take a thread's lock, without waiting.
_TRY = (
    _LOAD_THREADS
    + """
import fcntl, os, sys

fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, advisory_key(sys.argv[2]) & FileThreadLocks._KEY_MASK)
except OSError:
    sys.exit(1)
"""
)


def other_process_can_take(lock_file: Path, thread_id: str) -> bool:
    return subprocess.run([sys.executable, "-c", _TRY, str(lock_file), thread_id], timeout=30).returncode == 0


@contextmanager
def other_process_holding(lock_file: Path, thread_id: str) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock_file), thread_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(10)


async def acquired_within(locks: ThreadLocks, thread_id: str, seconds: float) -> bool:
    async def take() -> None:
        async with locks.hold(thread_id):
            pass

    try:
        await asyncio.wait_for(take(), seconds)
    except TimeoutError:
        return False
    return True


async def overlapping_turns(locks_for_each_turn: list[ThreadLocks], thread_ids: list[str]) -> int:
    """Run one short 'turn' per lock object; return the most turns ever inside at once.

    For exclusion only: a broken lock shows as more than one turn inside, however the turns are
    scheduled, while a working one can never give more than one.
    """
    inside = 0
    most = 0

    async def turn(locks: ThreadLocks, thread_id: str) -> None:
        nonlocal inside, most
        async with locks.hold(thread_id):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(turn(lk, t) for lk, t in zip(locks_for_each_turn, thread_ids, strict=True)))
    return most


async def all_held_at_once(locks_for_each_turn: list[ThreadLocks], thread_ids: list[str]) -> bool:
    """Whether every turn can be inside its lock at the same moment.

    Each turn waits, lock held, at a barrier that opens only when all of them have arrived: locks
    that serialized the turns would leave the barrier short forever. Nothing depends on how fast
    the machine is; the timeout only ends a test whose locks are wrong.
    """
    barrier = asyncio.Barrier(len(thread_ids))

    async def turn(locks: ThreadLocks, thread_id: str) -> None:
        async with locks.hold(thread_id):
            await barrier.wait()

    turns = [turn(lk, t) for lk, t in zip(locks_for_each_turn, thread_ids, strict=True)]
    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*turns)
    except TimeoutError:
        return False
    return True


async def test_turns_of_one_thread_never_overlap_in_a_process() -> None:
    locks = LocalThreadLocks()
    assert await overlapping_turns([locks] * 4, ["t"] * 4) == 1


async def test_turns_of_different_threads_run_concurrently() -> None:
    locks = LocalThreadLocks()
    assert await all_held_at_once([locks] * 3, ["a", "b", "c"])


async def test_local_locks_are_forgotten_when_nobody_holds_them() -> None:
    locks = LocalThreadLocks()
    await overlapping_turns([locks] * 3, ["a", "b", "a"])
    assert locks.held() == 0


async def test_a_thread_locked_by_another_process_waits_until_it_lets_go(tmp_path: Path) -> None:
    locks = FileThreadLocks(tmp_path / "state.sqlite.locks")
    with other_process_holding(tmp_path / "state.sqlite.locks", "shared") as holder:
        assert not await acquired_within(locks, "shared", 0.3)
        assert holder.stdin is not None
        holder.stdin.close()
        assert await acquired_within(locks, "shared", 5)
    await locks.aclose()


async def test_another_process_does_not_hold_up_other_threads(tmp_path: Path) -> None:
    locks = FileThreadLocks(tmp_path / "state.sqlite.locks")
    with other_process_holding(tmp_path / "state.sqlite.locks", "shared"):
        assert await acquired_within(locks, "mine", 1)
    await locks.aclose()


async def test_a_killed_process_leaves_its_threads_unlocked(tmp_path: Path) -> None:
    locks = FileThreadLocks(tmp_path / "state.sqlite.locks")
    with other_process_holding(tmp_path / "state.sqlite.locks", "shared") as holder:
        holder.kill()
        holder.wait(10)
        assert await acquired_within(locks, "shared", 5)
    await locks.aclose()


async def test_a_waiter_cancelled_while_another_process_holds_the_thread_leaves_no_lock(
    tmp_path: Path,
) -> None:
    locks = FileThreadLocks(tmp_path / "state.sqlite.locks")
    with other_process_holding(tmp_path / "state.sqlite.locks", "shared") as holder:
        assert not await acquired_within(locks, "shared", 0.2)
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert locks.held() == 0
    assert other_process_can_take(tmp_path / "state.sqlite.locks", "shared")
    await locks.aclose()


async def test_a_finished_turn_leaves_the_thread_free_for_other_processes(tmp_path: Path) -> None:
    locks = FileThreadLocks(tmp_path / "state.sqlite.locks")
    async with locks.hold("shared"):
        assert not other_process_can_take(tmp_path / "state.sqlite.locks", "shared")
    assert other_process_can_take(tmp_path / "state.sqlite.locks", "shared")
    await locks.aclose()


def test_sqlite_state_gets_a_lock_file_beside_it(tmp_path: Path) -> None:
    assert isinstance(thread_locks_for(str(tmp_path / "server.sqlite")), FileThreadLocks)
    assert isinstance(thread_locks_for(None), LocalThreadLocks)


@pytest.mark.postgres
async def test_turns_of_one_thread_never_overlap_across_workers(postgres_database: str) -> None:
    workers = [PostgresThreadLocks(postgres_database) for _ in range(3)]
    try:
        assert await overlapping_turns(workers, ["shared"] * 3) == 1
    finally:
        for worker in workers:
            await worker.aclose()


@pytest.mark.postgres
async def test_workers_run_different_threads_concurrently(postgres_database: str) -> None:
    workers = [PostgresThreadLocks(postgres_database) for _ in range(3)]
    try:
        assert await all_held_at_once(workers, ["x", "y", "z"])
    finally:
        for worker in workers:
            await worker.aclose()


@pytest.mark.postgres
async def test_a_turn_cancelled_mid_way_releases_the_thread_for_other_workers(postgres_database: str) -> None:
    crashed = PostgresThreadLocks(postgres_database)
    survivor = PostgresThreadLocks(postgres_database)
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


@pytest.mark.postgres
async def test_one_worker_runs_many_threads_at_once_on_one_connection(postgres_database: str) -> None:
    # A turn waits on the model for seconds: the turns in flight must not be capped by a pool size.
    worker = PostgresThreadLocks(postgres_database)
    try:
        assert await all_held_at_once([worker] * 200, [f"t{i}" for i in range(200)])
    finally:
        await worker.aclose()


# A second process that takes a thread's PostgreSQL lock, says so, and keeps it until it is killed.
_PG_HOLDER = (
    _LOAD_THREADS
    + """
import asyncio, sys

async def main():
    async with threads.PostgresThreadLocks(sys.argv[1]).hold(sys.argv[2]):
        print("held", flush=True)
        await asyncio.sleep(600)

asyncio.run(main())
"""
)


@pytest.mark.postgres
async def test_a_killed_worker_leaves_its_threads_unlocked(postgres_database: str) -> None:
    survivor = PostgresThreadLocks(postgres_database)
    holder = subprocess.Popen(
        [sys.executable, "-c", _PG_HOLDER, postgres_database, "t"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not await acquired_within(survivor, "t", 0.3)
        holder.kill()
        holder.wait(10)
        assert await acquired_within(survivor, "t", 10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        await survivor.aclose()


@pytest.mark.postgres
async def test_a_waiter_cancelled_while_another_worker_holds_the_thread_leaves_no_lock(
    postgres_database: str,
) -> None:
    holder, waiter, third = (PostgresThreadLocks(postgres_database) for _ in range(3))
    try:
        async with holder.hold("t"):
            # Cancelled while polling: not one of its attempts may leave the lock with its session.
            assert not await acquired_within(waiter, "t", 0.3)
        assert await acquired_within(third, "t", 5)
        assert await acquired_within(waiter, "t", 5)
        assert waiter.held() == 0
    finally:
        for locks in (holder, waiter, third):
            await locks.aclose()


@pytest.mark.postgres
async def test_a_dropped_lock_connection_is_replaced_for_the_next_turn(postgres_database: str) -> None:
    import psycopg

    worker, other = PostgresThreadLocks(postgres_database), PostgresThreadLocks(postgres_database)
    try:
        async with worker.hold("t"):
            pid = worker._conn.info.backend_pid
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # The next turn on this worker connects again, and the lock still excludes other workers.
        async with asyncio.timeout(10), worker.hold("t"):
            assert not await acquired_within(other, "t", 0.3)
        assert await acquired_within(other, "t", 5)
    finally:
        await worker.aclose()
        await other.aclose()
