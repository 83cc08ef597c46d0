"""ScriptedChatModel: a real LangChain chat model whose answers are written in advance.

It stands in for the LLM's choices in tests and cassette replay; everything else (tool binding,
streaming, message types) goes through langchain-core as with a provider's model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr


class ScriptExhaustedError(RuntimeError):
    """The engine asked the scripted model for more answers than the script holds."""


class ScriptError(ValueError):
    """A script item is not one of the accepted shapes."""


@dataclass
class ScriptedRequest:
    """One call the engine made: what the model was sent and which tools it was offered."""

    index: int
    messages: list[BaseMessage]
    tools: list[str] = field(default_factory=list)
    tool_choice: str | None = None
    tool_schemas: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_tool_result(self) -> str | None:
        for message in reversed(self.messages):
            if isinstance(message, ToolMessage):
                return message.text
        return None


ScriptItem = AIMessage | str | dict[str, Any] | BaseException | Callable[[ScriptedRequest], Any]


class ScriptedChatModel(BaseChatModel):
    """Answers each call with the next item of ``responses``.

    Items: an ``AIMessage``; a ``str`` (a text answer); a dict ``{"text": ..., "tool_calls": [{"name",
    "args"}]}`` where ``args`` is a dict or a raw JSON string (text that is not a JSON object becomes an
    invalid tool call, as malformed provider output does); an exception instance (raised, as a failing
    provider would); or a callable receiving the :class:`ScriptedRequest` and returning one of the above
    (to check expectations per call). ``requests`` records every call; running past the end raises
    :class:`ScriptExhaustedError`.

    When streamed, tool arguments travel as text chunks and langchain-core parses them leniently, as it
    does for a provider: a truncated object like ``'{"name": "Acme"'`` then parses, while text that is no
    JSON at all (``"name=Acme"``) stays an invalid tool call in both modes.
    """

    responses: list[Any]
    _position: int = PrivateAttr(default=0)
    _requests: list[ScriptedRequest] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def requests(self) -> list[ScriptedRequest]:
        return list(self._requests)

    @property
    def remaining(self) -> int:
        return len(self.responses) - self._position

    def extend(self, items: Sequence[Any]) -> None:
        """Append answers (a cassette runner scripts one turn at a time)."""
        with self._lock:
            self.responses.extend(items)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(
            tools=[convert_to_openai_tool(tool) for tool in tools], tool_choice=tool_choice, **kwargs
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages, kwargs))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._answer(messages, kwargs)
        for piece in _pieces(message.text):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager is not None:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        calls = [
            tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=i)
            for i, call in enumerate(message.tool_calls)
        ]
        calls += [
            tool_call_chunk(name=bad["name"], args=bad["args"], id=bad["id"], index=len(calls) + i)
            for i, bad in enumerate(message.invalid_tool_calls)
        ]
        if calls:
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=calls))

    def _answer(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        with self._lock:
            index = len(self._requests)
            request = ScriptedRequest(
                index=index,
                messages=list(messages),
                tools=[schema["function"]["name"] for schema in kwargs.get("tools") or []],
                tool_choice=_choice_name(kwargs.get("tool_choice")),
                tool_schemas=list(kwargs.get("tools") or []),
            )
            self._requests.append(request)
            if self._position >= len(self.responses):
                raise ScriptExhaustedError(
                    f"the script has {len(self.responses)} answers but the engine made call {index + 1}; "
                    f"add an answer for it (last message sent: {messages[-1].text[:200]!r})"
                )
            item = self.responses[self._position]
            self._position += 1
        if callable(item) and not isinstance(item, BaseMessage | BaseException):
            item = item(request)
        if isinstance(item, BaseException):
            raise item
        return _to_message(item, call_index=index)


def _to_message(item: Any, *, call_index: int) -> AIMessage:
    # No message ids: add_messages replaces a message that has the id of an earlier one, and a new
    # scripted model (e.g. after a restart) would count from zero again.
    if isinstance(item, AIMessage):
        return item
    if isinstance(item, str):
        return AIMessage(content=item)
    if not isinstance(item, dict) or not set(item) <= {"text", "tool_calls"}:
        raise ScriptError(
            f"script item {call_index} is {item!r}; accepted: an AIMessage, a str, an exception, a callable, "
            'or a dict with "text" and/or "tool_calls" ([{"name": ..., "args": {...} or "raw"}])'
        )
    calls, invalid = [], []
    for i, call in enumerate(item.get("tool_calls") or []):
        call_id = call.get("id") or f"call_{call_index}_{i}"
        args = call.get("args", {})
        if isinstance(args, str):
            parsed = _json_object(args)
            if parsed is None:
                invalid.append(
                    invalid_tool_call(name=call["name"], args=args, id=call_id, error="invalid JSON")
                )
                continue
            args = parsed
        calls.append(tool_call(name=call["name"], args=args, id=call_id))
    return AIMessage(content=item.get("text", ""), tool_calls=calls, invalid_tool_calls=invalid)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _choice_name(choice: Any) -> str | None:
    if isinstance(choice, dict):
        return choice.get("function", {}).get("name") or choice.get("name")
    return choice


def _pieces(text: str) -> list[str]:
    # Word-sized pieces, each keeping its trailing space, so joined tokens equal the text.
    pieces, current = [], ""
    for char in text:
        current += char
        if char == " ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces
