"""CRM stores behind one protocol."""

from typing import Any

from crm_tools.backends.base import PLURALS, CRMBackend, ObjectName

__all__ = ["PLURALS", "CRMBackend", "ObjectName", "SqlBackend"]


def __getattr__(name: str) -> Any:
    # Lazy, because crm_tools.models imports base from here and sql imports crm_tools.models.
    if name == "SqlBackend":
        from crm_tools.backends.sql import SqlBackend

        return SqlBackend
    raise AttributeError(name)
