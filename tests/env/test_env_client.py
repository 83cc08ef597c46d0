"""``EnvBackend`` specifics: connecting, authentication, timeouts, reconnects, the standard vocabulary."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from websockets.asyncio.server import ServerConnection, serve

from crm_tools.backends import CRMBackend
from crm_tools.backends.env_client import (
    EnvAuthenticationError,
    EnvBackend,
    EnvConnectionError,
    EnvEpisodeLost,
    ws_endpoint,
)
from crm_tools.env_server import BackgroundEnvServer
from crm_tools.errors import CRMError
from tests.conftest import free_port
from tests.env.conftest import API_KEY


def _record(body: dict) -> dict:
    return next(iter(body["data"].values()))


@pytest.mark.parametrize(
    ("given", "endpoint"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
        ("https://env.example.com/", "wss://env.example.com/ws"),
        ("ws://127.0.0.1:8000/ws", "ws://127.0.0.1:8000/ws"),
        ("127.0.0.1:9", "ws://127.0.0.1:9/ws"),
    ],
)
def test_base_urls_become_the_ws_endpoint(given: str, endpoint: str) -> None:
    assert ws_endpoint(given) == endpoint


def test_env_backend_is_a_crm_backend_and_connects_only_when_used() -> None:
    backend = EnvBackend(f"ws://127.0.0.1:{free_port()}", API_KEY)  # nothing listens there
    assert isinstance(backend, CRMBackend)
    backend.close()


def test_an_unreachable_server_is_a_connection_error_naming_the_url() -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    with pytest.raises(EnvConnectionError, match=f"Cannot connect to the CRM env server at {url}/ws"):
        EnvBackend(url, API_KEY, connect_timeout=2).list("company")


def test_a_refused_key_is_an_authentication_error_naming_the_url_not_the_key(
    env_server: BackgroundEnvServer,
) -> None:
    with pytest.raises(EnvAuthenticationError, match="refused the API key") as raised:
        EnvBackend(env_server.url, "wrong-secret").list("company")
    assert env_server.url in str(raised.value) and "wrong-secret" not in str(raised.value)


def test_a_seed_starts_the_episode_from_the_demo_data(env_server: BackgroundEnvServer) -> None:
    with EnvBackend(env_server.url, API_KEY, seed=11) as backend:
        assert backend.list("company", limit=1)["totalCount"] > 0
        assert backend.mode == "episode" and backend.extensions


def test_a_silent_server_is_a_timeout_naming_the_url() -> None:
    ready, stop = threading.Event(), threading.Event()
    port = free_port()

    async def never_answer(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async def main() -> None:
        async with serve(never_answer, "127.0.0.1", port, select_subprotocol=lambda _c, offered: offered[0]):
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        with pytest.raises(
            EnvConnectionError, match=r"No answer from the CRM env server at .* within 0\.3 s"
        ):
            EnvBackend(f"ws://127.0.0.1:{port}", API_KEY, message_timeout=0.3).list("company")
    finally:
        stop.set()
        thread.join(5)


def test_idempotent_create_returns_the_first_record(env_server: BackgroundEnvServer) -> None:
    with EnvBackend(env_server.url, API_KEY) as backend:
        first = _record(backend.create("company", {"name": "Once"}, idempotency_key="k1"))
        again = _record(backend.create("company", {"name": "Once"}, idempotency_key="k1"))
        assert first["id"] == again["id"] and backend.list("company")["totalCount"] == 1


def test_over_capacity_is_a_connection_error() -> None:
    with (
        BackgroundEnvServer(api_keys=[API_KEY], max_sessions=1) as server,
        EnvBackend(server.url, API_KEY) as first,
    ):
        first.list("company")
        with pytest.raises(EnvConnectionError, match="at capacity"):
            EnvBackend(server.url, API_KEY).list("company")


def test_a_dropped_episode_is_lost_until_reset() -> None:
    port = free_port()
    backend = EnvBackend(f"ws://127.0.0.1:{port}", API_KEY)
    with BackgroundEnvServer(port=port, api_keys=[API_KEY]):
        backend.create("company", {"name": "Gone soon"})
    with BackgroundEnvServer(port=port, api_keys=[API_KEY]):
        with pytest.raises(EnvEpisodeLost, match="records are gone"):
            backend.list("company")
        with pytest.raises(EnvEpisodeLost):
            backend.list("company")  # stays lost: carrying on would silently use an empty CRM
        backend.reset()
        assert backend.list("company")["totalCount"] == 0
    backend.close()


@pytest.fixture
def store_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'shared.db'}"


def test_against_a_store_reads_reconnect_once_after_a_drop(store_url: str) -> None:
    port = free_port()
    backend = EnvBackend(f"ws://127.0.0.1:{port}", API_KEY)
    with BackgroundEnvServer(port=port, api_keys=[API_KEY], store=store_url):
        backend.create("company", {"name": "Durable"})
        assert backend.mode == "store"
    with BackgroundEnvServer(port=port, api_keys=[API_KEY], store=store_url):
        assert [c["name"] for c in backend.list("company")["data"]["companies"]] == ["Durable"]
    backend.close()


def test_against_a_store_a_write_is_not_repeated_after_a_drop(store_url: str) -> None:
    port = free_port()
    backend = EnvBackend(f"ws://127.0.0.1:{port}", API_KEY)
    with BackgroundEnvServer(port=port, api_keys=[API_KEY], store=store_url):
        company = _record(backend.create("company", {"name": "Acme"}))
    with BackgroundEnvServer(port=port, api_keys=[API_KEY], store=store_url):
        with pytest.raises(EnvConnectionError, match="not safe to repeat; its outcome is unknown"):
            backend.update("company", company["id"], {"employees": 5})
        assert _record(backend.get("company", company["id"]))["employees"] is None
    backend.close()


def test_against_a_store_a_keyed_create_is_repeated_after_a_drop(store_url: str) -> None:
    port = free_port()
    backend = EnvBackend(f"ws://127.0.0.1:{port}", API_KEY)
    with BackgroundEnvServer(port=port, api_keys=[API_KEY], store=store_url):
        backend.list("company")
    with BackgroundEnvServer(port=port, api_keys=[API_KEY], store=store_url):
        created = _record(backend.create("company", {"name": "Keyed"}, idempotency_key="form-1"))
        assert backend.list("company")["data"]["companies"][0]["id"] == created["id"]
    backend.close()


@pytest.fixture
def standard_server() -> Iterator[BackgroundEnvServer]:
    """A server that speaks only the vocabulary of docs/env-protocol.md, like one we do not control."""
    with BackgroundEnvServer(api_keys=[API_KEY], advertise_extensions=False) as server:
        yield server


def test_a_field_the_standard_vocabulary_cannot_carry_is_refused_before_sending(
    standard_server: BackgroundEnvServer,
) -> None:
    with EnvBackend(standard_server.url, API_KEY) as backend:
        with pytest.raises(CRMError, match=r"cannot carry address\.addressCity of a company") as raised:
            backend.create("company", {"name": "Acme", "address": {"addressCity": "Paris"}})
        assert raised.value.code == "UNSUPPORTED_FIELD"
        assert backend.list("company")["totalCount"] == 0


def test_an_object_operation_the_standard_vocabulary_lacks_is_refused(
    standard_server: BackgroundEnvServer,
) -> None:
    with (
        EnvBackend(standard_server.url, API_KEY) as backend,
        pytest.raises(CRMError, match="no 'get_note' action"),
    ):
        backend.get("note", "00000000-0000-4000-8000-000000000000")


def test_without_the_extension_amounts_travel_in_units_and_keys_are_kept_by_the_client(
    standard_server: BackgroundEnvServer,
) -> None:
    with EnvBackend(standard_server.url, API_KEY) as backend:
        deal = _record(backend.create("opportunity", {"name": "D", "amount": {"amountMicros": 2_500_000}}))
        assert deal["amount"] == {"amountMicros": 2_500_000, "currencyCode": "USD"}
        first = _record(backend.create("task", {"title": "Call"}, idempotency_key="t"))
        assert _record(backend.create("task", {"title": "Call"}, idempotency_key="t"))["id"] == first["id"]
        assert backend.list("task")["totalCount"] == 1
