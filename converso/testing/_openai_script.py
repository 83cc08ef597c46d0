"""What a ScriptedOpenAIServer answers: scripted answers, per-request faults, and the queue holding them.

Pure data and bookkeeping, no sockets: the HTTP layer asks the queue what to do with each request.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True)
class ToolCall:
    """One function call the model makes; ``args`` as a string is sent verbatim (e.g. malformed JSON)."""

    name: str
    args: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Answer:
    """One assistant message: text, tool calls, or both. ``delay`` makes a slow but successful answer."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    delay: float = 0.0


@dataclass(frozen=True)
class Status:
    """Fault: answer with an HTTP error status (and a ``Retry-After`` when given)."""

    code: int
    retry_after: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class Delay:
    """Fault: hold the request ``seconds`` (long enough for a client timeout), then answer 504."""

    seconds: float


@dataclass(frozen=True)
class CutStream:
    """Fault: send the first ``after_chunks`` events of the next answer, then drop the connection."""

    after_chunks: int


@dataclass(frozen=True)
class Garbled:
    """Fault: a 200 response whose JSON body (or SSE event) is not valid JSON."""


Fault: TypeAlias = Status | Delay | CutStream | Garbled
Entry: TypeAlias = Answer | Fault
# What a script or handler may give: an Entry, a str (text answer), a list of tool calls
# (ToolCall, (name, args) or {"name", "args"}), or a cassette-like {"text"} / {"tool_calls"} dict.
ScriptItem: TypeAlias = Entry | str | list[Any] | tuple[Any, ...] | Mapping[str, Any]


def text(content: str, *, delay: float = 0.0) -> Answer:
    """A text answer."""
    return Answer(text=content, delay=delay)


def call(name: str, args: Mapping[str, Any] | str | None = None, *, id: str | None = None) -> ToolCall:
    """One tool call, for ``tool_calls(...)``."""
    return ToolCall(name=name, args={} if args is None else args, id=id)


def tool_calls(*calls: ToolCall | tuple[str, Any] | Mapping[str, Any], delay: float = 0.0) -> Answer:
    """An answer made of tool calls, each a ``call(...)``, a ``(name, args)`` pair or ``{"name", "args"}``."""
    if not calls:
        raise ValueError("tool_calls() needs at least one call; use text() for an answer without calls")
    return Answer(tool_calls=tuple(_coerce_call(c) for c in calls), delay=delay)


def status(code: int, *, retry_after: float | None = None, message: str | None = None) -> Status:
    """Fault: HTTP ``code``; ``retry_after`` seconds (fractions allowed) is sent as ``retry-after-ms``."""
    if not 400 <= code <= 599:
        raise ValueError(f"status() takes an HTTP error code between 400 and 599, got {code}")
    return Status(code=code, retry_after=retry_after, message=message)


def delay(seconds: float) -> Delay:
    """Fault: stall the request (to trigger a client timeout); the scripted answer waits for the retry."""
    return Delay(seconds=seconds)


def cut_stream_after(n_chunks: int) -> CutStream:
    """Fault: the stream of the next answer is cut after ``n_chunks`` events, without ``[DONE]``."""
    if n_chunks < 0:
        raise ValueError(f"cut_stream_after() takes a number of chunks >= 0, got {n_chunks}")
    return CutStream(after_chunks=n_chunks)


def garbled() -> Garbled:
    """Fault: invalid JSON in the response body, or in an SSE event when streaming."""
    return Garbled()


def _coerce_call(value: ToolCall | tuple[str, Any] | Mapping[str, Any]) -> ToolCall:
    if isinstance(value, ToolCall):
        return value
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return call(value[0], value[1])
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return call(value["name"], value.get("args"), id=value.get("id"))
    raise TypeError(
        f"a tool call must be call(name, args), a (name, args) pair or a {{'name', 'args'}} dict, got {value!r}"
    )


def coerce_entry(item: ScriptItem) -> Entry:
    """Turn any accepted script item into an Answer or a Fault."""
    if isinstance(item, Answer | Status | Delay | CutStream | Garbled):
        return item
    if isinstance(item, str):
        return text(item)
    if isinstance(item, list | tuple):
        return tool_calls(*item)
    if isinstance(item, Mapping):
        if "tool_calls" in item:
            return Answer(
                text=item.get("text"),
                tool_calls=tuple(_coerce_call(c) for c in item["tool_calls"]),
                delay=float(item.get("delay", 0.0)),
            )
        if "text" in item:
            return text(item["text"], delay=float(item.get("delay", 0.0)))
    raise TypeError(
        "a script item must be text(...), tool_calls(...), a fault (status, delay, cut_stream_after, garbled), "
        f"a str, a list of tool calls, or a {{'text'}} / {{'tool_calls'}} dict; got {item!r}"
    )


class ScriptExhausted(Exception):
    """A request arrived after every scripted item was used and no handler was given."""


@dataclass(frozen=True)
class Decision:
    """What to do with one request: ``fault`` (if any) and the ``answer`` to serve or to cut short."""

    answer: Answer | None
    fault: Fault | None
    number: int  # 1-based count of answers served so far, used for stable ids


class ScriptQueue:
    """Script entries consumed in request order; a fault uses up a request but leaves the answer queued."""

    def __init__(self, items: Iterable[ScriptItem], handler: Callable[[Any], ScriptItem] | None) -> None:
        self._entries: deque[Entry] = deque(coerce_entry(i) for i in items)
        self._handler = handler
        self._lock = threading.Lock()
        self._answers_served = 0
        self._requests_seen = 0
        self._scripted_total = len(self._entries)

    def extend(self, items: Iterable[ScriptItem]) -> None:
        entries = [coerce_entry(i) for i in items]
        with self._lock:
            self._entries.extend(entries)
            self._scripted_total += len(entries)

    @property
    def unconsumed(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def next_for(self, request: Any) -> Decision:
        with self._lock:
            self._requests_seen += 1
            if self._entries:
                entry = self._entries.popleft()
                if isinstance(entry, Answer):
                    self._answers_served += 1
                    return Decision(answer=entry, fault=None, number=self._answers_served)
                # A cut stream needs something to cut: the answer the retry will get.
                peeked = next((e for e in self._entries if isinstance(e, Answer)), None)
                return Decision(answer=peeked, fault=entry, number=self._answers_served + 1)
            if self._handler is None:
                raise ScriptExhausted(
                    f"the script ran out: request #{self._requests_seen} arrived after all "
                    f"{self._scripted_total} scripted items were used; add more items to the script "
                    "or pass a handler"
                )
            handler = self._handler
        # The handler runs outside the lock so a slow handler (a benchmark's sleep) does not serialize requests.
        entry = coerce_entry(handler(request))
        with self._lock:
            if isinstance(entry, Answer):
                self._answers_served += 1
                return Decision(answer=entry, fault=None, number=self._answers_served)
            return Decision(answer=None, fault=entry, number=self._answers_served + 1)
