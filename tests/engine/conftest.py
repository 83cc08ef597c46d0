"""Helpers for the engine's graph tests: a fixed clock, counted form ids, and script shorthands."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from converso import FormAgentExecutor
from converso.testing import ScriptedChatModel

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def call(name: str, args: Any = None) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "args": {} if args is None else args}]}


def calls(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "args": args} for name, args in pairs]}


def counted_ids(prefix: str = "form") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


@pytest.fixture
def make_executor() -> Iterator[Callable[..., tuple[FormAgentExecutor, ScriptedChatModel]]]:
    opened: list[FormAgentExecutor] = []

    def make(
        tools: list[Any], script: list[Any], **options: Any
    ) -> tuple[FormAgentExecutor, ScriptedChatModel]:
        model = ScriptedChatModel(responses=list(script))
        options.setdefault("clock", lambda: NOW)
        options.setdefault("id_factory", counted_ids())
        executor = FormAgentExecutor(tools, model, **options)
        opened.append(executor)
        return executor, model

    yield make
    for executor in opened:
        executor.close()
