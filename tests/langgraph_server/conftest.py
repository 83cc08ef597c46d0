"""``langgraph dev`` serving the repository's ``langgraph.json``, with a scripted model behind it.

The server runs as its own process group on 127.0.0.1, in a temporary directory (the in-memory runtime
keeps its files in the working directory), and is killed as a group at the end. Nothing reaches the
network: the model is a local ``ScriptedOpenAIServer``; the CLI's analytics, the server's check for a newer
release on PyPI and LangSmith tracing are off; ``--no-browser`` keeps Studio closed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from converso.testing import RecordedRequest, ScriptedOpenAIServer
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0


class Conversations:
    """The model's answers per conversation, told apart by the conversation's first user message: one
    server process serves every test, and each test's thread gets its own script."""

    def __init__(self) -> None:
        self._answers: dict[str, deque[Any]] = {}
        self._lock = threading.Lock()

    def script(self, opening: str, *answers: Any) -> None:
        with self._lock:
            self._answers[opening] = deque(answers)

    def left(self, opening: str) -> list[Any]:
        with self._lock:
            return list(self._answers[opening])

    def __call__(self, request: RecordedRequest) -> Any:
        opening = next(m["content"] for m in request.messages if m["role"] == "user")
        with self._lock:
            answers = self._answers.get(opening)
            if not answers:
                raise LookupError(f"no scripted answer left for the conversation opened by {opening!r}")
            return answers.popleft()


@dataclass(frozen=True)
class LangGraphServer:
    url: str
    crm_url: str
    conversations: Conversations
    model: ScriptedOpenAIServer


def _langgraph_executable() -> str:
    executable = Path(sys.executable).with_name("langgraph")
    if executable.exists():
        return str(executable)
    reason = "langgraph-cli is not installed (pip install -e '.[dev]' installs langgraph-cli[inmem])"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; it is required in CI")
    pytest.skip(reason)


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"langgraph dev exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(f"{url}/ok", timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)  # polling for readiness: nothing else says when uvicorn listens
    raise RuntimeError(f"langgraph dev was not ready after {READY_TIMEOUT}s:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="package")
def langgraph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LangGraphServer]:
    executable = _langgraph_executable()
    workdir = tmp_path_factory.mktemp("langgraph_dev")
    crm_url = f"sqlite:///{workdir / 'crm.sqlite3'}"
    conversations = Conversations()
    with ScriptedOpenAIServer(handler=conversations) as model:
        port = free_port()
        env = {
            **os.environ,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "test",
            "CONVERSO_MODEL": "scripted",
            "CONVERSO_CRM": crm_url,
            "CONVERSO_DATA_DIR": str(workdir / "data"),
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGGRAPH_NO_VERSION_CHECK": "true",
            "LANGSMITH_TRACING": "false",
            "LANGCHAIN_TRACING_V2": "false",
        }
        log = workdir / "langgraph-dev.log"
        command = [
            executable,
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        command += ["--config", str(ROOT / "langgraph.json")]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_ready(process, url, log)
            yield LangGraphServer(url=url, crm_url=crm_url, conversations=conversations, model=model)
        finally:
            _stop(process)
