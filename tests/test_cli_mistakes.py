"""Ordinary command-line mistakes end in one message and a non-zero exit, never a traceback.

Each case runs the real command (``converso`` or ``crm-env``, through typer's CliRunner, or as a process
where the entry point itself matters); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from converso.cli import app as converso_app
from crm_tools.cli import app as crm_env_app
from crm_tools.store import open_backend

BIN = Path(sys.executable).parent
MODEL = ["--base-url", "http://127.0.0.1:9/v1", "--api-key", "unused"]


def run(app: object, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})  # type: ignore[arg-type]
    return result.exit_code, result.output  # stdout and stderr, interleaved


def assert_clear_error(code: int, output: str, *expected: str) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output
    assert output.count("Error:") == 1, output
    for text in expected:
        assert text in output, output


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


@pytest.fixture
def crm_file(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    backend = open_backend(url)
    backend.create("company", {"name": "Acme Corp", "employees": 250})
    backend.create("company", {"name": "Globex", "employees": 10})
    backend.close()
    return url


# -- converso chat -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--crm", "nonsense://x"], ["--crm", "Accepted: sqlite:///PATH"]),
        (["--crm", "postgresql://postgres:secret@127.0.0.1:9/x"], ["Cannot reach the CRM database", "***"]),
        (["--crm", "ws://127.0.0.1:9/ws"], ["needs an API key", "--crm-api-key"]),
        (["--crm", "ws://127.0.0.1:9/ws", "--crm-api-key", "k"], ["Cannot connect to the CRM env server"]),
        (["--crm", "/no/such/folder/crm.db"], ["the folder /no/such/folder does not exist"]),
        (["--journal", "/proc/no/journal"], ["--journal /proc/no/journal"]),
        (["--data-dir", "/no/such/data"], ["--data-dir /no/such/data", "does not exist (nor its parent"]),
        (["--record", "/no/such/x.cassette.yaml"], ["--record", "does not exist"]),
        (["--app", "no_such_module:build"], ["Cannot import the app module 'no_such_module'"]),
    ],
)
def test_chat_mistakes_get_one_message(tmp_path: Path, options: list[str], expected: list[str]) -> None:
    code, output = run(converso_app, "chat", *MODEL, "--data-dir", str(tmp_path), *options)
    assert_clear_error(code, output, *expected)
    assert "secret" not in output
    assert not Path("/no/such/folder").exists()


def test_an_unknown_event_loop_setting_gets_one_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        converso_app,
        ["chat", *MODEL, "--data-dir", str(tmp_path)],
        input="/quit\n",
        env={"COLUMNS": "200", "CONVERSO_EVENT_LOOP": "trio"},
    )
    assert_clear_error(
        result.exit_code, result.output, "CONVERSO_EVENT_LOOP='trio'", "accepted: uvloop, asyncio"
    )


def test_chat_says_where_its_conversations_and_crm_live(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        converso_app, ["chat", *MODEL, "--data-dir", str(tmp_path)], input="/quit\n", env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert f"conversations: {tmp_path / 'threads.sqlite'}" in result.output
    assert f"CRM: SQLite file {tmp_path / 'crm.sqlite3'}" in result.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [BIN / "converso", "chat", *MODEL, "--data-dir", str(tmp_path), "--crm", "nonsense://x", "--debug"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "StoreURLError" in result.stderr


# -- converso serve / crm-env serve ----------------------------------------------------------------------


def test_serve_on_a_port_in_use_says_so(tmp_path: Path, held_port: int) -> None:
    code, output = run(
        converso_app,
        "serve",
        "--client-key",
        "k",
        *MODEL,
        "--data-dir",
        str(tmp_path),
        "--port",
        str(held_port),
    )
    assert_clear_error(code, output, f"Cannot listen on 127.0.0.1:{held_port}", "--port")


def test_serve_with_a_missing_state_folder_says_so(tmp_path: Path) -> None:
    code, output = run(
        converso_app,
        "serve",
        "--client-key",
        "k",
        *MODEL,
        "--data-dir",
        str(tmp_path),
        "--state",
        "/no/such/x/y",
    )
    assert_clear_error(code, output, "--state /no/such/x/y", "does not exist")


def test_crm_env_serve_on_a_port_in_use_says_so(held_port: int) -> None:
    # A process: crm-env serve installs signal handlers and runs its own event loop.
    result = subprocess.run(
        [BIN / "crm-env", "serve", "--api-key", "k", "--port", str(held_port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_clear_error(result.returncode, result.stdout + result.stderr, "address already in use", "--port")


def test_crm_env_serve_with_a_bad_store_or_log_level_says_so() -> None:
    code, output = run(crm_env_app, "serve", "--api-key", "k", "--store", "nonsense://x")
    assert_clear_error(code, output, "--store", "Accepted:")
    code, output = run(crm_env_app, "serve", "--api-key", "k", "--log-level", "LOUD")
    assert_clear_error(code, output, "--log-level", "DEBUG, INFO, WARNING, ERROR")


# -- crm-env data list -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("nonsense://x", ["'nonsense' databases are not supported", "Accepted:"]),
        ("sqlite:////no/such/crm.db", ["No CRM store at /no/such/crm.db"]),
        ("postgresql://postgres@127.0.0.1:9/x", ["Cannot reach the CRM database"]),
    ],
)
def test_data_list_with_a_bad_or_unreachable_store_says_so(store: str, expected: list[str]) -> None:
    code, output = run(crm_env_app, "data", "list", "companies", "--store", store)
    assert_clear_error(code, output, *expected)


def test_data_list_never_creates_a_store(tmp_path: Path) -> None:
    typo = tmp_path / "crm.sqlite"
    code, output = run(crm_env_app, "data", "list", "companies", "--store", f"sqlite:///{typo}")
    assert_clear_error(code, output, f"No CRM store at {typo}")
    assert not typo.exists()


def test_data_list_of_an_empty_postgresql_database_creates_no_tables(empty_postgres_database: str) -> None:
    code, output = run(crm_env_app, "data", "list", "companies", "--store", empty_postgres_database)
    assert_clear_error(code, output, "holds no CRM")
    engine = create_engine(empty_postgres_database.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        assert not inspect(engine).has_table("companies")
    finally:
        engine.dispose()


def test_data_list_help_shows_the_filter_syntax_and_that_example_works(crm_file: str) -> None:
    code, help_text = run(crm_env_app, "data", "list", "--help")
    assert code == 0
    assert 'name[ilike]:"%acme%"' in help_text and "employees[gte]:100" in help_text
    code, output = run(
        crm_env_app, "data", "list", "companies", "--store", crm_file, "--filter", 'name[ilike]:"%acme%"'
    )
    assert code == 0, output
    assert [c["name"] for c in json.loads(output)["data"]["companies"]] == ["Acme Corp"]
    code, output = run(
        crm_env_app, "data", "list", "companies", "--store", crm_file, "--filter", "employees[gte]:100"
    )
    assert [c["name"] for c in json.loads(output)["data"]["companies"]] == ["Acme Corp"]


def test_help_renders_flags_as_flags_and_long_options_whole() -> None:
    code, output = run(converso_app, "serve", "--help")
    assert code == 0
    assert "--max-connections-per-key" in output
    assert "<bool>" not in output
    code, output = run(converso_app, "chat", "--help")
    assert "--journal-unmasked " in output and "<bool>" not in output


def test_unknown_object_is_a_usage_error_naming_the_accepted_ones(crm_file: str) -> None:
    code, output = run(crm_env_app, "data", "list", "gadgets", "--store", crm_file)
    assert code == 2 and "Traceback" not in output
    assert "companies" in output and "gadgets" in output


def test_the_filter_examples_the_model_and_forms_show_work(crm_file: str) -> None:
    from crm_tools.backends.sql import SqlBackend
    from crm_tools.tools import FILTER_GRAMMAR

    filters = re.findall(r"filter e\.g\. (\S+);", FILTER_GRAMMAR)
    order = re.findall(r"order_by e\.g\. (\S+?)\.", FILTER_GRAMMAR)
    assert filters == ['name[ilike]:"%acme%",employees[gte]:100'] and order == ["createdAt[DESC]"]
    with SqlBackend(crm_file, create=False) as crm:
        body = crm.list("company", filter=filters[0], order_by=order[0])
    assert [c["name"] for c in body["data"]["companies"]] == ["Acme Corp"]


def test_a_port_out_of_range_is_a_usage_error() -> None:
    code, output = run(converso_app, "serve", "--client-key", "k", *MODEL, "--port", "99999")
    assert code == 2 and "Traceback" not in output and "--port" in output and "65535" in output
    code, output = run(crm_env_app, "serve", "--api-key", "k", "--port", "-1")
    assert code == 2 and "Traceback" not in output and "greater than or equal to 0" in output


def test_serve_with_an_unreachable_postgresql_state_says_so(tmp_path: Path) -> None:
    state = "postgresql://postgres:secret@127.0.0.1:9/x"
    code, output = run(
        converso_app, "serve", "--client-key", "k", *MODEL, "--data-dir", str(tmp_path), "--state", state
    )
    assert_clear_error(
        code, output, "--state: cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:9/x"
    )
    assert "secret" not in output
