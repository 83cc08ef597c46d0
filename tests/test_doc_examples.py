"""The examples of the README and the docs run. Every python and bash block runs offline as written,
unless a comment right before it says otherwise:

- ``<!-- not run: REASON -->``: it needs a key, installs packages, or is a sketch (say which test or
  runnable file covers it instead);
- ``<!-- part of: docs/examples/FILE.py -->``: its lines are in that file (which a test runs);
- ``<!-- run with: crm-env serve -->``: it runs against a real ``crm-env serve`` (its ``127.0.0.1:8000``
  becomes the test server's address, ``dev-key`` its key).

A model name in an example is answered by the local OpenAI-compatible server.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from converso.testing.openai_server import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(?:<!-- (?P<marker>not run|part of|run with): (?P<detail>[^>]+?) -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```",
    re.S,
)
RUNNABLE_LANGS = ("python", "bash")


def blocks(page: Path) -> list[re.Match[str]]:
    return list(BLOCK.finditer(page.read_text(encoding="utf-8")))


def _params(marker: str | None) -> list[object]:
    return [
        pytest.param(match, id=f"{page.name}:{index}")
        for page in PAGES
        for index, match in enumerate(blocks(page))
        if match["lang"] in RUNNABLE_LANGS and match["marker"] == marker
    ]


def test_every_skipped_block_says_why() -> None:
    for page in PAGES:
        for match in blocks(page):
            if match["marker"] == "not run":
                assert len(match["detail"].split()) >= 3, f"{page.name}: say why a block is not run"
            if match["marker"] == "run with":
                assert match["detail"] == "crm-env serve", (
                    f"{page.name}: unknown 'run with' {match['detail']!r}"
                )


def test_json_examples_parse() -> None:
    for page in PAGES:
        for match in blocks(page):
            if match["lang"] == "json":
                json.loads(match["code"])


def _code_lines(code: str) -> list[str]:
    return [line.strip() for line in code.splitlines() if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("match", _params("part of"))
def test_a_fragment_is_part_of_its_runnable_file(match: re.Match[str]) -> None:
    source = _code_lines((ROOT / match["detail"].strip()).read_text(encoding="utf-8"))
    position = 0
    for line in _code_lines(match["code"]):
        assert line in source[position:], f"{line!r} is not in {match['detail']} (in this order)"
        position = source.index(line, position) + 1


def _run(lang: str, code: str, cwd: Path, env: dict[str, str]) -> None:
    command = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail", "-c", code]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@contextmanager
def _environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    with ScriptedOpenAIServer(["Sure: what is the company called?"] * 4) as server:
        yield {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "test",
            "CONVERSO_DATA_DIR": str(tmp_path / "data"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
        }


@pytest.mark.parametrize("match", _params(None))
def test_the_example_runs(match: re.Match[str], tmp_path: Path) -> None:
    with _environment(tmp_path) as env:
        _run(match["lang"], match["code"], tmp_path, env)


@contextmanager
def _crm_env_server() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    crm_env = Path(sys.executable).with_name("crm-env")
    process = subprocess.Popen(
        [crm_env, "serve", "--api-key", "dev-key", "--port", str(port)], stderr=subprocess.PIPE
    )
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)  # polling for readiness, not a timed assertion
        yield port
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.parametrize("match", _params("run with"))
def test_the_example_runs_against_a_crm_env_server(match: re.Match[str], tmp_path: Path) -> None:
    with _environment(tmp_path) as env, _crm_env_server() as port:
        _run(match["lang"], match["code"].replace("127.0.0.1:8000", f"127.0.0.1:{port}"), tmp_path, env)
