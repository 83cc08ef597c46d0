"""The serve protocol's frame parsing: every refusal names what was wrong and what is accepted."""

from __future__ import annotations

import json

import pytest

from converso.server.protocol import (
    AuthFrame,
    ErrorCode,
    MessageFrame,
    OpenFrame,
    ProtocolError,
    encode,
    event_frame,
    parse_client_frame,
)


def refusal(raw: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(raw)
    return caught.value


def test_auth_frame_is_parsed() -> None:
    assert parse_client_frame('{"type": "auth", "api_key": "k1"}') == AuthFrame(type="auth", api_key="k1")


def test_open_without_thread_id_asks_for_a_new_thread() -> None:
    assert parse_client_frame('{"type": "open"}') == OpenFrame(type="open", thread_id=None)


def test_message_frame_carries_the_text() -> None:
    assert parse_client_frame('{"type": "message", "text": "hi"}') == MessageFrame(type="message", text="hi")


def test_text_that_is_not_json_is_invalid_json() -> None:
    error = refusal("{nope")
    assert error.code is ErrorCode.INVALID_JSON
    assert "not valid JSON" in error.message


def test_binary_frames_are_refused() -> None:
    assert refusal(b'{"type": "ping"}').code is ErrorCode.INVALID_FRAME


def test_a_json_array_is_not_a_frame() -> None:
    error = refusal("[1, 2]")
    assert error.code is ErrorCode.INVALID_FRAME
    assert "JSON object" in error.message


def test_unknown_type_lists_the_accepted_types() -> None:
    error = refusal('{"type": "subscribe"}')
    assert error.code is ErrorCode.UNKNOWN_TYPE
    assert "auth, open, message, confirm, reset, ping" in error.message


def test_message_without_text_names_the_missing_field() -> None:
    error = refusal('{"type": "message"}')
    assert error.code is ErrorCode.INVALID_FRAME
    assert "'text'" in error.message


def test_empty_message_text_is_refused() -> None:
    assert refusal('{"type": "message", "text": ""}').code is ErrorCode.INVALID_FRAME


def test_unexpected_fields_are_refused_by_name() -> None:
    error = refusal('{"type": "ping", "extra": 1}')
    assert "unexpected field 'extra'" in error.message


def test_thread_ids_with_unsafe_characters_are_refused_with_the_accepted_alphabet() -> None:
    error = refusal('{"type": "open", "thread_id": "../etc/passwd"}')
    assert error.code is ErrorCode.INVALID_FRAME
    assert "letters, digits" in error.message


def test_error_frames_carry_code_and_message() -> None:
    frame = ProtocolError(ErrorCode.RATE_LIMITED, "slow down", retry_after=3).frame()
    assert frame == {"type": "error", "code": "rate_limited", "message": "slow down", "retry_after": 3}


def test_engine_error_events_become_turn_failed_error_frames() -> None:
    frame = event_frame({"type": "error", "message": "The model is unavailable."})
    assert frame == {"type": "error", "code": "turn_failed", "message": "The model is unavailable."}


def test_engine_events_keep_their_type_and_payload() -> None:
    assert event_frame({"type": "token", "text": "Hel"}) == {"type": "token", "text": "Hel"}


def test_frames_encode_as_compact_utf8_json_whatever_the_model_put_in_them() -> None:
    assert encode({"type": "token", "text": "Café"}) == '{"type":"token","text":"Café"}'.encode()
    # A tool argument the model gave beyond 64-bit integers, nesting past 254 levels, a key that is not
    # a string: JSON carries them all, and the frame still goes out.
    deep: list = []
    for _ in range(300):
        deep = [deep]
    frame = {"type": "tool", "args": {"n": 10**30, "deep": deep, 7: "seven"}}
    decoded = json.loads(encode(frame))
    assert decoded["args"]["n"] == 10**30
    assert decoded["args"]["7"] == "seven"
    assert json.dumps(decoded["args"]["deep"]) == json.dumps(deep)
