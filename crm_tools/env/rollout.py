"""Collect rollouts on a CRM env server: episodes of any policy, with their observations and rewards.

A policy is any callable that takes a ``Turn`` (the task, the latest observation, what happened so
far) and returns the next action: an ACTION (``{"action_type": ..., fields}``) or a tool call
(``{"name": ..., "arguments": {...}}``, arguments possibly as JSON text)::

    with EnvConnection("ws://127.0.0.1:8000", "key") as env:
        rollouts = [collect_rollout(env, policy, seed=seed) for seed in range(8)]
    advantages = group_advantages([r.reward for r in rollouts])
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from crm_tools.backends.env_client import (
    EnvAuthenticationError,
    EnvConnectionError,
    EnvServerError,
    ws_endpoint,
)
from crm_tools.env.protocol import auth_subprotocol, client_frame, parse_server_frame
from crm_tools.env.tool_schemas import action_from_tool_call


@dataclass(frozen=True)
class Turn:
    """What a policy decides from."""

    task: dict[str, Any] | None  # metadata["task"] of the reset: id, category, kind, instruction, ...
    observation: dict[str, Any]  # the latest OBS
    history: list[tuple[dict[str, Any], dict[str, Any]]]  # (action, OBS) of every step so far
    episode_id: str

    @property
    def step(self) -> int:
        return len(self.history)


Policy = Callable[[Turn], dict[str, Any]]


@dataclass
class Rollout:
    """One episode: ``observations[0]`` is the reset's, then one per action."""

    seed: int | None
    task: dict[str, Any] | None
    observations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    done: bool = False
    truncated: bool = False

    @property
    def task_id(self) -> str | None:
        return self.task["id"] if self.task else None

    @property
    def reward(self) -> float:
        """The episode's reward: the sum of its step rewards (the grader's score without shaping)."""
        return sum(self.rewards)


class EnvConnection:
    """One connection (one episode at a time) to a CRM env server, frame by frame."""

    def __init__(self, url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.url = ws_endpoint(url)
        self._timeout = timeout
        try:
            self._ws: ClientConnection = connect(
                self.url,
                subprotocols=[auth_subprotocol(api_key)],  # type: ignore[list-item]
                open_timeout=timeout,
                proxy=None if urlsplit(self.url).hostname in ("127.0.0.1", "localhost", "::1") else True,
                max_size=16 << 20,
                compression=None,
                legacy=True,  # the connection outlives any one block: close() closes it
            )
        except InvalidStatus as exc:
            if exc.response.status_code == 401:
                raise EnvAuthenticationError(
                    f"The CRM env server at {self.url} refused the API key"
                ) from None
            raise EnvConnectionError(f"Cannot connect to the CRM env server at {self.url}: {exc}") from None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise EnvConnectionError(f"Cannot connect to the CRM env server at {self.url}: {exc}") from None

    def _exchange(self, kind: str, data: Any = None) -> dict[str, Any]:
        try:
            self._ws.send(client_frame(kind, data))
            frame = parse_server_frame(self._ws.recv(timeout=self._timeout))
        except (ConnectionClosed, TimeoutError) as exc:
            raise EnvConnectionError(f"The CRM env server at {self.url} stopped answering: {exc}") from None
        if frame.type == "error":
            raise EnvServerError(frame.data.get("message", ""), frame.data.get("code", "UNKNOWN"))
        return frame.data

    def reset(self, **options: Any) -> dict[str, Any]:
        """The first OBS of a new episode; ``options``: seed, task_id, sandbox, max_steps, episode_id."""
        return self._exchange("reset", {k: v for k, v in options.items() if v is not None})["observation"]

    def step(self, action: dict[str, Any]) -> dict[str, Any]:
        return self._exchange("step", action)["observation"]

    def state(self) -> dict[str, Any]:
        return self._exchange("state")

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> EnvConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def as_action(decision: dict[str, Any]) -> dict[str, Any]:
    """A policy's decision as an ACTION: tool calls are turned into actions, actions pass through."""
    if "action_type" in decision or "name" not in decision:
        return decision
    arguments = decision.get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            arguments = {"__unparsable_arguments__": arguments}
    if not isinstance(arguments, dict):
        arguments = {"__arguments__": arguments}
    return action_from_tool_call(str(decision["name"]), arguments)


def _refused(error: EnvServerError) -> dict[str, Any]:
    # A malformed action is a protocol error, not a step: the episode goes on and the policy sees why.
    return {"success": False, "error": str(error), "data": {"code": error.code}, "done": False,
            "reward": None, "metadata": {}}  # fmt: skip


def collect_rollout(
    env: EnvConnection,
    policy: Policy,
    *,
    seed: int | None = None,
    task_id: str | None = None,
    max_steps: int | None = None,
    max_actions: int = 200,
    **reset_options: Any,
) -> Rollout:
    """Run one episode of ``policy`` from ``reset(seed, task_id, max_steps, **reset_options)`` until it ends.

    ``max_actions`` bounds the loop for policies that keep sending malformed actions, which the
    server refuses without counting them as steps.
    """
    first = env.reset(seed=seed, task_id=task_id, max_steps=max_steps, **reset_options)
    metadata = first.get("metadata") or {}
    rollout = Rollout(seed=seed, task=metadata.get("task"), observations=[first])
    history: list[tuple[dict[str, Any], dict[str, Any]]] = []
    episode_id = str(metadata.get("episode_id", ""))
    observation = first
    while not observation.get("done") and len(rollout.actions) < max_actions:
        action = as_action(policy(Turn(rollout.task, observation, list(history), episode_id)))
        try:
            observation = env.step(action)
        except EnvServerError as error:
            observation = _refused(error)
        reward = observation.get("reward")
        rollout.actions.append(action)
        rollout.observations.append(observation)
        rollout.rewards.append(float(reward) if reward is not None else 0.0)
        history.append((action, observation))
    rollout.done = bool(observation.get("done"))
    rollout.truncated = bool((observation.get("metadata") or {}).get("truncated"))
    return rollout


def collect_rollouts(
    url: str, api_key: str, policy: Policy, seeds: Iterable[int], **options: Any
) -> list[Rollout]:
    """One rollout per seed over one connection (``options`` as for ``collect_rollout``)."""
    with EnvConnection(url, api_key) as env:
        return [collect_rollout(env, policy, seed=seed, **options) for seed in seeds]


def group_advantages(rewards: list[float]) -> list[float]:
    """GRPO's advantages of a group of rollouts of the same task: rewards standardized in the group."""
    if not rewards:
        return []
    mean = statistics.fmean(rewards)
    spread = statistics.pstdev(rewards)
    if spread < 1e-8:
        return [0.0] * len(rewards)
    return [(reward - mean) / spread for reward in rewards]


def describe(rollout: Rollout) -> str:
    """One line per episode: seed, task, steps, how it ended and the reward."""
    task = rollout.task or {}
    ending = "truncated" if rollout.truncated else "terminated" if rollout.done else "unfinished"
    return (
        f"seed {rollout.seed!s:>4}  {task.get('id', '(sandbox)'):<40} {task.get('category', ''):<20} "
        f"steps {len(rollout.actions):>3}  {ending:<10}  reward {rollout.reward:.3f}"
    )
