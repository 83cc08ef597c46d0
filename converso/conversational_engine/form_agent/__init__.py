"""Alias of :mod:`converso.form_agent` under the original converso's import path (see docs/migration.md)."""

from converso.form_agent import *  # noqa: F403
from converso.form_agent import __all__ as __all__
