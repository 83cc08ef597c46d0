"""GRPO-style rollouts on the CRM agent environment: groups of episodes of one task, advantages from rewards.

Run: python docs/examples/grpo_rollouts.py                 (starts its own server on a free port)
     python docs/examples/grpo_rollouts.py ws://HOST:PORT KEY   (uses a running `crm-env serve`)

A real trainer samples each group's episodes from the model being trained (an ``LLMPolicy`` on the
model's OpenAI-compatible endpoint) and takes a gradient step on the advantages; here a stand-in
"model" picks, per episode, between solving the task and giving up, so the groups have something to
tell apart.
"""

from __future__ import annotations

import random
import sys
from typing import Any

from crm_tools.env.policies import ReferencePolicy, noop_policy
from crm_tools.env.rollout import EnvConnection, Rollout, Turn, collect_rollout, group_advantages
from crm_tools.env_server import BackgroundEnvServer

GROUP_SIZE = 4
TRAINING_STEPS = 3


class StandInModel:
    """A policy whose episodes sometimes succeed: what sampling a model at temperature > 0 looks like."""

    def __init__(self, skill: float, seed: int) -> None:
        self.reference, self.skill, self.rng = ReferencePolicy.bundled(), skill, random.Random(seed)
        self.gives_up = False

    def __call__(self, turn: Turn) -> dict[str, Any]:
        if turn.step == 0:
            self.gives_up = self.rng.random() > self.skill
        return noop_policy(turn) if self.gives_up else self.reference(turn)


def collect_group(env: EnvConnection, policy: StandInModel, seed: int) -> list[Rollout]:
    """GROUP_SIZE episodes from the same seed: the same task, the same CRM, the same record ids."""
    return [collect_rollout(env, policy, seed=seed) for _ in range(GROUP_SIZE)]


def train(url: str, api_key: str) -> None:
    model = StandInModel(skill=0.5, seed=7)
    with EnvConnection(url, api_key) as env:
        for step in range(TRAINING_STEPS):
            group = collect_group(env, model, seed=step)
            rewards = [rollout.reward for rollout in group]
            advantages = group_advantages(rewards)
            # A trainer would now weight each episode's token log-probabilities by its advantage.
            print(f"step {step}: task {group[0].task_id}")
            print(f"  rewards    {[round(r, 3) for r in rewards]}")
            print(f"  advantages {[round(a, 3) for a in advantages]}")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        train(sys.argv[1], sys.argv[2])
    else:
        with BackgroundEnvServer(api_keys=["example-key"]) as server:
            train(server.url, "example-key")
