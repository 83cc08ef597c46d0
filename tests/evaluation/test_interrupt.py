"""Ctrl-C during `converso eval`: no new episode starts, the ones under way finish, and the results written
so far stay, with a report made from them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from converso.evaluation.runner import read_results


def test_ctrl_c_keeps_the_results_written_so_far(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from converso.cli import main; main()", "eval", "--agent", "reference"]
    process = subprocess.Popen(
        [*command, "--concurrency", "1", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    results = tmp_path / "results.jsonl"
    deadline = time.monotonic() + 60
    # Wait for the first finished episode: the run is then under way, with its Ctrl-C handler installed.
    while not (results.exists() and results.read_text().strip()):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before any result"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    rows = read_results(tmp_path)
    assert 1 <= len(rows) < 68
    assert all(row["success"] for row in rows)
    assert "Interrupted" in output and "Traceback" not in output
    assert f"| reference | overall | {len(rows)} |" in (tmp_path / "report.md").read_text()
