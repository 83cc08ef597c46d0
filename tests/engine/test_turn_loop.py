"""The turns' event loop: uvloop's by default, asyncio's when CONVERSO_EVENT_LOOP says so."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from converso.form_agent.turn_loop import EventLoopSettingError, TurnLoop


async def loop_kind() -> type:
    return type(asyncio.get_running_loop())


@pytest.mark.parametrize(
    ("setting", "kind"), [(None, uvloop.Loop), ("uvloop", uvloop.Loop), ("asyncio", None)]
)
def test_the_turns_run_on_the_loop_the_setting_names(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, kind: type | None
) -> None:
    if setting is None:
        monkeypatch.delenv("CONVERSO_EVENT_LOOP", raising=False)
    else:
        monkeypatch.setenv("CONVERSO_EVENT_LOOP", setting)
    turns = TurnLoop()
    try:
        running = turns.run(loop_kind())
    finally:
        turns.close()
    if kind is None:
        assert not issubclass(running, uvloop.Loop)
        assert issubclass(running, asyncio.BaseEventLoop)
    else:
        assert issubclass(running, kind)


def test_an_unknown_loop_is_refused_with_the_accepted_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVERSO_EVENT_LOOP", "trio")
    with pytest.raises(EventLoopSettingError, match="accepted: uvloop, asyncio"):
        TurnLoop()
