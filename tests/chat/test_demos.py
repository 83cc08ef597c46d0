"""The demos run as they are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_support_bot_demo_keeps_one_thread_per_customer_and_creates_the_record(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "demos" / "support_bot.py"), "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert "bot   > Happy to. What is the company called?" in lines
    # Bob's form is his own: Ada filling hers never shows up in his.
    assert "bot   > Sure. What is the company's name?" in lines
    assert any(line.startswith("bot   > Created company Analytical Engines Ltd") for line in lines)
    assert lines[-1] == "CRM companies: ['Analytical Engines Ltd']"
