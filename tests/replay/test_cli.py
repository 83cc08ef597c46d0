"""`converso replay`, `converso demo` and the pytest plugin, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from converso.cli import app

PASSING = """
name: a passing cassette
turns:
  - user: "Add the company Acme"
    model:
      - tool_calls: [{name: CreateCompanyStart, args: {}}]
      - tool_calls: [{name: FormUpdate, args: {name: Acme}}]
    expect:
      form: {name: CreateCompany, state: FILLED}
"""

FAILING = PASSING.replace("a passing cassette", "a failing cassette").replace(
    "state: FILLED", "state: ACTIVE"
)

runner = CliRunner()


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.cassette.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_replay_exits_zero_when_every_cassette_passes(tmp_path: Path) -> None:
    _write(tmp_path, "ok", PASSING)

    result = runner.invoke(app, ["replay", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "PASSED a passing cassette" in result.output
    assert "1 passed, 0 failed" in result.output


def test_replay_exits_non_zero_and_prints_the_diff_when_one_fails(tmp_path: Path) -> None:
    _write(tmp_path, "ok", PASSING)
    _write(tmp_path, "bad", FAILING)

    result = runner.invoke(app, ["replay", str(tmp_path)])

    assert result.exit_code == 1
    assert 'turn 1 ("Add the company Acme"), expect: the active form differs' in result.output
    assert "-  state: ACTIVE" in result.output and "+  state: FILLED" in result.output
    assert "1 passed, 1 failed" in result.output


def test_replay_reports_a_malformed_cassette_as_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", "name: x\nturns: []\n")

    result = runner.invoke(app, ["replay", str(path)])

    assert result.exit_code == 1
    assert "'turns' must be a non-empty list" in result.output


def test_replay_with_show_prints_the_conversation(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", "--show", str(_write(tmp_path, "ok", PASSING))])

    assert "You  Add the company Acme" in result.output
    assert "CreateCompany · FILLED" in result.output


def test_demo_prints_the_conversations_and_the_records_written() -> None:
    result = runner.invoke(app, ["demo"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert "You  Hi! We just signed a new customer, Initrode." in result.output
    # The form as a person sees it: its title and field labels, linked records by name.
    assert "New person · ready to save" in result.output and "First name" in result.output
    assert "Close date: 2026-11-27 (Friday)" in result.output
    assert "Created opportunity TPS reports" in result.output
    assert "Records written" in result.output
    assert "pointOfContactId=Bill Lumbergh" in result.output


def test_demo_lists_the_bundled_conversations() -> None:
    result = runner.invoke(app, ["demo", "--list"])

    assert result.exit_code == 0
    assert result.output.count("- ") >= 3


def test_pytest_collects_cassettes_and_shows_the_replay_report(tmp_path: Path) -> None:
    _write(tmp_path, "ok", PASSING)
    _write(tmp_path, "bad", FAILING)

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "FAILED a failing cassette" in run.stdout
    assert "the active form differs" in run.stdout
    assert "Traceback" not in run.stdout
