"""The default tool set of a CRM agent: every form plus the read and action tools."""

from __future__ import annotations

from langchain_core.tools import BaseTool

from crm_tools.backends.base import CRMBackend
from crm_tools.tools import action_tools, read_tools


def build_tools(backend: CRMBackend, *, read_only: bool = False) -> list[BaseTool]:
    """All tools over ``backend``; ``read_only`` keeps only the ones that cannot write."""
    if read_only:
        return read_tools(backend)
    from crm_tools.forms import build_forms

    return [*build_forms(backend), *read_tools(backend), *action_tools(backend)]
