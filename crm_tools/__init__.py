"""The CRM side of converso: record models, query grammar, stores and tools."""

from typing import Any

from crm_tools.errors import CRMError, NotFoundError, StoreURLError

__all__ = [
    "CRMError",
    "NotFoundError",
    "SqlBackend",
    "StoreURLError",
    "default_store_url",
    "open_backend",
    "seed_demo_data",
]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the errors does not load SQLAlchemy.
    if name == "SqlBackend":
        from crm_tools.backends.sql import SqlBackend

        return SqlBackend
    if name in ("default_store_url", "open_backend"):
        from crm_tools import store

        return getattr(store, name)
    if name == "seed_demo_data":
        from crm_tools.seed import seed_demo_data

        return seed_demo_data
    raise AttributeError(name)
