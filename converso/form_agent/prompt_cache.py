"""Provider hooks for prompt caching, where LangChain exposes them.

The prompt layout (see ``prompts``) already keeps the prefix of a conversation's requests byte-identical;
these hooks help the provider use it:

- OpenAI: ``prompt_cache_key`` per thread, so a conversation's requests reach the same cache.
- Anthropic: ``cache_control`` breakpoints on the system prompt (tools + system, the same for every
  conversation) and on the last message of the history (the conversation so far); the state note after
  it is never cached. Anthropic caches only at breakpoints, and looks a breakpoint's prefix up among the
  entries earlier requests wrote, so the next request finds this one's history.

Any other model gets the messages as they are and no extra arguments.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage, ToolMessage

EPHEMERAL = {"type": "ephemeral"}


def cache_kwargs(model: BaseChatModel, thread_id: str | None) -> dict[str, Any]:
    """Per-call keyword arguments for ``model``: OpenAI's ``prompt_cache_key`` for the thread (a digest,
    so the thread id itself does not leave the process). Only for OpenAI's own API: other
    OpenAI-compatible servers may refuse a parameter they do not know."""
    if thread_id is None or not _is_openai_api(model):
        return {}
    digest = hashlib.sha256(thread_id.encode()).hexdigest()[:32]
    return {"prompt_cache_key": f"converso-{digest}"}


def with_cache_breakpoints(model: BaseChatModel, messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """``messages`` with Anthropic ``cache_control`` breakpoints on the system prompt and on the last
    history message (the one before the state note), for an Anthropic model; unchanged otherwise."""
    marked = list(messages)
    if not _is_anthropic(model) or len(marked) < 2:
        return marked
    if isinstance(marked[0], SystemMessage):
        marked[0] = _with_breakpoint(marked[0])
    last_history = len(marked) - 2
    if last_history > 0 and isinstance(marked[last_history], HumanMessage | ToolMessage):
        marked[last_history] = _with_breakpoint(marked[last_history])
    return marked


def _with_breakpoint(message: AnyMessage) -> AnyMessage:
    content = message.content
    blocks: list[Any] = (
        [{"type": "text", "text": content}] if isinstance(content, str) else [dict(b) for b in content]
    )
    if not blocks or not isinstance(blocks[-1], dict):
        return message
    blocks[-1] = {**blocks[-1], "cache_control": EPHEMERAL}
    return message.model_copy(update={"content": blocks})


# A model of a provider package exists only once that package was imported: looking it up in sys.modules
# instead of importing it spares a turn of a model of another kind importing a provider (the OpenAI and
# Anthropic packages take about a second of CPU to import, on the first turn of every worker).


def _is_openai_api(model: BaseChatModel) -> bool:
    openai = sys.modules.get("langchain_openai")
    if (
        openai is None
        or not isinstance(model, openai.ChatOpenAI)
        or isinstance(model, openai.AzureChatOpenAI)
    ):
        return False
    base_url = model.openai_api_base or ""
    return not base_url or base_url.startswith("https://api.openai.com")


def _is_anthropic(model: BaseChatModel) -> bool:
    anthropic = sys.modules.get("langchain_anthropic")
    return anthropic is not None and isinstance(model, anthropic.ChatAnthropic)
