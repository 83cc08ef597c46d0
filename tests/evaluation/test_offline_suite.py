"""`converso eval` with the offline agents over the whole bundled suite: the reference solves every task,
and the silent agent, which never touches the CRM, fails nearly all of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from converso.cli import app
from converso.evaluation.runner import read_results


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("eval")
    result = CliRunner().invoke(
        app, ["eval", "--agent", "reference,silent", "--concurrency", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out, result.output


def test_the_reference_agent_succeeds_on_every_task(offline_run: tuple[Path, str]) -> None:
    rows = [row for row in read_results(offline_run[0]) if row["agent"] == "reference"]
    assert len(rows) >= 60
    assert len({row["category"] for row in rows}) >= 8
    failed = {row["task_id"]: row["reasons"] for row in rows if not (row["success"] and row["score"] == 1.0)}
    assert failed == {}


def test_the_silent_agent_fails_at_least_three_quarters(offline_run: tuple[Path, str]) -> None:
    rows = [row for row in read_results(offline_run[0]) if row["agent"] == "silent"]
    assert len(rows) >= 60
    passed = [row for row in rows if row["success"]]
    assert len(passed) <= len(rows) / 4
    # The only tasks doing nothing can pass are the ones where nothing must be written.
    assert {row["category"] for row in passed} <= {"cancel"}
    assert all(row["reasons"] for row in rows if not row["success"])


def test_each_result_row_has_the_documented_fields(offline_run: tuple[Path, str]) -> None:
    row = read_results(offline_run[0])[0]
    for key in (
        "task_id",
        "category",
        "agent",
        "success",
        "score",
        "user_turns",
        "llm_calls",
        "prompt_tokens",
        "cached_tokens",
        "reasons",
    ):
        assert key in row


def test_the_run_writes_transcripts_a_report_and_a_chart(offline_run: tuple[Path, str]) -> None:
    out, output = offline_run
    transcript = json.loads(
        (out / "transcripts" / "reference" / "create-company-acme-robotics.json").read_text()
    )
    roles = [message["role"] for message in transcript["messages"]]
    assert roles[:2] == ["user", "tool"] and "assistant" in roles
    report = (out / "report.md").read_text()
    assert "| reference | overall | 68 | 100.0% |" in report
    assert "## Failed episodes" in report and "| silent | create-company-acme-robotics |" in report
    assert (out / "success_by_category.png").read_bytes()[:4] == b"\x89PNG"
    assert "Evaluation (means per episode)" in output and "overall" in output


def test_the_grading_example_of_the_docs_runs() -> None:
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "grade_an_episode.py"
    result = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "employees is 12, expected 120" in result.stdout
