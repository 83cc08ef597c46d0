"""Frames of the CRM env protocol (crm_tools.env.protocol)."""

from __future__ import annotations

import json

import pytest

from crm_tools.env.protocol import (
    FrameError,
    ResetOptions,
    error_frame,
    observation,
    observation_frame,
    parse_client_frame,
    parse_server_frame,
)


def test_reset_step_state_and_close_frames_parse() -> None:
    assert parse_client_frame('{"type": "reset", "data": {"seed": 42}}').data == ResetOptions(seed=42)
    assert parse_client_frame('{"type": "reset"}').data == ResetOptions()
    assert parse_client_frame(
        '{"type": "reset", "data": {"seed": 3, "task_id": "t", "max_steps": 5, "episode_id": "e", "x": 1}}'
    ).data == ResetOptions(seed=3, task_id="t", max_steps=5, episode_id="e")
    assert parse_client_frame('{"type": "step", "data": {"action_type": "list_companies"}}').type == "step"
    assert parse_client_frame('{"type": "state"}').type == "state"
    assert parse_client_frame('{"type": "close"}').type == "close"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "INVALID_JSON"),
        ("[1]", "INVALID_JSON"),
        (b'{"type": "state"}', "INVALID_JSON"),
        ('{"type": "dance"}', "UNKNOWN_TYPE"),
        ('{"data": {}}', "UNKNOWN_TYPE"),
        ('{"type": "reset", "data": {"seed": "x"}}', "VALIDATION_ERROR"),
        ('{"type": "reset", "data": [1]}', "VALIDATION_ERROR"),
        ('{"type": "reset", "data": {"task_id": 7}}', "VALIDATION_ERROR"),
        ('{"type": "reset", "data": {"max_steps": 0}}', "VALIDATION_ERROR"),
        ('{"type": "reset", "data": {"sandbox": "yes"}}', "VALIDATION_ERROR"),
        ('{"type": "reset", "data": {"shaping": 1}}', "VALIDATION_ERROR"),
        ('{"type": "reset", "data": {"sandbox": true, "task_id": "t"}}', "VALIDATION_ERROR"),
    ],
)
def test_malformed_client_frames_carry_their_error_code(raw: str | bytes, code: str) -> None:
    with pytest.raises(FrameError) as raised:
        parse_client_frame(raw)
    assert raised.value.code == code


def test_observation_frame_repeats_reward_and_done_next_to_the_observation() -> None:
    obs = observation(success=True, data={"x": 1}, done=True, reward=1.0)
    frame = json.loads(observation_frame(obs))
    assert frame == {"type": "observation", "data": {"observation": obs, "reward": 1.0, "done": True}}
    assert set(obs) == {"success", "error", "data", "done", "reward", "metadata"}


def test_error_frames_round_trip_through_the_client_parser() -> None:
    frame = parse_server_frame(error_frame("CAPACITY_REACHED", "full"))
    assert (frame.type, frame.data) == ("error", {"message": "full", "code": "CAPACITY_REACHED"})


def test_frames_carry_what_fast_json_refuses() -> None:
    # Integers beyond 64 bits and lone surrogates are valid JSON text; the frame layer keeps them.
    obs = observation(success=True, data={"big": 2**70, "text": "\ud800"})
    assert json.loads(observation_frame(obs))["data"]["observation"]["data"] == {
        "big": 2**70,
        "text": "\ud800",
    }
    frame = parse_client_frame('{"type": "step", "data": {"n": 1180591620717411303424, "s": "\\ud800"}}')
    assert frame.data == {"n": 2**70, "s": "\ud800"}


def test_invalid_json_is_explained() -> None:
    with pytest.raises(FrameError, match="not valid JSON: Expecting value"):
        parse_client_frame('{"type": ')
