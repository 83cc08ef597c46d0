"""Counting what an episode's model calls cost: calls, prompt tokens, cached prompt tokens, completion tokens."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult


@dataclass
class Usage:
    llm_calls: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0


class UsageCounter(BaseCallbackHandler):
    """A LangChain callback summing ``usage_metadata`` over every chat model call it sees.

    ``cached_tokens`` is ``input_token_details["cache_read"]``, the prompt tokens a provider served from
    its prompt cache (OpenAI's ``prompt_tokens_details.cached_tokens``, Anthropic's cache reads)."""

    def __init__(self) -> None:
        self.usage = Usage()
        self._lock = threading.Lock()

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        with self._lock:
            self.usage.llm_calls += 1
            for generations in response.generations:
                for generation in generations[:1]:
                    metadata = getattr(getattr(generation, "message", None), "usage_metadata", None) or {}
                    self.usage.prompt_tokens += int(metadata.get("input_tokens") or 0)
                    self.usage.completion_tokens += int(metadata.get("output_tokens") or 0)
                    details = metadata.get("input_token_details") or {}
                    self.usage.cached_tokens += int(details.get("cache_read") or 0)
