"""Recording a live conversation as a cassette (`converso chat --record FILE`).

A LangChain callback handler given to the engine (``FormAgentExecutor(callbacks=[recorder])``) sees
every LLM call: the tools it was offered, the forced tool choice, and the answer. Each answer becomes a model item, each user turn a cassette turn
whose ``expect`` holds the reply and the form as they were, so the conversation replays as a test.

Record ids are not kept in expectations: a replay runs against a fresh CRM whose ids differ from
the live one's, so replies that name an id are matched up to it and id-valued form fields are left out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import LLMResult

from converso.testing.cassette import (
    Cassette,
    CRMSetting,
    FormExpectation,
    ModelItem,
    ScriptedToolCall,
    Turn,
    TurnExpectation,
    cassette_to_yaml,
)

_HEADER = (
    "# Recorded from a live conversation. Replay runs it against a fresh CRM (the 'crm' setting below):\n"
    "# if the conversation used records that were already in the live CRM, set crm: {seed: N} or add\n"
    "# turns that create them. Add expect_crm to check the records written.\n"
)
_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class CassetteRecorder(BaseCallbackHandler):
    """Collects a conversation; ``record_turn`` after each reply, ``save`` (or ``cassette()``) at the end.

    ``model`` is what the conversation runs on: a ``FormAgentExecutor`` or an app with an ``agent``; the
    recorder adds itself to the executor's callbacks. Without it, give the recorder to the executor
    yourself (``FormAgentExecutor(..., callbacks=[recorder])``).
    """

    raise_error = False

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        model: Any = None,
        name: str | None = None,
        now: datetime | None = None,
        crm: CRMSetting | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.name = name or (_name_from(self.path) if self.path else "recorded conversation")
        self.now = now or datetime.now(UTC).replace(microsecond=0)
        self.crm = crm or CRMSetting()
        self.turns: list[Turn] = []
        self._lock = threading.Lock()
        self._pending: dict[Any, tuple[tuple[str, ...], str | None]] = {}
        self._items: list[ModelItem] = []
        self._failed = False
        if model is not None:
            self.attach(model)

    # -- wiring ---------------------------------------------------------------------------------------

    def attach(self, target: Any) -> None:
        """Add this recorder to the callbacks of the executor behind ``target`` (the turns after this)."""
        callbacks = _callbacks_of(target)
        if self not in callbacks:
            callbacks.append(self)

    # -- callbacks (run on the engine's worker thread) ------------------------------------------------

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: Any, **kwargs: Any
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        tools = tuple(_tool_name(tool) for tool in params.get("tools") or [])
        with self._lock:
            self._pending[run_id] = (tools, _choice_name(params.get("tool_choice")))

    def on_llm_end(self, response: LLMResult, *, run_id: Any, **kwargs: Any) -> None:
        with self._lock:
            offered = self._pending.pop(run_id, None)
            if offered is None:
                return
            message = _message_of(response)
            if message is not None:
                self._items.append(_item(message, offered[1]))

    def on_llm_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        with self._lock:
            self._pending.pop(run_id, None)
            # The engine rolls a turn with a failed model call back; replay cannot script the failure.
            self._failed = True

    # -- turns ----------------------------------------------------------------------------------------

    def record_turn(self, user: str, reply: Any) -> Turn | None:
        """Close the turn ``user`` started; ``reply`` is the engine's Reply. A turn whose model call
        failed left no trace in the conversation, so it is dropped (returns None)."""
        with self._lock:
            items, failed = self._items, self._failed
            self._items, self._failed = [], False
        if failed or not items:
            return None
        text = str(getattr(reply, "text", reply) or "")
        form = getattr(reply, "form", None)
        by_model = bool(items[-1].text is not None and items[-1].text == text)
        expect = TurnExpectation(
            reply=text if by_model else None,
            reply_contains=None if by_model else _without_ids(text),
            checks_form=True,
            form=_form_expectation(form),
        )
        turn = Turn(user=user, model=tuple(items), expect=expect)
        self.turns.append(turn)
        return turn

    def cassette(self, expect_crm: Mapping[str, list[dict[str, Any]]] | None = None) -> Cassette:
        if not self.turns:
            raise ValueError("nothing to write: no turn was recorded (a cassette needs at least one turn)")
        return Cassette(
            name=self.name,
            turns=tuple(self.turns),
            now=self.now,
            crm=self.crm,
            expect_crm={k: tuple(v) for k, v in expect_crm.items()} if expect_crm is not None else None,
            source=self.path,
        )

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the cassette; returns its path, or None when no turn was recorded (nothing is written)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no path to write the cassette to: pass one to CassetteRecorder or save()")
        if not self.turns:
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_HEADER + cassette_to_yaml(self.cassette()), encoding="utf-8")
        return target


def _callbacks_of(target: Any) -> list[Any]:
    executor = getattr(target, "agent", target)
    callbacks = getattr(executor, "callbacks", None)
    if isinstance(target, BaseChatModel) or not isinstance(callbacks, list):
        raise TypeError(
            f"cannot record the turns of {type(target).__name__}; pass a FormAgentExecutor or an app with "
            ".agent, or give the recorder to the executor: FormAgentExecutor(..., callbacks=[recorder])"
        )
    return callbacks


def _name_from(path: Path) -> str:
    stem = path.name.removesuffix(".yaml").removesuffix(".cassette")
    return stem.replace("_", " ").replace("-", " ") or "recorded conversation"


def _tool_name(tool: Any) -> str:
    if isinstance(tool, Mapping):
        return str(tool.get("function", {}).get("name") or tool.get("name") or "")
    return str(getattr(tool, "name", tool))


def _choice_name(choice: Any) -> str | None:
    if isinstance(choice, Mapping):
        choice = choice.get("function", {}).get("name") or choice.get("name")
    if choice in (None, "auto", "none", "required", "any"):
        return None
    return str(choice)


def _message_of(response: LLMResult) -> AIMessage | None:
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            if isinstance(message, AIMessage):
                return message
    return None


def _item(message: AIMessage, forced: str | None) -> ModelItem:
    calls = [ScriptedToolCall(name=c["name"], args=dict(c["args"])) for c in message.tool_calls]
    # Arguments that did not parse are kept verbatim, so the replay sends the same broken JSON.
    calls += [
        ScriptedToolCall(name=bad.get("name") or "", args=bad.get("args") or "")
        for bad in message.invalid_tool_calls
    ]
    if calls:
        return ModelItem(tool_calls=tuple(calls), expect_tool_choice=forced)
    return ModelItem(text=str(message.text), expect_tool_choice=forced)


def _form_expectation(form: Any) -> FormExpectation | None:
    if not form:
        return None
    values = {name: value for name, value in dict(form.get("values", {})).items() if not _mentions_id(value)}
    return FormExpectation(name=form.get("name"), state=form.get("state"), values=values)


def _mentions_id(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_ID.search(value))
    if isinstance(value, UUID):
        return True
    if isinstance(value, Mapping):
        return any(_mentions_id(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_mentions_id(v) for v in value)
    return False


def _without_ids(text: str) -> str:
    """The longest stretch of the reply's first line before any record id."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = _ID.search(first)
    if match is None:
        return first
    return re.sub(r"[\s(]*(id\s*=\s*)?$", "", first[: match.start()]) or first
