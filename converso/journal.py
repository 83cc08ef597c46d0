"""An opt-in JSONL journal per conversation thread, for debugging and auditing a deployment.

One file per thread (``<dir>/<thread_id>.jsonl``), one JSON object per line, each with ``ts``,
``thread_id`` and ``event``:

- ``user``: the user's text;
- ``model_call``: model name, latency, token usage (input/output/total, and the input tokens read from
  the provider's prompt cache) when the provider reports it;
- ``tool_call``: tool name, duration of the call, bounded previews of the arguments and result, ``ok``;
- ``form``: a transition of the active form (name, state before and after, missing fields);
- ``reply`` and ``error``: how the turn ended.

It watches from the outside: a LangChain callback handler given to the engine
(``FormAgentExecutor(callbacks=[journal.callback_handler()])``) sees every model call and tool call
(LangGraph puts ``thread_id`` into every run's metadata), and :class:`JournaledAgent` wraps the
engine's event stream for user text, form transitions, replies and errors. The graph itself knows
nothing of it.

Emails and phone numbers are masked in every string unless the journal is opened with
``mask=False``: a journal is the kind of file that gets pasted into bug reports.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.outputs import LLMResult

from converso.form_agent.callbacks import ModelAndToolEventsOnly

PREVIEW_CHARS = 300

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+\.)+([A-Za-z]{2,})\b")
# Seven or more digits, possibly grouped by spaces, dots, dashes or parentheses, optionally with +.
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")


_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) < 7 or _DATE.match(match.group(0)):
        return match.group(0)
    return "[phone …" + digits[-2:] + "]"


def mask_text(text: str) -> str:
    """``jane.doe@acme.com`` → ``j…@….com``; ``+1 415 555 0199`` → ``[phone …99]``."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}…@….{m.group(3)}", text)
    return _PHONE.sub(_mask_phone, text)


def _masked(value: Any, mask: bool) -> Any:
    if not mask:
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, mask) for v in value]
    return value


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


class Journal:
    """Appends events to per-thread JSONL files; safe to call from several threads at once."""

    def __init__(self, directory: Path | str, *, mask: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.mask = mask
        self._lock = threading.Lock()
        self._forms: dict[str, dict[str, Any] | None] = {}

    def path_for(self, thread_id: str) -> Path:
        return self.directory / f"{_SAFE_NAME.sub('_', thread_id)[:128]}.jsonl"

    def write(self, thread_id: str, event: str, **fields: Any) -> None:
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "thread_id": thread_id,
            "event": event,
            **_masked(fields, self.mask),
        }
        line = json.dumps(record, default=str, ensure_ascii=False) + "\n"
        with self._lock, self.path_for(thread_id).open("a", encoding="utf-8") as out:
            out.write(line)

    def read(self, thread_id: str) -> list[dict[str, Any]]:
        path = self.path_for(thread_id)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def last_form(self, thread_id: str) -> dict[str, Any] | None:
        """The active form as last journaled; read back from the file after a restart."""
        if thread_id not in self._forms:
            last = None
            for record in self.read(thread_id):
                if record["event"] == "form":
                    last = record
            if last is not None and last.get("to_state"):
                self._forms[thread_id] = {
                    "name": last.get("name"),
                    "state": last["to_state"],
                    "missing": last.get("missing") or [],
                }
            else:
                self._forms[thread_id] = None
        return self._forms[thread_id]

    def remember_form(self, thread_id: str, form: dict[str, Any] | None) -> None:
        self._forms[thread_id] = (
            {"name": form.get("name"), "state": form.get("state"), "missing": form.get("missing") or []}
            if form
            else None
        )

    def callback_handler(self) -> JournalCallbackHandler:
        return JournalCallbackHandler(self)


def _usage(response: LLMResult) -> dict[str, int] | None:
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            usage = getattr(message, "usage_metadata", None)
            if usage:
                details = usage.get("input_token_details") or {}
                return {
                    "input_tokens": usage.get("input_tokens", 0),
                    "output_tokens": usage.get("output_tokens", 0),
                    "total_tokens": usage.get("total_tokens", 0),
                    # Prompt tokens the provider served from its prompt cache (billed at a fraction).
                    "cache_read_tokens": details.get("cache_read") or 0,
                }
    token_usage = (response.llm_output or {}).get("token_usage")
    if token_usage:
        details = token_usage.get("prompt_tokens_details") or {}
        return {
            "input_tokens": token_usage.get("prompt_tokens", 0),
            "output_tokens": token_usage.get("completion_tokens", 0),
            "total_tokens": token_usage.get("total_tokens", 0),
            "cache_read_tokens": details.get("cached_tokens") or 0,
        }
    return None


