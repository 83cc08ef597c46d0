"""Real CRM env servers on 127.0.0.1 and raw protocol clients for the env tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from crm_tools.env_server import BackgroundEnvServer

API_KEY = "test-key-1"


@pytest.fixture
def env_server() -> Iterator[BackgroundEnvServer]:
    """An episode-mode server on a free port."""
    with BackgroundEnvServer(api_keys=[API_KEY]) as server:
        yield server


def open_ws(url: str, key: str = API_KEY) -> ClientConnection:
    return connect(f"{url}/ws", subprotocols=[f"crm-v1.{key}"], open_timeout=5, proxy=None, legacy=True)  # type: ignore[list-item]


def send(ws: ClientConnection, frame: dict[str, Any] | str | bytes) -> dict[str, Any]:
    ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
    return json.loads(ws.recv(timeout=10))


def step(ws: ClientConnection, **action: Any) -> dict[str, Any]:
    """The OBS of one step."""
    reply = send(ws, {"type": "step", "data": action})
    assert reply["type"] == "observation", reply
    return reply["data"]["observation"]
