"""Idempotent create holds under concurrent threads and across processes sharing one database."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_tools.backends import CRMBackend
from crm_tools.backends.sql import SqlBackend
from tests.crm.conftest import created

THREADS = 6


def _race(backend: CRMBackend, key: str, label: str) -> list[str]:
    barrier = threading.Barrier(THREADS)
    ids: list[str] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        barrier.wait()
        try:
            ids.append(
                created(backend.create("company", {"name": f"{label} {n}"}, idempotency_key=key))["id"]
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return ids


def test_concurrent_threads_with_one_key_create_one_record(backend: CRMBackend) -> None:
    ids = _race(backend, "order-42", "Acme")
    assert len(ids) == THREADS and len(set(ids)) == 1
    assert backend.list("company")["totalCount"] == 1


_CHILD = textwrap.dedent(
    """
    import json, sys, threading, time
    from pathlib import Path
    from crm_tools.backends.sql import SqlBackend

    url, schema, key, workdir, label = sys.argv[1:6]
    backend = SqlBackend(url, schema=schema or None)
    Path(workdir, f"ready-{label}").touch()
    while not Path(workdir, "go").exists():
        time.sleep(0.005)
    ids = []
    def worker(n):
        body = backend.create("company", {"name": f"{label} {n}"}, idempotency_key=key)
        ids.append(body["data"]["createCompany"]["id"])
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(json.dumps(ids))
    """
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}", ""
    else:
        yield request.getfixturevalue("postgres_database"), request.getfixturevalue("postgres_schema")


def test_two_processes_with_one_key_create_one_record(store_url: tuple[str, str], tmp_path: Path) -> None:
    url, schema = store_url
    with SqlBackend(url, schema=schema or None):
        pass  # the tables exist before the race, as they would for a running team server
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, url, schema, "invoice-7", str(tmp_path), label],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("first", "second")
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{label}").exists() for label in ("first", "second")):
        assert time.monotonic() < deadline, "children did not start"
        assert all(child.poll() is None for child in children), [c.communicate() for c in children]
        time.sleep(0.01)
    (tmp_path / "go").touch()
    ids = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        ids += json.loads(out)
    assert len(ids) == 6 and len(set(ids)) == 1
    with SqlBackend(url, schema=schema or None) as backend:
        assert backend.list("company")["totalCount"] == 1
