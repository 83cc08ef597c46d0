"""The agent node's model call: whole, or streamed with its text chunks handed to the run's token sink.

Whole: ``agenerate``, with the arguments ``ainvoke`` would pass it. ``ainvoke`` first wraps the message list
in a prompt value, which pydantic validates message by message, only to unwrap it again: 1.3% of a turn's
instructions (bench_instructions.py). A model class that overrides ``ainvoke``, or a binding that is not
the model's own tool binding, is called through ``ainvoke``.

Streamed: ``astream``, when the run wants tokens and the model can stream. Streaming the call, rather than
attaching a callback handler to it (:class:`~converso.form_agent.token_tap.TokenTap`), leaves LangChain no
handler more to set up and to dispatch every event to (1.6% of a turn's instructions, before any chunk). A
model with an LLM cache keeps the handler: LangChain consults the cache on ``invoke`` only. LangGraph's
"messages" stream mode would give the tokens too, but it runs every node of the run on a thread pool it
creates per run, so that the stream can be read while a node works: a turn already off its caller's thread
pays for the pool and gains nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage, message_chunk_to_message
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config

from converso.form_agent.reply import TokenEvent
from converso.form_agent.token_tap import token_sink, with_token_tap

logger = logging.getLogger("converso")


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
    if on_token is not None and _can_stream(chat_model):
        if _consults_cache(chat_model):
            return await model.ainvoke(messages, with_token_tap(config), **arguments)
        return await _streamed(model.astream(messages, config, **arguments), on_token)
    # A model that cannot stream answers in one piece, without tokens, however it is called.
    if model is not chat_model or type(chat_model).ainvoke is not BaseChatModel.ainvoke:
        return await model.ainvoke(messages, config, **arguments)
    return await _generated(chat_model, messages, ensure_config(config), arguments)


async def _generated(
    chat_model: BaseChatModel, messages: list[BaseMessage], config: RunnableConfig, arguments: dict[str, Any]
) -> BaseMessage:
    result = await chat_model.agenerate(
        [messages],
        callbacks=config.get("callbacks"),
        tags=config.get("tags"),
        metadata=config.get("metadata"),
        run_name=config.get("run_name"),
        run_id=config.pop("run_id", None),
        **arguments,
    )
    return result.generations[0][0].message


async def _streamed(stream: AsyncIterator[Any], on_token: Callable[[TokenEvent], None]) -> BaseMessage:
    merged: AIMessageChunk | None = None
    sink: Callable[[TokenEvent], None] | None = on_token
    # Closed however the loop ends: closing the stream closes the request.
    async with contextlib.aclosing(stream) as pieces:
        async for piece in pieces:
            if not isinstance(piece, AIMessageChunk):
                # Streaming turned off for this call (``disable_streaming``): LangChain's astream answers
                # with ainvoke's message.
                return piece
            if piece.text and sink is not None:
                try:
                    sink(TokenEvent(piece.text))
                except Exception:
                    # The caller's callback is broken, not the model call: as LangChain does with a
                    # handler that raises, the answer goes on (without tokens), and the bug is logged.
                    logger.exception("the token callback raised; the rest of this answer is not streamed")
                    sink = None
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
