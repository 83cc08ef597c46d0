"""The CRM backend behaviour suite of tests/crm, rerun against ``EnvBackend`` over a real server.

Each test gets a new connection to an episode server, which is a fresh, empty CRM, just as the
SQL tests get a fresh database. The tests and their fixtures are imported, not copied, so the two
suites cannot drift apart. (When tests/crm's ``backend`` fixture grows an "env" branch, this
module can go.)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

import pytest
from _pytest.fixtures import FixtureFunctionDefinition

from crm_tools.backends.env_client import EnvBackend
from crm_tools.env_server import BackgroundEnvServer
from tests.env.conftest import API_KEY

SUITES = (
    "tests.crm.test_records",
    "tests.crm.test_list",
    "tests.crm.test_filter_safety",
    "tests.crm.test_idempotency_concurrency",
)

# Tests whose payloads the env protocol cannot carry, even with the converso extension.
CANNOT_CARRY = {
    "test_create_with_a_given_id_keeps_it_and_refuses_reuse": "a record's id cannot be chosen over the env protocol",
}
# Fixtures that write system fields (createdAt) the env protocol cannot carry.
FIXTURES_CANNOT_CARRY = {
    "companies": "the 'companies' fixture sets createdAt, which the env protocol cannot carry"
}

pytest.importorskip("tests.crm.conftest", reason="the CRM behaviour suite (tests/crm) is not present")
from tests.crm.conftest import make  # noqa: E402, F401 - the suite's fixture, rebound to our backend


def _adopt(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    for name, value in vars(module).items():
        if name.startswith("test_") and callable(value):
            if not {"backend", "make", *FIXTURES_CANNOT_CARRY} & set(inspect.signature(value).parameters):
                continue  # not a backend behaviour (e.g. a test of SQL processes)
            reasons = [CANNOT_CARRY[name]] if name in CANNOT_CARRY else []
            reasons += [
                why
                for arg, why in FIXTURES_CANNOT_CARRY.items()
                if arg in inspect.signature(value).parameters
            ]
            if reasons:
                value = pytest.mark.skip(reason=reasons[0])(value)
            globals()[name] = value
        elif isinstance(value, FixtureFunctionDefinition) and name not in ("backend", "make"):
            globals()[name] = value


for _suite in SUITES:
    _adopt(_suite)


@pytest.fixture(scope="module")
def env_server_for_suite() -> Iterator[BackgroundEnvServer]:
    with BackgroundEnvServer(api_keys=[API_KEY]) as server:
        yield server


@pytest.fixture
def backend(env_server_for_suite: BackgroundEnvServer) -> Iterator[EnvBackend]:
    crm = EnvBackend(env_server_for_suite.url, API_KEY, connect_timeout=5, message_timeout=10)
    yield crm
    crm.close()
