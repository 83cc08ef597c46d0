"""Test support: the scripted chat model that stands in for an LLM."""

from converso.testing.scripted import ScriptedChatModel, ScriptedRequest, ScriptError, ScriptExhaustedError

__all__ = ["ScriptError", "ScriptExhaustedError", "ScriptedChatModel", "ScriptedRequest"]
