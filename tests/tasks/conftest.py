"""CRMs for grading tests: empty ones in memory, seeded ones copied from one seeded file per session."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crm_tools.backends.sql import SqlBackend
from crm_tools.seed import seed_demo_data


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    made: dict[int, Path] = {}

    def file_for(seed: int) -> Path:
        if seed not in made:
            path = tmp_path_factory.mktemp(f"seed{seed}") / "crm.sqlite3"
            with SqlBackend(f"sqlite:///{path}") as backend:
                seed_demo_data(backend, seed)
            made[seed] = path
        return made[seed]

    return file_for


@pytest.fixture
def crm_for(
    seeded_file: Callable[[int], Path], tmp_path: Path
) -> Iterator[Callable[[int | None], SqlBackend]]:
    """``crm_for(seed)``: a fresh CRM, empty for None, else a copy of the seeded data set."""
    opened: list[SqlBackend] = []

    def open_crm(seed: int | None) -> SqlBackend:
        path = tmp_path / f"crm{len(opened)}.sqlite3"
        if seed is not None:
            shutil.copyfile(seeded_file(seed), path)
        backend = SqlBackend(f"sqlite:///{path}")
        opened.append(backend)
        return backend

    yield open_crm
    for backend in opened:
        backend.close()
