"""Test support: the scripted chat model that stands in for an LLM, and a local OpenAI-compatible server."""

from converso.testing.openai_server import RecordedRequest, ScriptedOpenAIServer
from converso.testing.scripted import ScriptedChatModel, ScriptedRequest, ScriptError, ScriptExhaustedError

__all__ = [
    "RecordedRequest",
    "ScriptError",
    "ScriptExhaustedError",
    "ScriptedChatModel",
    "ScriptedOpenAIServer",
    "ScriptedRequest",
]
