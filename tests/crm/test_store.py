"""Opening stores from URLs: the default file, in-memory databases, and refused URLs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from crm_tools.backends.sql import SqlBackend
from crm_tools.errors import CRMError, StoreURLError
from crm_tools.store import default_store_url, open_backend


def test_default_store_is_a_sqlite_file_in_the_user_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = default_store_url()
    assert url.startswith("sqlite:///") and url.startswith(f"sqlite:///{tmp_path / 'data'}")
    with open_backend(url) as crm:
        crm.create("company", {"name": "Acme"})
    assert Path(url.removeprefix("sqlite:///")).is_file()


def test_file_store_keeps_records_across_openings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'crm.sqlite3'}"
    with SqlBackend(url) as crm:
        crm.create("company", {"name": "Acme"})
    with SqlBackend(url) as crm:
        assert crm.list("company")["totalCount"] == 1


def test_in_memory_store_is_one_database_across_calls_and_threads() -> None:
    with SqlBackend("sqlite://") as crm:
        crm.create("company", {"name": "Main"})
        threads = [threading.Thread(target=crm.create, args=("company", {"name": f"t{n}"})) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert crm.list("company")["totalCount"] == 5


def test_in_memory_stores_are_isolated_and_cheap_to_open() -> None:
    SqlBackend("sqlite://").close()  # warm-up: imports and statement compilation
    started = time.perf_counter()
    one, two = SqlBackend("sqlite://"), SqlBackend("sqlite://")
    elapsed = (time.perf_counter() - started) / 2
    one.create("company", {"name": "Only in one"})
    assert two.list("company")["totalCount"] == 0
    assert elapsed < 0.05, f"opening an in-memory store took {elapsed * 1000:.1f} ms"


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8000/ws", "mysql://root@localhost/crm", "not a url", "sqlite+aiosqlite:///x.db"]
)
def test_unsupported_urls_are_refused_listing_the_accepted_forms(url: str) -> None:
    with pytest.raises(StoreURLError) as info:
        open_backend(url)
    assert isinstance(info.value, CRMError) and isinstance(info.value, ValueError)
    assert "sqlite:///PATH" in info.value.message and "postgresql" in info.value.message


@pytest.mark.postgres
def test_postgres_urls_are_accepted_in_both_spellings(postgres_database: str, postgres_schema: str) -> None:
    psycopg_url = postgres_database.replace("postgresql://", "postgresql+psycopg://")
    with SqlBackend(postgres_database, schema=postgres_schema) as plain:
        plain.create("company", {"name": "Acme"})
    with SqlBackend(psycopg_url, schema=postgres_schema) as explicit:
        assert explicit.list("company")["totalCount"] == 1
