"""Worlds: what a replayed conversation runs against (its tools, and the records they write).

converso knows nothing about CRMs, so a cassette's ``world`` (``crm`` unless it says otherwise) is
looked up here: first among worlds registered in this process, then in the ``converso.worlds``
entry-point group, where ``crm_tools`` registers its embedded CRM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from langchain_core.tools import BaseTool

from converso.testing.cassette import CRMSetting

ENTRY_POINT_GROUP = "converso.worlds"


@runtime_checkable
class World(Protocol):
    """A fresh set of tools over fresh storage, made for one conversation."""

    @property
    def tools(self) -> Sequence[BaseTool]: ...

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Every stored record, grouped by object type (the names ``expect_crm`` uses); each has an ``id``."""
        ...

    def close(self) -> None: ...


WorldFactory = Callable[[CRMSetting, Path, datetime], World]
"""Builds a world for the cassette's ``crm`` setting, keeping its files in the given directory,
with the cassette's clock."""


class UnknownWorldError(LookupError):
    pass


_registered: dict[str, WorldFactory] = {}


def register_world(name: str, factory: WorldFactory) -> None:
    _registered[name] = factory


def find_world(name: str) -> WorldFactory:
    if name in _registered:
        return _registered[name]
    found = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    if name in found:
        factory = found[name].load()
        _registered[name] = factory
        return factory
    known = sorted({*_registered, *found})
    raise UnknownWorldError(
        f"No world named {name!r}. Known worlds: {', '.join(known) or 'none'} (registered with "
        f"converso.testing.world.register_world or the {ENTRY_POINT_GROUP!r} entry-point group; the 'crm' world "
        "comes with crm_tools: reinstall with `pip install -e .`)."
    )
