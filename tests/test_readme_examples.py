"""The README's examples run: every python and bash block runs offline as written, unless a comment
right before it says why not (``<!-- not run: REASON -->``, e.g. it needs a key or installs packages).
A model name in an example is answered by the local OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from converso.testing.openai_server import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "docs" / "chat-protocol.md"]
BLOCK = re.compile(r"(?:<!-- not run: (?P<reason>[^>]+?) -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)


def blocks(page: Path) -> list[tuple[str, str, str | None]]:
    return [(m["lang"], m["code"], m["reason"]) for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]


RUNNABLE = [
    pytest.param(lang, code, id=f"{page.name}:{index}")
    for page in PAGES
    for index, (lang, code, reason) in enumerate(blocks(page))
    if lang in ("python", "bash") and reason is None
]


def test_every_block_is_run_or_says_why_not() -> None:
    for page in PAGES:
        for lang, _, reason in blocks(page):
            if lang in ("python", "bash") and reason is not None:
                assert len(reason.split()) >= 3, f"{page.name}: say why a block is not run"
    assert RUNNABLE, "the README has examples that run"


def test_json_examples_parse() -> None:
    for page in PAGES:
        for lang, code, _ in blocks(page):
            if lang == "json":
                json.loads(code)


@pytest.mark.parametrize(("lang", "code"), RUNNABLE)
def test_the_example_runs(lang: str, code: str, tmp_path: Path) -> None:
    answers = ["Sure: what is the company called?"] * 4
    with ScriptedOpenAIServer(answers) as server:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "test",
            "CONVERSO_DATA_DIR": str(tmp_path / "data"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
        }
        command = (
            [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo", "pipefail", "-c", code]
        )
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
