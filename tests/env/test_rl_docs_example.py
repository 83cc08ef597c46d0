"""The GRPO-style example of docs/rl-episodes.md runs as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "grpo_rollouts.py"


def test_the_grpo_example_prints_rewards_and_advantages_per_group() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[::3]] == ["step 0", "step 1", "step 2"]
    rewards = [json.loads(line.split("rewards", 1)[1]) for line in lines[1::3]]
    advantages = [json.loads(line.split("advantages", 1)[1]) for line in lines[2::3]]
    assert all(len(group) == 4 and set(group) <= {0.0, 1.0} for group in rewards)
    assert any(len(set(group)) == 2 for group in rewards)  # the stand-in model is sometimes right
    for group, advantage in zip(rewards, advantages, strict=True):
        assert abs(sum(advantage)) < 1e-2 and (advantage[0] > 0) == (group[0] > min(group))
