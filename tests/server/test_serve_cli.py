"""`converso serve` as a process: starts, serves a turn, and stops gracefully on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
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
                "--log-json",
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
    logs = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    turns = [entry for entry in logs if entry.get("event") == "turn"]
    assert [(t["outcome"], t["level"]) for t in turns] == [("ok", "INFO")] and turns[0]["duration_ms"] > 0
    assert {"connection_opened", "connection_closed"} <= {entry.get("event") for entry in logs}
    assert all('"hi"' not in json.dumps(entry) and "k1" not in json.dumps(entry) for entry in logs)


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


def serve_workers(tmp_path: Path, port: int, base_url: str, workers: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            CONVERSO,
            "serve",
            "--port",
            str(port),
            "--client-key",
            "k1,k2",
            "--base-url",
            base_url,
            "--api-key",
            "test",
            "--model",
            "scripted",
            "--data-dir",
            str(tmp_path),
            "--workers",
            str(workers),
        ],
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )


def health_pid(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        return int(json.load(response)["pid"])


def talk(port: int, key: str, frames: list[dict[str, object]]) -> list[dict[str, object]]:
    """Authenticate with ``key``, send ``frames`` and collect the answers up to each one's last frame."""
    answers = []
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
        ws.send(json.dumps({"type": "auth", "api_key": key}))
        ws.recv(timeout=10)
        for frame in frames:
            ws.send(json.dumps(frame))
            while True:
                answer = json.loads(ws.recv(timeout=30))
                answers.append(answer)
                if answer["type"] in ("opened", "reply", "error"):
                    break
    return answers


def test_serve_with_two_workers_shares_the_port_threads_and_owners(tmp_path: Path) -> None:
    port = free_port()
    with ScriptedOpenAIServer(["First answer.", "Second answer."]) as model:
        server = serve_workers(tmp_path, port, model.base_url, workers=2)
        try:
            assert server.stderr is not None
            assert "chat page" in server.stderr.readline()
            assert "chat page" in server.stderr.readline()
            pids = {health_pid(port) for _ in range(60)}
            opened, *_, first = talk(port, "k1", [{"type": "open"}, {"type": "message", "text": "hi"}])
            thread = {"type": "open", "thread_id": opened["thread_id"]}
            # New connections land on either worker; each one knows the thread and its owner.
            resumed = [talk(port, "k1", [thread])[0] for _ in range(6)]
            refused = [talk(port, "k2", [thread])[0] for _ in range(6)]
            *_, second = talk(port, "k1", [thread, {"type": "message", "text": "again"}])
            server.send_signal(signal.SIGTERM)
            rest = server.communicate(timeout=30)[1]
        finally:
            if server.poll() is None:
                server.kill()
    assert len(pids) == 2 and server.pid not in pids
    assert (first["text"], second["text"]) == ("First answer.", "Second answer.")
    assert all(r["type"] == "opened" and r["resumed"] for r in resumed)
    assert all(r["type"] == "error" and r["code"] == "thread_forbidden" for r in refused)
    assert server.returncode == 0
    assert rest.count("converso serve: stopped") == 2


def test_serve_workers_need_a_fixed_port(tmp_path: Path) -> None:
    server = serve_workers(tmp_path, 0, "http://127.0.0.1:9/v1", workers=2)
    _, err = server.communicate(timeout=60)
    assert server.returncode == 2
    assert "--workers needs a fixed --port" in err


def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    port = free_port()
    server = serve_workers(tmp_path, port, "http://127.0.0.1:9/v1", workers=2)
    try:
        assert server.stderr is not None
        assert "chat page" in server.stderr.readline()
        assert "chat page" in server.stderr.readline()
        workers = {health_pid(port) for _ in range(60)}
        server.kill()
        server.wait(10)
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.kill()
    assert len(workers) == 2
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


class StderrLines:
    """The server's stderr lines, read on a thread so a test can wait for one with a timeout."""

    def __init__(self, server: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert server.stderr is not None
        stream = server.stderr
        threading.Thread(target=lambda: [self._lines.put(line) for line in stream], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            self.seen.append(line)
            if text in line:
                return line


def gone(pid: int) -> bool:
    """Dead: its sockets are closed (a zombie until its parent reaps it, or reaped). A process's files
    close with its last thread, and a worker has threads besides its main one (the turns' loop): every
    one of them must have exited."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return True
    return all(_task_state(task) in ("Z", "X") for task in tasks)


def _task_state(task: Path) -> str:
    # A thread that exits between the listing and the read answers ESRCH (or is no longer listed).
    try:
        return (task / "stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "X"


def test_a_killed_worker_is_replaced_and_the_service_keeps_answering(tmp_path: Path) -> None:
    port = free_port()
    server = serve_workers(tmp_path, port, "http://127.0.0.1:9/v1", workers=2)
    try:
        lines = StderrLines(server)
        lines.wait_for("chat page")
        lines.wait_for("chat page")
        workers = {health_pid(port) for _ in range(60)}
        victim, survivor = sorted(workers)
        os.kill(victim, signal.SIGKILL)
        while not gone(victim):
            time.sleep(0.01)
        # The attack run saw 1 answer in 50 probes here: the supervisor stopped every worker.
        answered = [health_pid(port) for _ in range(50)]
        logged = lines.wait_for(f"(pid {victim}) was killed by SIGKILL; starting a new one")
        replacement_line = lines.wait_for("chat page")
        replacement = int(replacement_line.rsplit("pid ", 1)[1].split(")")[0])
        after = {health_pid(port) for _ in range(60)}
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
    assert len(workers) == 2
    assert survivor in answered and set(answered) <= {survivor, replacement}  # every probe answered
    assert logged.startswith("converso serve: worker ")
    assert replacement not in workers and after == {survivor, replacement}
    assert server.returncode == 0


def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))  # without SO_REUSEPORT: no worker can listen there
        taken.listen()
        server = serve_workers(tmp_path, port, "http://127.0.0.1:9/v1", workers=2)
        _, err = server.communicate(timeout=60)
    assert server.returncode == 1
    assert "could not start; stopping the other workers" in err
    assert "starting a new one" not in err
