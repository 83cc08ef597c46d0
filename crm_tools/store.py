"""Where the CRM lives by default, and opening a store from a URL."""

from __future__ import annotations

from pathlib import Path

import platformdirs

from crm_tools.backends.base import CRMBackend
from crm_tools.backends.sql import SqlBackend
from crm_tools.errors import ACCEPTED_STORE_URLS, StoreURLError
from crm_tools.models import DEFAULT_OPTIONS, SelectOptions


def default_store_url() -> str:
    """A SQLite file in the user's data directory (its folder is created on first use)."""
    directory = Path(platformdirs.user_data_dir("converso", appauthor=False))
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'crm.sqlite3'}"


def open_backend(url: str | None = None, *, options: SelectOptions = DEFAULT_OPTIONS) -> CRMBackend:
    """Open the store at ``url`` (the default file when ``None``)."""
    url = default_store_url() if url is None else url
    scheme = url.split(":", 1)[0].lower() if isinstance(url, str) else ""
    if scheme == "sqlite" or scheme.startswith(("postgresql", "postgres")):
        return SqlBackend(url, options=options)
    raise StoreURLError(f"Cannot open CRM store '{url}'. Accepted: {'; '.join(ACCEPTED_STORE_URLS)}")
