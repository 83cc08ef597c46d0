"""The CRM an episode runs against: empty, or a copy of the demo data set for the task's seed (written once
per process and copied, as cassette replay does), in a temporary directory removed afterwards.

The form tools are built once per worker thread over a backend that points at the current episode's CRM:
a tool's model-facing schema is generated on its first use, and making it again for every episode cost
more than the rest of an offline episode.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from crm_tools.backends.sql import SqlBackend
from crm_tools.cassette_world import seeded_template
from crm_tools.tasks import Task
from crm_tools.toolset import build_tools

_DATABASE = "crm.sqlite3"


class _CurrentBackend:
    """The backend of the episode this thread is running."""

    target: SqlBackend | None = None

    def __getattr__(self, name: str) -> Any:
        if self.target is None:
            raise RuntimeError("no episode is running on this thread")
        return getattr(self.target, name)


_local = threading.local()


def _thread_tools() -> tuple[_CurrentBackend, list[BaseTool]]:
    if not hasattr(_local, "tools"):
        _local.backend = _CurrentBackend()
        _local.tools = build_tools(_local.backend)  # type: ignore[arg-type]
    return _local.backend, _local.tools


@dataclass(frozen=True)
class EpisodeWorld:
    backend: SqlBackend
    tools: Sequence[BaseTool]
    """The CRM's form, read and action tools (for the form engine), writing to ``backend``."""


@contextmanager
def episode_world(task: Task) -> Iterator[EpisodeWorld]:
    with tempfile.TemporaryDirectory(prefix="converso-eval-") as folder:
        database = Path(folder) / _DATABASE
        if task.crm_seed is not None:
            shutil.copyfile(seeded_template(task.crm_seed), database)
        backend = SqlBackend(f"sqlite:///{database}")
        current, tools = _thread_tools()
        current.target = backend
        try:
            yield EpisodeWorld(backend, tools)
        finally:
            current.target = None
            backend.close()
