"""pytest plugin (entry point ``pytest11``): every ``*.cassette.yaml`` under the test paths is a test.

A failing cassette shows the runner's report (turn, call, expected against actual) instead of a
traceback through the engine, because the traceback would only show the runner.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUFFIX = ".cassette.yaml"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SUFFIX):
        return CassetteFile.from_parent(parent, path=file_path)
    return None


class CassetteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield CassetteItem.from_parent(self, name=self.path.name[: -len(SUFFIX)])


class CassetteItem(pytest.Item):
    def runtest(self) -> None:
        # Imported here, not at plugin load: every pytest run loads the plugin, few replay cassettes.
        from converso.testing.cassette import load_cassette
        from converso.testing.replay import assert_replays

        assert_replays(load_cassette(self.path))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from converso.testing.cassette import CassetteError
        from converso.testing.replay import CassetteFailedError

        if isinstance(excinfo.value, CassetteFailedError | CassetteError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"cassette {self.name}"