class JournalCallbackHandler(ModelAndToolEventsOnly):
    """Model calls and tool calls, timed from start to end, filed under the run's thread."""

    raise_error = False

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._runs: dict[UUID, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _begin(self, run_id: UUID, metadata: dict[str, Any] | None, **info: Any) -> None:
        thread_id = (metadata or {}).get("thread_id")
        if thread_id is None:
            return
        with self._lock:
            self._runs[run_id] = {"thread_id": str(thread_id), "started": time.perf_counter(), **info}

    def _end(self, run_id: UUID, event: str, keep: tuple[str, ...], timing: str, **fields: Any) -> None:
        """Write the ended run as ``event``: the ``keep`` items noted at its start, its duration in ms as
        ``timing``, then ``fields``."""
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None:
            return
        elapsed = round((time.perf_counter() - run["started"]) * 1000, 1)
        kept = {key: run[key] for key in keep}
        self.journal.write(run["thread_id"], event, **kept, **{timing: elapsed}, **fields)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        params = invocation_params or {}
        model = params.get("model") or params.get("model_name") or params.get("_type") or "unknown"
        self._begin(run_id, metadata, model=str(model), messages_sent=sum(len(batch) for batch in messages))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(
            run_id, "model_call", ("model", "messages_sent"), "latency_ms", usage=_usage(response), ok=True
        )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        error_text = preview(f"{type(error).__name__}: {error}")
        self._end(run_id, "model_call", ("model",), "latency_ms", ok=False, error=error_text)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or "unknown"
        arguments = preview(inputs if inputs is not None else input_str)
        self._begin(run_id, metadata, tool=str(name), arguments=arguments)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        result = preview(getattr(output, "content", output))
        self._end(run_id, "tool_call", ("tool", "arguments"), "duration_ms", result=result, ok=True)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(
            run_id, "tool_call", ("tool", "arguments"), "duration_ms", result=preview(str(error)), ok=False
        )


def _event_fields(event: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        fields = dict(event)
    elif dataclasses.is_dataclass(event) and not isinstance(event, type):
        fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    elif hasattr(event, "model_dump"):
        fields = event.model_dump()
    else:
        fields = dict(getattr(event, "__dict__", {}))
    # A reply event carries the Reply object; its form and error are the turn's outcome.
    reply = fields.get("reply")
    if reply is not None and not isinstance(reply, str):
        fields.setdefault("text", getattr(reply, "text", None))
        fields.setdefault("form", getattr(reply, "form", None))
        fields.setdefault("error", getattr(reply, "error", None))
    return fields


def _form_key(form: Any) -> tuple[Any, ...] | None:
    if not isinstance(form, dict):
        return None
    return (form.get("name"), form.get("state"), tuple(form.get("missing") or ()))


class JournaledAgent:
    """The engine with its turns journaled: user text, form transitions, the reply or the error.

    Model and tool calls come from the journal's callback handler, which the engine must be given
    (``FormAgentExecutor(callbacks=[journal.callback_handler()])`` or the app factory does it).
    """

    def __init__(self, agent: Any, journal: Journal) -> None:
        self._agent = agent
        self.journal = journal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._agent, name)

    async def astream(self, thread_id: str, text: str, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self.journal.write(thread_id, "user", text=text)
        tracker = _FormTracker(self.journal, thread_id)
        async for event in self._agent.astream(thread_id, text, *args, **kwargs):
            tracker.observe(event)
            yield event

    def send(self, thread_id: str, text: str) -> Any:
        reply = None
        for event in self.stream(thread_id, text, tokens=False):
            if _event_fields(event).get("type") == "reply":
                reply = event.reply
        return reply

    async def asend(self, thread_id: str, text: str) -> Any:
        reply = None
        async for event in self.astream(thread_id, text):
            if _event_fields(event).get("type") == "reply":
                reply = event.reply
        return reply

    def stream(self, thread_id: str, text: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self.journal.write(thread_id, "user", text=text)
        tracker = _FormTracker(self.journal, thread_id)
        for event in self._agent.stream(thread_id, text, *args, **kwargs):
            tracker.observe(event)
            yield event


class _FormTracker:
    """Writes a ``form`` event whenever the active form's name, state or missing fields change."""

    def __init__(self, journal: Journal, thread_id: str) -> None:
        self.journal = journal
        self.thread_id = thread_id

    def _transition(self, form: Any) -> None:
        after = form if isinstance(form, dict) else None
        before = self.journal.last_form(self.thread_id)
        if _form_key(after) == _form_key(before):
            return
        self.journal.remember_form(self.thread_id, after)
        self.journal.write(
            self.thread_id,
            "form",
            name=(after or before or {}).get("name"),
            from_state=before.get("state") if before else None,
            to_state=after.get("state") if after else None,
            missing=after.get("missing") if after else None,
        )

    def observe(self, event: Any) -> None:
        fields = _event_fields(event)
        kind = fields.get("type")
        if kind == "form":
            self._transition(fields.get("form"))
        elif kind == "reply":
            if "form" in fields:
                self._transition(fields.get("form"))
            self.journal.write(self.thread_id, "reply", text=fields.get("text"), error=fields.get("error"))
        elif kind == "error":
            self.journal.write(
                self.thread_id,
                "error",
                message=fields.get("message") or fields.get("text"),
                code=fields.get("code"),
            )
