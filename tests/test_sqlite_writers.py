"""Writers of one SQLite file take turns, across threads and processes, without SQLite's busy sleeps."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import converso.storage.sqlite_writers as sqlite_writers_module
from converso.storage.sqlite_writers import writers_of

# The child loads the module by path: importing the converso package costs ~0.7 s.
_HOLDER = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("w", {str(Path(sqlite_writers_module.__file__))!r})
w = importlib.util.module_from_spec(spec)
spec.loader.exec_module(w)
with w.writers_of(sys.argv[1]).turn():
    print("writing", flush=True)
    sys.stdin.read()
"""


@contextmanager
def other_process_writing(database: Path) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "writing"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(10)


def turn_taken_within(database: Path, seconds: float) -> threading.Event:
    """Starts a thread that waits for a write turn; the event is set once it has one."""
    entered = threading.Event()

    def write() -> None:
        with writers_of(database).turn():
            entered.set()

    threading.Thread(target=write, daemon=True).start()
    entered.wait(seconds)
    return entered


def test_every_spelling_of_a_file_shares_one_queue(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert writers_of("crm.sqlite3") is writers_of(tmp_path / "crm.sqlite3")
    assert writers_of("crm.sqlite3") is not writers_of("threads.sqlite")


def test_threads_of_one_process_write_one_at_a_time(tmp_path: Path) -> None:
    writers = writers_of(tmp_path / "db.sqlite")
    inside = most = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        with writers.turn():
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == 1


def test_a_writer_waits_for_another_process_and_goes_when_it_is_done(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    with other_process_writing(database) as holder:
        entered = turn_taken_within(database, 0.3)
        assert not entered.is_set()
        assert holder.stdin is not None
        holder.stdin.close()
        assert entered.wait(10)


def test_a_killed_writer_leaves_the_file_free(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    with other_process_writing(database) as holder:
        holder.kill()
        holder.wait(10)
        assert turn_taken_within(database, 10).is_set()


def finished_within(work, seconds: float) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    done.wait(seconds)
    return done


def test_conversation_state_writes_queue_with_other_processes(tmp_path: Path) -> None:
    from converso.form_agent import FormAgentExecutor
    from converso.testing import ScriptedChatModel

    state = tmp_path / "threads.sqlite"
    with FormAgentExecutor([], ScriptedChatModel(responses=["hello"]), str(state)) as executor:
        with other_process_writing(state) as holder:
            done = finished_within(lambda: executor.send("t", "hi"), 0.3)
            assert not done.is_set()
            assert holder.stdin is not None
            holder.stdin.close()
            assert done.wait(10)
        assert executor.messages("t")[-1].text == "hello"


def test_crm_writes_queue_with_other_processes(tmp_path: Path) -> None:
    from crm_tools.store import open_backend

    database = tmp_path / "crm.sqlite3"
    backend = open_backend(f"sqlite:///{database}")
    try:
        with other_process_writing(database) as holder:
            done = finished_within(lambda: backend.create("company", {"name": "Acme"}), 0.3)
            assert not done.is_set()
            assert holder.stdin is not None
            holder.stdin.close()
            assert done.wait(10)
        assert [c["name"] for c in backend.list("company")["data"]["companies"]] == ["Acme"]
    finally:
        backend.close()


# A second process that writes to one file and, while still holding it, to another.
_TWO_FILES = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("w", {str(Path(sqlite_writers_module.__file__))!r})
w = importlib.util.module_from_spec(spec)
spec.loader.exec_module(w)
with w.writers_of(sys.argv[1]).turn():
    print("writing", flush=True)
    with w.writers_of(sys.argv[2]).turn():
        pass
"""


def test_writers_of_two_files_in_two_processes_are_not_taken_for_a_deadlock(tmp_path: Path) -> None:
    # The other process holds the CRM file and waits for the state file, which a thread here holds;
    # another thread here waits for the CRM file. Nobody waits for itself: once the state file is
    # free, everything proceeds. (With process-wide record locks the kernel refused with EDEADLK.)
    crm, state = tmp_path / "crm.sqlite3", tmp_path / "threads.sqlite"
    release_state = threading.Event()
    state_held = threading.Event()

    def hold_state() -> None:
        with writers_of(state).turn():
            state_held.set()
            release_state.wait(10)

    holder = threading.Thread(target=hold_state, daemon=True)
    holder.start()
    assert state_held.wait(10)
    other = subprocess.Popen(
        [sys.executable, "-c", _TWO_FILES, str(crm), str(state)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "writing"
        failures: list[BaseException] = []
        crm_written = threading.Event()

        def write_crm() -> None:
            try:
                with writers_of(crm).turn():
                    crm_written.set()
            except BaseException as exc:
                failures.append(exc)

        threading.Thread(target=write_crm, daemon=True).start()
        time.sleep(0.2)
        release_state.set()
        assert crm_written.wait(10), failures
        assert other.wait(10) == 0
    finally:
        release_state.set()
        if other.poll() is None:
            other.kill()
            other.wait(10)
