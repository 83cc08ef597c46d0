"""What an evaluation is made of, independent of any domain: tasks, a suite that runs episodes of them, and
the result of one episode. A domain (the CRM) provides the suite through the ``converso.evaluations``
entry-point group, so converso never imports it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from converso.apps import ModelSettings


class EvalTask(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def category(self) -> str: ...


@dataclass(frozen=True)
class EvalConfig:
    """How to reach the models: the agent's, and the simulated user's (None: the scripted user)."""

    agent_model: ModelSettings | None = None
    user_model: ModelSettings | None = None
    max_turns: int | None = None


@dataclass
class EpisodeResult:
    task_id: str
    category: str
    agent: str
    success: bool
    score: float
    reasons: list[str] = field(default_factory=list)
    user_turns: int = 0
    llm_calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    repeat: int = 0
    user: str = "scripted"
    stopped_by: str = ""
    error: str | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The results.jsonl line: everything but the transcript (written to its own file)."""
        data = asdict(self)
        data.pop("transcript")
        return data


class AgentUnavailableError(Exception):
    """The agent cannot run as configured (e.g. it needs a model and none is set); says what to set."""


class EvalSuite(Protocol):
    """A domain's evaluation: its tasks and its agents."""

    name: str
    agents: Sequence[str]
    """Every agent name ``--agent`` accepts."""
    model_agents: Sequence[str]
    """The agents that need a language model."""

    def load_tasks(self, source: str | Path | None, category: str | None) -> Sequence[EvalTask]:
        """The tasks; raises ValueError with a message naming the file, task and key, or the accepted
        categories."""
        ...

    def run_episode(self, task: EvalTask, agent: str, config: EvalConfig, repeat: int) -> EpisodeResult:
        """One conversation of ``agent`` on ``task``, graded. A failing model is a failed episode, not an
        exception."""
        ...
