"""Alias of the original converso's model factory module."""

from converso.form_agent.model_factory import ModelFactory

__all__ = ["ModelFactory"]
