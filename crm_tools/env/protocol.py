"""Frames of the CRM env protocol (docs/env-protocol.md): JSON text objects with a ``type`` and ``data``.

Pure functions, no I/O: the server and the client only move these strings over a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from converso.json_depth import MAX_JSON_DEPTH, JsonTooDeepError, check_depth, loads_bounded

SUBPROTOCOL_PREFIX = "crm-v1."

ErrorCode = Literal["INVALID_JSON", "UNKNOWN_TYPE", "VALIDATION_ERROR", "EXECUTION_ERROR", "CAPACITY_REACHED"]
CLIENT_TYPES = ("reset", "step", "state", "close")


class FrameError(Exception):
    """A frame the receiver cannot act on; ``code`` is the error code of docs/env-protocol.md."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


@dataclass(frozen=True)
class Frame:
    type: str
    data: Any


def auth_subprotocol(api_key: str) -> str:
    return f"{SUBPROTOCOL_PREFIX}{api_key}"


def _decode(raw: str | bytes) -> dict[str, Any]:
    if isinstance(raw, bytes):
        raise FrameError("INVALID_JSON", "Frames are JSON text; a binary frame was received")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = _strict_decode(raw)
    if not isinstance(value, dict):
        raise FrameError("INVALID_JSON", f"A frame is a JSON object, got {type(value).__name__}")
    try:
        check_depth(raw, value, MAX_JSON_DEPTH)
    except JsonTooDeepError as exc:
        raise _too_deep(exc) from None
    return value


def _too_deep(exc: JsonTooDeepError) -> FrameError:
    return FrameError("INVALID_JSON", f"The frame is refused: its {exc}; an ACTION is one flat object")


def _strict_decode(raw: str) -> Any:
    # The standard parser says what is wrong in words people know (and still reads NaN/Infinity).
    try:
        value = loads_bounded(raw, MAX_JSON_DEPTH)
    except JsonTooDeepError as exc:
        raise _too_deep(exc) from None
    except ValueError as exc:
        raise FrameError("INVALID_JSON", f"The frame is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FrameError("INVALID_JSON", f"A frame is a JSON object, got {type(value).__name__}")
    return value


def parse_client_frame(raw: str | bytes) -> Frame:
    """A frame sent by a client: reset, step, state or close."""
    value = _decode(raw)
    kind = value.get("type")
    if kind not in CLIENT_TYPES:
        raise FrameError("UNKNOWN_TYPE", f"Unknown frame type {kind!r}; accepted: {', '.join(CLIENT_TYPES)}")
    data = value.get("data")
    if kind == "reset":
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise FrameError("VALIDATION_ERROR", 'reset data must be an object like {"seed": 42}')
        data = reset_options(data)
    return Frame(kind, data)


MAX_STEP_LIMIT = 10_000


@dataclass(frozen=True)
class ResetOptions:
    """What a reset asks for (the public client forwards extra ``reset`` keywords in ``data``).

    ``seed``: a task episode chosen from the seed (none: the empty sandbox); ``task_id``: this task
    instead; ``sandbox``: no task, the CRM filled with the demo data of ``seed``; ``max_steps``: the
    step limit of a task episode; ``episode_id``: the caller's name for the episode; ``shaping``: each
    write earns the change of the grader's score it makes (the rewards still add up to the score).
    """

    seed: int | None = None
    task_id: str | None = None
    sandbox: bool = False
    max_steps: int | None = None
    episode_id: str | None = None
    shaping: bool = False


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def reset_options(data: dict[str, Any]) -> ResetOptions:
    """``data`` of a reset frame, checked; unknown keys are ignored like the public server does."""
    seed, task_id, sandbox = data.get("seed"), data.get("task_id"), data.get("sandbox", False)
    max_steps, episode_id, shaping = data.get("max_steps"), data.get("episode_id"), data.get("shaping", False)
    if seed is not None and not _integer(seed):
        raise FrameError("VALIDATION_ERROR", f"'seed' must be an integer or null, got {seed!r}")
    if task_id is not None and (not isinstance(task_id, str) or not task_id):
        raise FrameError("VALIDATION_ERROR", f"'task_id' must be a task id (a string), got {task_id!r}")
    if not isinstance(shaping, bool):
        raise FrameError("VALIDATION_ERROR", f"'shaping' must be true or false, got {shaping!r}")
    if not isinstance(sandbox, bool):
        raise FrameError("VALIDATION_ERROR", f"'sandbox' must be true or false, got {sandbox!r}")
    if sandbox and task_id is not None:
        raise FrameError("VALIDATION_ERROR", "'sandbox' and 'task_id' exclude each other; give one")
    if max_steps is not None and (not _integer(max_steps) or not 1 <= max_steps <= MAX_STEP_LIMIT):
        raise FrameError(
            "VALIDATION_ERROR",
            f"'max_steps' must be an integer from 1 to {MAX_STEP_LIMIT}, got {max_steps!r}",
        )
    if episode_id is not None and (not isinstance(episode_id, str) or not 0 < len(episode_id) <= 255):
        raise FrameError(
            "VALIDATION_ERROR", f"'episode_id' must be a string of 1 to 255 characters, got {episode_id!r}"
        )
    return ResetOptions(seed, task_id, sandbox, max_steps, episode_id, shaping)


def parse_server_frame(raw: str | bytes) -> Frame:
    """A frame sent by a server: observation, state or error."""
    value = _decode(raw)
    kind = value.get("type")
    data = value.get("data")
    if kind not in ("observation", "state", "error") or not isinstance(data, dict):
        raise FrameError("UNKNOWN_TYPE", f"Unexpected frame from the server: {str(value)[:200]}")
    return Frame(kind, data)


def _dump(value: dict[str, Any]) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses (integers beyond 64 bits, NaN stays null) goes the slow way
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def observation(
    *,
    success: bool,
    data: dict[str, Any],
    error: str | None = None,
    done: bool = False,
    reward: float | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """OBS of docs/env-protocol.md; exactly these keys, since the public client's model forbids others."""
    return {
        "success": success,
        "error": error,
        "data": data,
        "done": done,
        "reward": reward,
        "metadata": metadata or {},
    }


def observation_frame(obs: dict[str, Any]) -> str:
    return _dump(
        {"type": "observation", "data": {"observation": obs, "reward": obs["reward"], "done": obs["done"]}}
    )


def state_frame(state: dict[str, Any]) -> str:
    return _dump({"type": "state", "data": state})


def error_frame(code: ErrorCode, message: str) -> str:
    return _dump({"type": "error", "data": {"message": message, "code": code}})


def client_frame(kind: str, data: Any = None) -> str:
    return _dump({"type": kind} if data is None else {"type": kind, "data": data})
