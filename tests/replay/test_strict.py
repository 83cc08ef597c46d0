"""Replay is strict: a bug in a world's form fails the cassette with its own exception and traceback, in
``replay()``, in ``converso replay`` and in the pytest plugin, instead of being told to the model."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from converso.cli import app
from converso.form_agent import FormContext
from converso.testing.cassette import parse_cassette
from converso.testing.replay import replay
from converso.testing.world import register_world
from tests.replay.tiny_world import BookTable, TinyWorld


class MisspelledBooking(BookTable):
    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        return f"booked for {fields['guest_name']}"  # the field is called guest


class BuggyWorld(TinyWorld):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.form = MisspelledBooking()


CASSETTE = """
name: a booking whose commit has a bug
world: buggy-tiny
now: "2026-11-21T10:00:00Z"
turns:
  - user: "A table for Ada please"
    model:
      - tool_calls: [{name: BookTableStart, args: {}}]
      - tool_calls: [{name: FormUpdate, args: {guest: Ada}}]
      - text: "Ada, 2 seats. Shall I book it?"
  - user: "yes"
    model:
      - tool_calls: [{name: FormFinalize, args: {confirm: true}}]
      - text: "Booked."
"""


def test_replay_raises_a_key_error_from_a_commit() -> None:
    with pytest.raises(KeyError, match="guest_name"):
        replay(parse_cassette(CASSETTE), world=BuggyWorld)


def test_replay_without_strict_hands_the_model_a_neutral_message() -> None:
    result = replay(parse_cassette(CASSETTE), world=BuggyWorld, strict=False)
    assert result.passed, result.report()
    [finalize] = result.turns[-1].tool_events
    assert finalize.is_error and "internal error" in finalize.result


def test_converso_replay_fails_the_cassette_and_prints_the_traceback(tmp_path: Path) -> None:
    register_world("buggy-tiny", BuggyWorld)
    path = tmp_path / "buggy.cassette.yaml"
    path.write_text(CASSETTE, encoding="utf-8")
    result = CliRunner().invoke(app, ["replay", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "buggy.cassette.yaml: a tool or form raised KeyError: 'guest_name'" in result.output
    assert "Traceback" in result.output and "_run_when_complete" in result.output
    assert "0 passed, 1 failed" in result.output


CONFTEST = """
    from typing import Any

    from converso.form_agent import FormContext, FormTool
    from converso.testing.world import register_world
    from pydantic import BaseModel


    class Fields(BaseModel):
        guest: str


    class BookTable(FormTool):
        name: str = "BookTable"
        description: str = "Book a table"
        args_schema: type[BaseModel] = Fields

        def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
            return fields["guest_name"]


    class World:
        def __init__(self, crm, data_dir, now) -> None:
            self.tools = [BookTable()]

        def records(self):
            return {}

        def close(self) -> None:
            pass


    register_world("buggy-tiny", World)
"""


def test_the_pytest_plugin_fails_the_cassette_with_the_key_error(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST), encoding="utf-8")
    (tmp_path / "buggy.cassette.yaml").write_text(CASSETTE, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "KeyError: 'guest_name'" in run.stdout
    assert "1 failed" in run.stdout
