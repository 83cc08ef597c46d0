"""The `converso serve` JSON protocol: client frames in, server frames out, no I/O.

Every frame is one JSON object in a WebSocket text message, with a ``type``. docs/chat-protocol.md
documents it for client authors; this module is its single source.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from converso.json_depth import MAX_JSON_DEPTH, JsonTooDeepError, loads_bounded

PROTOCOL_VERSION = "converso.v1"
THREAD_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_THREAD_ID_RE = re.compile(THREAD_ID_PATTERN)


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_TYPE = "unknown_type"
    NOT_AUTHENTICATED = "not_authenticated"
    INVALID_API_KEY = "invalid_api_key"
    INVALID_TOKEN = "invalid_token"
    AUTH_TIMEOUT = "auth_timeout"
    NO_THREAD = "no_thread"
    THREAD_FORBIDDEN = "thread_forbidden"
    FRAME_TOO_LARGE = "frame_too_large"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    SHUTTING_DOWN = "shutting_down"
    TURN_FAILED = "turn_failed"
    INTERNAL_ERROR = "internal_error"


class ProtocolError(Exception):
    """A client frame the server refuses; becomes an ``error`` frame, the connection stays open."""

    def __init__(self, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def frame(self) -> dict[str, Any]:
        return error_frame(self.code, self.message, **self.extra)


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class AuthFrame(_Frame):
    """``api_key`` (a client key), or ``visitor_token`` (signed by the host site, see visitors.py)."""

    type: Literal["auth"]
    api_key: Annotated[str | None, Field(default=None, min_length=1, max_length=512)] = None
    visitor_token: Annotated[str | None, Field(default=None, min_length=1, max_length=1024)] = None

    @model_validator(mode="after")
    def _one_credential(self) -> AuthFrame:
        if (self.api_key is None) == (self.visitor_token is None):
            raise ValueError("give either api_key or visitor_token")
        return self


class OpenFrame(_Frame):
    type: Literal["open"]
    thread_id: Annotated[str | None, Field(default=None, pattern=THREAD_ID_PATTERN)] = None


class MessageFrame(_Frame):
    type: Literal["message"]
    text: Annotated[str, Field(min_length=1)]
    # What happens to the turn if the connection drops before its reply: kept, or undone at once.
    if_disconnected: Literal["finish", "undo"] = "finish"


class ResetFrame(_Frame):
    type: Literal["reset"]


class ConfirmFrame(_Frame):
    """A Confirm button: saves the named form if it is the active one and FILLED (an unambiguous yes)."""

    type: Literal["confirm"]
    form: Annotated[str, Field(min_length=1, max_length=128)]


class PingFrame(_Frame):
    type: Literal["ping"]


ClientFrame = AuthFrame | OpenFrame | MessageFrame | ConfirmFrame | ResetFrame | PingFrame
_CLIENT_TYPES = ("auth", "open", "message", "confirm", "reset", "ping")
_client_frame = TypeAdapter(Annotated[ClientFrame, Field(discriminator="type")])


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Decode and validate one client frame, or raise ``ProtocolError`` saying what is accepted."""
    if isinstance(raw, bytes):
        raise ProtocolError(
            ErrorCode.INVALID_FRAME, "Binary frames are not accepted; send JSON as a text frame."
        )
    try:
        data = loads_bounded(raw, MAX_JSON_DEPTH)
    except json.JSONDecodeError as exc:
        raise ProtocolError(
            ErrorCode.INVALID_JSON, f"The frame is not valid JSON ({exc.msg} at position {exc.pos})."
        ) from None
    except JsonTooDeepError as exc:
        raise ProtocolError(
            ErrorCode.INVALID_JSON,
            f"The frame is refused: its {exc}; a frame is one flat JSON object.",
        ) from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "A frame must be a JSON object with a 'type' field.")
    kind = data.get("type")
    if kind not in _CLIENT_TYPES:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"Unknown frame type {kind!r}; accepted types: {', '.join(_CLIENT_TYPES)}.",
        )
    try:
        return _client_frame.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise ProtocolError(ErrorCode.INVALID_FRAME, f"Invalid '{kind}' frame: {problems}.") from None


def _describe(err: Any) -> str:
    where = ".".join(str(part) for part in err["loc"][1:]) or "frame"
    if err["type"] == "extra_forbidden":
        return f"unexpected field '{where}'"
    if err["type"] == "string_pattern_mismatch":
        return f"'{where}' must be 1-128 characters of letters, digits and . _ : - (starting with a letter or digit)"
    return f"'{where}' {err['msg'].lower()}"


def is_valid_thread_id(thread_id: str) -> bool:
    return bool(_THREAD_ID_RE.match(thread_id))


def error_frame(code: ErrorCode, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": str(code), "message": message, **extra}


def to_jsonable(value: Any) -> Any:
    """Engine objects (pydantic models, dataclasses, enums) as plain JSON values."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_jsonable(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str | int):
        return value.value
    return str(value)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


TOOL_RESULT_PREVIEW = 500


def event_frame(event: Any) -> dict[str, Any]:
    """One engine stream event as a server frame.

    ``token`` {text}; ``tool`` {name, args, result (first 500 characters), is_error}; ``form`` {form};
    ``reply`` {text, form}; engine ``error`` events become ``error`` frames with code ``turn_failed``.
    """
    data = to_jsonable(event)
    if not isinstance(data, dict) or "type" not in data:
        raise TypeError(f"agent events must carry a 'type'; got {event!r}")
    kind = data["type"]
    if kind == "error":
        message = data.get("message") or data.get("text") or "The turn failed."
        return error_frame(ErrorCode.TURN_FAILED, str(message))
    if kind == "reply":
        reply = data.get("reply") if isinstance(data.get("reply"), dict) else data
        frame = {"type": "reply", "text": reply.get("text", ""), "form": reply.get("form")}
        if reply.get("error"):
            frame["failed"] = True
        return frame
    if kind == "tool":
        result = data.get("result")
        if isinstance(result, str) and len(result) > TOOL_RESULT_PREVIEW:
            result = result[: TOOL_RESULT_PREVIEW - 1] + "…"
        return {
            "type": "tool",
            "name": data.get("name"),
            "args": data.get("args"),
            "result": result,
            "is_error": bool(data.get("is_error", False)),
        }
    if kind == "form":
        return {"type": "form", "form": data.get("form")}
    return data


def encode(frame: dict[str, Any]) -> bytes:
    """``frame`` as compact UTF-8 JSON, to send as a text frame (``ws.send(..., text=True)``); a value JSON
    has no form for is sent as its text. orjson: a tenth of the standard library's time per frame."""
    try:
        return orjson.dumps(frame, default=str, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        # What orjson refuses and JSON allows (a model's tool argument beyond 64-bit integers, nesting
        # deeper than 254 levels), the standard library writes.
        return json.dumps(frame, ensure_ascii=False, separators=(",", ":"), default=str).encode()
