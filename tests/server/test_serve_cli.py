"""`converso serve` as a process: starts, serves a turn, and stops gracefully on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

from converso.testing.openai_server import ScriptedOpenAIServer, text
from tests.conftest import free_port

CONVERSO = str(Path(sys.executable).with_name("converso"))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CONVERSO_"))}


def test_serve_answers_a_turn_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    with ScriptedOpenAIServer([text("Hello from the model.")]) as model:
        server = subprocess.Popen(
            [
                CONVERSO,
                "serve",
                "--port",
                str(port),
                "--client-key",
                "k1",
                "--base-url",
                model.base_url,
                "--api-key",
                "test",
                "--model",
                "scripted",
                "--data-dir",
                str(tmp_path),
            ],
            env=clean_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stderr is not None
            assert "chat page" in server.stderr.readline()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                health = json.load(response)
            with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
                ws.send(json.dumps({"type": "auth", "api_key": "k1"}))
                ws.recv()
                ws.send(json.dumps({"type": "open"}))
                ws.recv()
                ws.send(json.dumps({"type": "message", "text": "hi"}))
                frames = []
                while not frames or frames[-1]["type"] != "reply":
                    frames.append(json.loads(ws.recv(timeout=30)))
            server.send_signal(signal.SIGTERM)
            rest = server.communicate(timeout=30)[1]
        finally:
            if server.poll() is None:
                server.kill()
    assert health["status"] == "ok"
    assert frames[-1]["text"] == "Hello from the model."
    assert server.returncode == 0
    assert "converso serve: stopped" in rest


def test_serve_without_a_client_key_says_how_to_give_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [CONVERSO, "serve", "--api-key", "x", "--data-dir", str(tmp_path)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--client-key" in result.stderr and "CONVERSO_CLIENT_KEYS" in result.stderr
