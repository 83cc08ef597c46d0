"""The CRM backend behaviour suite of tests/crm, rerun against ``EnvBackend`` over a real server.

Each test gets a new connection to an episode server, which is a fresh, empty CRM, just as the
SQL tests get a fresh database. The test functions are imported, not copied, so the suites cannot
drift apart. (When tests/crm's ``backend`` fixture grows an "env" branch, this module can go.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crm_tools.backends.env_client import EnvBackend
from crm_tools.env_server import BackgroundEnvServer
from tests.env.conftest import API_KEY

suite = pytest.importorskip(
    "tests.crm.test_records", reason="the CRM behaviour suite (tests/crm) is not present"
)
from tests.crm.conftest import make  # noqa: E402, F401 - the suite's fixture, rebound to our backend

# Tests whose payloads the env protocol cannot carry, even with the converso extension.
_CANNOT_CARRY = {
    "test_create_with_a_given_id_keeps_it_and_refuses_reuse": "a record's id cannot be chosen over the env protocol",
}

for _name in dir(suite):
    if _name.startswith("test_"):
        _test = getattr(suite, _name)
        if _name in _CANNOT_CARRY:
            _test = pytest.mark.skip(reason=_CANNOT_CARRY[_name])(_test)
        globals()[_name] = _test


@pytest.fixture(scope="module")
def env_server_for_suite() -> Iterator[BackgroundEnvServer]:
    with BackgroundEnvServer(api_keys=[API_KEY]) as server:
        yield server


@pytest.fixture
def backend(env_server_for_suite: BackgroundEnvServer) -> Iterator[EnvBackend]:
    crm = EnvBackend(env_server_for_suite.url, API_KEY, connect_timeout=5, message_timeout=10)
    yield crm
    crm.close()
