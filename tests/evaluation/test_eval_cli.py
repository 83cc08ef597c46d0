"""`converso eval`'s answers to bad input, and what it keeps across runs and interruptions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from converso.cli import app
from converso.evaluation.episode import EvalConfig
from converso.evaluation.runner import ResultWriter, episodes, read_results, run_episodes
from converso.evaluation.suites import find_suite


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", *args])
    return result.exit_code, result.output


def test_an_unknown_agent_lists_the_accepted_ones(tmp_path: Path) -> None:
    code, output = run("--agent", "clever", "--out", str(tmp_path))
    assert code == 2
    assert "Unknown agent clever. Accepted: converso, flat, reference, silent." in output
    assert "Traceback" not in output


def test_an_unknown_category_lists_the_accepted_ones(tmp_path: Path) -> None:
    code, output = run("--agent", "reference", "--category", "gardening", "--out", str(tmp_path))
    assert code == 2
    assert "Unknown category 'gardening'. Accepted: ambiguous_reference, answer, cancel" in " ".join(
        output.split()
    )


def test_a_malformed_task_file_names_the_file_the_task_and_the_key(tmp_path: Path) -> None:
    tasks = tmp_path / "bad.yaml"
    tasks.write_text(
        "category: demo\ntasks:\n  - id: t1\n    goal: g\n    instruction: i\n"
        "    expected: {create: [{company: {name: A, colour: red}}]}\n    reference: [{user: hi}]\n"
    )
    code, output = run("--agent", "reference", "--tasks", str(tasks), "--out", str(tmp_path / "out"))
    assert code == 2
    flat = " ".join(output.split())
    assert "bad.yaml, task 't1', key 'expected.create.0': unknown company field(s) colour" in flat


def test_a_model_agent_without_a_model_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CONVERSO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    code, output = run("--agent", "flat", "--out", str(tmp_path))
    assert code == 2
    assert "No language model is configured" in output
    assert "The offline agents need no model: reference, silent." in output
    assert not (tmp_path / "results.jsonl").exists()


def test_a_second_run_keeps_the_other_agents_results(tmp_path: Path) -> None:
    assert run("--agent", "silent", "--category", "answer", "--out", str(tmp_path))[0] == 0
    assert run("--agent", "reference", "--category", "answer", "--out", str(tmp_path))[0] == 0
    assert run("--agent", "reference", "--category", "answer", "--out", str(tmp_path))[0] == 0
    rows = read_results(tmp_path)
    assert sorted({row["agent"] for row in rows}) == ["reference", "silent"]
    assert len(rows) == 2 * len({row["task_id"] for row in rows})
    assert "| silent | overall |" in (tmp_path / "report.md").read_text()


def test_repeats_report_pass_k(tmp_path: Path) -> None:
    code, _output = run(
        "--agent", "reference", "--category", "cancel", "--repeat", "2", "--out", str(tmp_path)
    )
    assert code == 0
    assert "100.0% (k=2)" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "transcripts" / "reference" / "cancel-delete-r2.json").exists()


def test_a_stopped_run_keeps_the_results_written_so_far(tmp_path: Path) -> None:
    suite = find_suite("crm")
    tasks = list(suite.load_tasks(None, "answer"))
    stop = threading.Event()
    writer = ResultWriter(tmp_path, ["reference"], 1)
    # As Ctrl-C does: the first result arrives, the stop is set, no further episode starts.
    results = run_episodes(
        suite,
        episodes(tasks, ["reference"], 1),
        EvalConfig(),
        writer,
        concurrency=1,
        on_result=lambda _: stop.set(),
        stop=stop,
    )
    writer.close()
    assert len(results) == 1 < len(tasks)
    assert [row["task_id"] for row in read_results(tmp_path)] == [results[0].task_id]


def test_a_model_that_cannot_be_built_is_refused_before_any_episode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CONVERSO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    code, output = run("--agent", "converso", "--model", "openai:gpt-4o-mini", "--out", str(tmp_path))
    assert code == 2
    assert "The agent's model cannot be used: " in output and "OPENAI_API_KEY" in output
    assert "Traceback" not in output
    assert not (tmp_path / "results.jsonl").exists()
