"""The CRM world cassettes run in: a fresh embedded CRM (SQLite in the replay's directory) and its tools.

Registered as the ``crm`` entry of the ``converso.worlds`` entry-point group, so converso's replay finds
it without importing crm_tools.
"""

from __future__ import annotations

import atexit
import random
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from converso.testing.cassette import CRMSetting
from crm_tools.backends.base import PLURALS, ObjectName
from crm_tools.backends.sql import SqlBackend
from crm_tools.seed import seed_demo_data
from crm_tools.toolset import build_tools

_PAGE = 200
_DATABASE = "crm.sqlite3"

# Seeding writes hundreds of records one transaction at a time (seconds); the data set is
# deterministic, so each seed is written once per process and copied for every cassette using it.
_templates: dict[int, Path] = {}
_templates_lock = threading.Lock()


def seeded_template(seed: int) -> Path:
    """A SQLite file holding the demo data set for ``seed``, made once per process: copy it, never open it."""
    with _templates_lock:
        if seed not in _templates:
            folder = Path(tempfile.mkdtemp(prefix=f"converso-crm-seed-{seed}-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            backend = SqlBackend(f"sqlite:///{folder / _DATABASE}")
            try:
                seed_demo_data(backend, seed)
            finally:
                backend.close()
            _templates[seed] = folder / _DATABASE
        return _templates[seed]


class _DeterministicBackend:
    """The store, with the ids and creation times of new records fixed by the cassette.

    A replayed conversation then writes the same records every time, so replies that name an id
    (``Created company Acme (id=...)``) and later turns that use it replay exactly.
    """

    def __init__(self, backend: SqlBackend, seed: int | None, now: datetime) -> None:
        self._backend = backend
        self._ids = random.Random(f"cassette-ids-{seed}")
        self._now = now.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def create(
        self, object_name: ObjectName, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        record_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        fixed = {"id": record_id, "createdAt": self._now, **data}
        return self._backend.create(object_name, fixed, idempotency_key=idempotency_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


class CRMWorld:
    """``crm: empty`` starts with no records; ``crm: {seed: N}`` with the demo data set for N."""

    def __init__(self, crm: CRMSetting, data_dir: Path, now: datetime) -> None:
        database = Path(data_dir) / _DATABASE
        if crm.seed is not None:
            shutil.copyfile(seeded_template(crm.seed), database)
        self.store = SqlBackend(f"sqlite:///{database}")
        self.backend: Any = _DeterministicBackend(self.store, crm.seed, now)
        self._tools = build_tools(self.backend)

    @property
    def tools(self) -> Sequence[BaseTool]:
        return self._tools

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Every live record by plural object name (``companies``, ``people``, ``noteTargets``, ...)."""
        return {plural: self._all(singular) for singular, plural in PLURALS.items()}

    def _all(self, object_name: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            body = self.store.list(object_name, limit=_PAGE, starting_after=cursor)
            records.extend(next(iter(body["data"].values())))
            if not body["pageInfo"]["hasNextPage"]:
                return records
            cursor = body["pageInfo"]["endCursor"]

    def close(self) -> None:
        self.store.close()
