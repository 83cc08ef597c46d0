"""The ``backend`` fixture: every behavioural CRM test runs once per store.

Adding a store means adding one param and one branch in ``_open``; the tests use only the
``CRMBackend`` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crm_tools.backends import CRMBackend
from crm_tools.backends.sql import SqlBackend

STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _open(store: str, request: pytest.FixtureRequest) -> CRMBackend:
    if store == "sqlite":
        tmp_path = request.getfixturevalue("tmp_path")
        return SqlBackend(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    if store == "postgres":
        database = request.getfixturevalue("postgres_database")
        return SqlBackend(database, schema=request.getfixturevalue("postgres_schema"))
    raise AssertionError(f"unknown store {store}")


@pytest.fixture(params=STORES)
def backend(request: pytest.FixtureRequest) -> Iterator[CRMBackend]:
    crm = _open(request.param, request)
    yield crm
    crm.close()


def created(body: dict[str, Any]) -> dict[str, Any]:
    """The record inside a create/update/get body."""
    return next(iter(body["data"].values()))


@pytest.fixture
def make(backend: CRMBackend) -> Callable[..., dict[str, Any]]:
    """``make("company", name="Acme")`` → the created record."""

    def _make(object_name: str, **fields: Any) -> dict[str, Any]:
        return created(backend.create(object_name, fields))  # type: ignore[arg-type]

    return _make
