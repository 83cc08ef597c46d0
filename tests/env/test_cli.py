"""`crm-env serve` and `crm-env data list` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner
from websockets.exceptions import ConnectionClosed

from crm_tools.backends.sql import SqlBackend
from crm_tools.cli import app
from tests.conftest import free_port
from tests.env.conftest import open_ws, send, step

CRM_ENV = str(Path(sys.executable).parent / "crm-env")


def _wait_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else "server exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("crm-env serve did not become healthy within 30 s")


@pytest.mark.slow
def test_serve_takes_keys_from_the_environment_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CRM_ENV_API_KEYS": "env-key-1,env-key-2"}
    server = subprocess.Popen(
        [CRM_ENV, "serve", "--port", str(port), "--store", f"sqlite:///{tmp_path / 'crm.db'}"],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_healthy(port, server)
        ws = open_ws(f"ws://127.0.0.1:{port}", "env-key-2")
        assert step(ws, action_type="create_company", company_name="Before shutdown")["success"]
        server.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 1001
        assert server.wait(15) == 0
    finally:
        if server.poll() is None:
            server.kill()
    log = server.stderr.read().decode() if server.stderr else ""
    assert "env-key" not in log
    with SqlBackend(f"sqlite:///{tmp_path / 'crm.db'}") as store:
        assert store.list("company")["totalCount"] == 1


def test_serve_without_any_key_refuses_to_start() -> None:
    result = CliRunner().invoke(app, ["serve", "--port", "0"], env={"CRM_ENV_API_KEYS": ""})
    assert result.exit_code != 0 and "CRM_ENV_API_KEYS" in result.output


def test_data_list_prints_a_page_of_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    with SqlBackend(url) as store:
        store.create("company", {"name": "Acme", "employees": 300})
        store.create("company", {"name": "Tiny", "employees": 3})
    result = CliRunner().invoke(
        app, ["data", "list", "companies", "--store", url, "--filter", "employees[gte]:100"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert [c["name"] for c in body["data"]["companies"]] == ["Acme"]


def test_data_list_reports_a_bad_filter_with_the_crm_error_body(tmp_path: Path) -> None:
    SqlBackend(f"sqlite:///{tmp_path / 'crm.db'}").close()
    result = CliRunner().invoke(
        app,
        [
            "data",
            "list",
            "companies",
            "--store",
            f"sqlite:///{tmp_path / 'crm.db'}",
            "--filter",
            "name[contains]:x",
        ],
    )
    assert result.exit_code == 1 and '"statusCode": 400' in result.output


@pytest.mark.postgres
def test_serve_shares_a_postgresql_store_between_connections(postgres_database: str) -> None:
    from crm_tools.env_server import BackgroundEnvServer
    from tests.env.conftest import API_KEY

    with BackgroundEnvServer(api_keys=[API_KEY], store=postgres_database) as server:
        with open_ws(server.url) as first:
            step(first, action_type="create_person", person_first_name="Shared", person_email="s@example.com")
        with open_ws(server.url) as second:
            send(second, {"type": "reset", "data": {"seed": 1}})
            people = step(second, action_type="list_people", filter="emails.primaryEmail[eq]:s@example.com")
            assert people["data"]["totalCount"] == 1
