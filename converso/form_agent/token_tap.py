"""Where a run's tokens go, and the handler that taps them off a model call made whole.

The run carries the callback that receives the agent's tokens in its configurable values
(``TOKEN_SINK_KEY``). The agent node streams its model call and hands the text chunks to it
(:mod:`converso.form_agent.model_call`). Where the call is made with ``invoke`` instead (a model with an LLM
cache, the synchronous path), :func:`with_token_tap` attaches a :class:`TokenTap` handler to that call alone.
Given to the whole run, a handler would make LangChain set up callback managers and dispatch start and end
events for every node and tool of every step: about 2% of a turn's instructions, for tokens that only the
model call produces.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackManager
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import RunnableConfig

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
