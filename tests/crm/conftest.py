"""The ``backend`` fixture: every behavioural CRM test runs once per store.

Adding a store means adding one param and one branch in ``_open``; the tests use only the
``CRMBackend`` protocol. The "env" store is ``EnvBackend`` speaking the CRM env protocol to a real
``crm-env`` server on 127.0.0.1: each test opens its own connection, which is a fresh, empty CRM
(an episode), just as the SQL tests get a fresh database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crm_tools.backends import CRMBackend
from crm_tools.backends.env_client import EnvBackend
from crm_tools.backends.sql import SqlBackend
from crm_tools.env_server import BackgroundEnvServer

ENV_API_KEY = "crm-suite-key"

STORES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("env", id="env"),
]

# What the env protocol cannot carry, even with the converso extension: system fields set by hand.
ENV_CANNOT_CARRY_TESTS = {
    "test_create_with_a_given_id_keeps_it_and_refuses_reuse": "a record's id cannot be chosen over the env protocol",
    "test_dates_select_january_2026": "createdAt cannot be set over the env protocol",
    "test_walking_forward_then_backward_yields_every_row_once_each_way": (
        "the rows set createdAt (for ties), which the env protocol cannot carry"
    ),
}


@pytest.fixture(scope="session")
def env_server() -> Iterator[BackgroundEnvServer]:
    """One episode-mode server for the run; started only when an "env" test asks for it."""
    with BackgroundEnvServer(api_keys=[ENV_API_KEY]) as server:
        yield server


def _skip_what_env_cannot_carry(request: pytest.FixtureRequest) -> None:
    name = getattr(request.node, "originalname", request.node.name)
    if name in ENV_CANNOT_CARRY_TESTS:
        pytest.skip(ENV_CANNOT_CARRY_TESTS[name])


def _open(store: str, request: pytest.FixtureRequest) -> CRMBackend:
    if store == "sqlite":
        tmp_path = request.getfixturevalue("tmp_path")
        return SqlBackend(f"sqlite:///{tmp_path / 'crm.sqlite3'}")
    if store == "postgres":
        database = request.getfixturevalue("postgres_database")
        return SqlBackend(database, schema=request.getfixturevalue("postgres_schema"))
    if store == "env":
        _skip_what_env_cannot_carry(request)
        server: BackgroundEnvServer = request.getfixturevalue("env_server")
        return EnvBackend(server.url, ENV_API_KEY, connect_timeout=5, message_timeout=10)
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
