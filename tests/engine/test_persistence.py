"""Everything survives a restart: a new executor over the same store resumes a thread mid-form."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from converso import FormAgentExecutor
from converso.testing import ScriptedChatModel
from tests.engine.conftest import NOW, call, counted_ids
from tests.engine.forms import CreateCompany

ROOT = Path(__file__).resolve().parents[2]

FIRST_TURN = [call("CreateCompanyStart"), call("FormUpdate", {"name": "Acme"}), "How many people?"]
SECOND_TURN = [call("FormUpdate", {"employees": 250, "domain": "acme.com"}), "Save Acme?"]
THIRD_TURN = [call("FormFinalize", {"confirm": True}), "Saved."]


def executor_over(store: object, script: list, form: CreateCompany | None = None) -> FormAgentExecutor:
    model = ScriptedChatModel(responses=script)
    return FormAgentExecutor(
        [form or CreateCompany()], model, store, clock=lambda: NOW, id_factory=counted_ids()
    )


def postgres_url(database: str, schema: str) -> str:
    return f"{database}?options=-csearch_path%3D{schema}"


def resume_and_commit(store: object) -> None:
    with executor_over(store, SECOND_TURN) as executor:
        reply = executor.send("t", "250 people, acme.com")
        assert reply.form["values"] == {"name": "Acme", "employees": 250, "domain": "acme.com"}
    form = CreateCompany()
    with executor_over(store, THIRD_TURN, form) as executor:
        assert executor.get_form("t")["state"] == "FILLED"
        assert executor.send("t", "yes").text == "Saved."
    assert form.commits[0][0].form_id == "form-1"
    assert len(form.ledger.writes) == 1


def test_a_new_executor_over_the_same_sqlite_file_resumes_mid_form(tmp_path: Path) -> None:
    store = str(tmp_path / "threads.sqlite")
    with executor_over(store, FIRST_TURN) as executor:
        executor.send("t", "Add Acme")
    resume_and_commit(store)


def test_a_sqlite_url_and_a_sqlite_connection_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "threads.sqlite"
    with executor_over(f"sqlite:///{path}", FIRST_TURN) as executor:
        executor.send("t", "Add Acme")
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        with executor_over(connection, []) as executor:
            assert executor.get_form("t")["values"] == {"name": "Acme"}
    finally:
        connection.close()


@pytest.mark.postgres
def test_a_new_executor_over_the_same_postgres_resumes_mid_form(
    postgres_database: str, postgres_schema: str
) -> None:
    store = postgres_url(postgres_database, postgres_schema)
    with executor_over(store, FIRST_TURN) as executor:
        executor.send("t", "Add Acme")
    resume_and_commit(store)


def test_a_thread_resumes_after_the_process_that_started_it_exited(tmp_path: Path) -> None:
    store = str(tmp_path / "threads.sqlite")
    first_process = textwrap.dedent(
        f"""
        from tests.engine.test_persistence import FIRST_TURN, executor_over
        with executor_over({store!r}, FIRST_TURN) as executor:
            print(executor.send("t", "Add Acme").text)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", first_process],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "How many people?"
    resume_and_commit(store)


def test_a_turn_survives_the_process_being_killed_right_after_its_reply(tmp_path: Path) -> None:
    store = str(tmp_path / "threads.sqlite")
    killed_process = textwrap.dedent(
        f"""
        import os, signal
        from tests.engine.test_persistence import FIRST_TURN, executor_over
        executor = executor_over({store!r}, FIRST_TURN)
        print(executor.send("t", "Add Acme").text, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", killed_process],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9, done.stderr
    assert done.stdout.strip() == "How many people?"
    resume_and_commit(store)


def test_a_sqlite_file_opened_by_path_commits_in_wal_mode_without_fsync_per_commit(tmp_path: Path) -> None:
    with executor_over(str(tmp_path / "threads.sqlite"), FIRST_TURN) as executor:
        connection = executor.graph.checkpointer.conn
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


async def test_async_turns_persist_in_sqlite(tmp_path: Path) -> None:
    store = str(tmp_path / "threads.sqlite")
    with executor_over(store, FIRST_TURN) as executor:
        await executor.asend("t", "Add Acme")
    with executor_over(store, SECOND_TURN) as executor:
        events = [event async for event in executor.astream("t", "250 people, acme.com")]
        assert events[-1].reply.form["state"] == "FILLED"


@pytest.mark.postgres
async def test_async_turns_persist_in_postgres(postgres_database: str, postgres_schema: str) -> None:
    store = postgres_url(postgres_database, postgres_schema)
    with executor_over(store, FIRST_TURN) as executor:
        await executor.asend("t", "Add Acme")
    with executor_over(store, SECOND_TURN) as executor:
        reply = await executor.asend("t", "250 people, acme.com")
        assert reply.form["values"]["employees"] == 250


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_failed_turn_is_not_persisted(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        store = str(tmp_path / "threads.sqlite")
    else:
        store = postgres_url(
            request.getfixturevalue("postgres_database"), request.getfixturevalue("postgres_schema")
        )
    with executor_over(store, [*FIRST_TURN, SECOND_TURN[0], RuntimeError("provider down")]) as executor:
        executor.send("t", "Add Acme")
        assert executor.send("t", "250").error is not None
    with executor_over(store, []) as executor:
        assert executor.get_form("t")["values"] == {"name": "Acme"}
        assert [m.text for m in executor.messages("t")][-1] == "How many people?"


def test_an_unsupported_checkpointer_url_is_refused() -> None:
    with pytest.raises(ValueError, match="accepted: a SQLite file path"):
        executor_over("redis://localhost/0", [])
