"""Tokens of the agent node's model calls, handed to a callback as they arrive.

LangGraph's "messages" stream mode does the same, but it runs every node of the run on a thread pool it
creates per run, so the stream can be read while a node works; a turn that is already off the caller's
thread (``astream``) pays for that pool and gains nothing. The agent node streams its model call instead
(:func:`acall_model`) and hands each text chunk to the callback the run carries in its configurable values
(``TOKEN_SINK_KEY``).

Streaming the call, rather than attaching a callback handler to it, costs nothing per chunk beyond the
callback itself: a handler is one more that LangChain sets up for the call and dispatches every event to
(1.7% of a turn's instructions, bench_instructions.py, before any chunk). The handler (:class:`TokenTap`)
stays for a model with an LLM cache, which LangChain consults on ``invoke`` only, and for the sync path.
Given to the whole run, a handler would make LangChain set up callback managers and dispatch start and end
events for every node and tool of every step: about 2% more, for tokens that only the model call produces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.caches import BaseCache
from langchain_core.callbacks import BaseCallbackManager
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, message_chunk_to_message
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import Runnable, RunnableConfig

from converso.form_agent.callbacks import ModelAndToolEventsOnly
from converso.form_agent.reply import TokenEvent

T = TypeVar("T")

# The configurable key under which a run carries the callback that receives the agent's tokens.
TOKEN_SINK_KEY = "converso_on_token"


def token_sink(config: RunnableConfig) -> Callable[[TokenEvent], None] | None:
    """The callback the run hands the agent's tokens to, if it asks for them."""
    on_token = (config.get("configurable") or {}).get(TOKEN_SINK_KEY)
    # None, or a value a LangGraph Server client put in its configurable values: no tokens wanted.
    return on_token if callable(on_token) else None


async def acall_model(
    model: Runnable,
    chat_model: BaseChatModel,
    messages: list[BaseMessage],
    config: RunnableConfig,
    arguments: dict[str, Any],
) -> BaseMessage:
    """The answer of ``model`` (``chat_model``, or a binding of it) to ``messages``, as ``ainvoke`` gives it;
    its text chunks go to the run's token sink as they arrive."""
    on_token = token_sink(config)
    if on_token is None or not _can_stream(chat_model):
        # A model that cannot stream answers in one piece, without tokens, however it is called.
        return await model.ainvoke(messages, config, **arguments)
    if _consults_cache(chat_model):
        return await model.ainvoke(messages, with_token_tap(config), **arguments)
    merged: AIMessageChunk | None = None
    async for piece in model.astream(messages, config, **arguments):
        if not isinstance(piece, AIMessageChunk):
            # Streaming turned off for this call (``disable_streaming``): LangChain's astream answers with
            # ainvoke's message.
            return piece
        if piece.text:
            on_token(TokenEvent(piece.text))
        merged = piece if merged is None else merged + piece
    if merged is None:
        raise ValueError("the model's stream ended without a message")
    return message_chunk_to_message(merged)


def _can_stream(chat_model: BaseChatModel) -> bool:
    # LangChain streams a model that implements either of its streaming methods.
    kind = type(chat_model)
    return kind._astream is not BaseChatModel._astream or kind._stream is not BaseChatModel._stream


def _consults_cache(chat_model: BaseChatModel) -> bool:
    # As LangChain decides on invoke: the model's own cache, else the global one unless cache=False.
    cache = chat_model.cache
    return isinstance(cache, BaseCache) or (cache is not False and get_llm_cache() is not None)


def with_token_tap(config: RunnableConfig) -> RunnableConfig:
    """``config`` for the agent's model call: with a :class:`TokenTap` added to its callbacks when the run
    asks for tokens, else ``config`` itself."""
    on_token = token_sink(config)
    if on_token is None:
        return config
    tap = TokenTap(on_token)
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(tap, inherit=True)
        return {**config, "callbacks": manager}
    return {**config, "callbacks": [*(callbacks or []), tap]}


class TokenTap(ModelAndToolEventsOnly):
    """Calls ``on_token`` with a :class:`TokenEvent` for each text chunk of the model calls it is given to
    (the agent node's: models called inside tools are not the agent speaking)."""

    # Called on the thread running the model, in order with the node's other work.
    run_inline = True

    def __init__(self, on_token: Callable[[TokenEvent], None]) -> None:
        self.on_token = on_token
        self._runs: set[UUID] = set()

    # The two tap_output methods make LangChain count this handler as a streaming one: a chat model only
    # streams (rather than answering in one piece) when such a handler is attached to the call.
    def tap_output_iter(self, run_id: UUID, output: Iterator[T]) -> Iterator[T]:
        return output

    def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[T]) -> AsyncIterator[T]:
        return output

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._runs.add(run_id)

    def on_llm_new_token(self, token: str, *, chunk: Any = None, run_id: UUID, **kwargs: Any) -> None:
        if run_id not in self._runs or not isinstance(chunk, ChatGenerationChunk):
            return
        message = chunk.message
        if isinstance(message, AIMessageChunk) and message.text:
            self.on_token(TokenEvent(message.text))

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.discard(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.discard(run_id)
