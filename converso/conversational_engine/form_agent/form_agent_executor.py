"""Alias of the original converso's executor module."""

from converso.form_agent.executor import FormAgentExecutor

__all__ = ["FormAgentExecutor"]
