"""What the web chat needs from the server: the Confirm frame, limits that fit a public widget (per
connection and per thread as well as per key), and structured logs without message text or keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from converso.server.logs import JsonFormatter
from tests.server.conftest import KEY, TICKET_USER_TURNS, client_of, of_type, running, ticket_turns


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return str(tmp_path / "server.sqlite")


FILL_TICKET = [
    {"tool_calls": [{"name": "CreateTicketStart", "args": {}}]},
    {"tool_calls": [{"name": "CreateTicketUpdate", "args": {"subject": "Printer on fire", "priority": 1}}]},
    "Printer on fire, priority 1. Shall I open it?",
    "Done: the ticket is open.",
]


async def test_the_confirm_frame_saves_the_filled_form(
    make_agent: Any, state_url: str, ticket_tool: Any
) -> None:
    async with running(make_agent(FILL_TICKET), state_url) as server, client_of(server) as client:
        await client.auth()
        await client.open()
        filled = await client.turn("ticket: printer on fire, priority 1")
        await client.send(type="confirm", form="CreateTicket")
        frames = []
        while not frames or frames[-1]["type"] != "reply":
            frames.append(await client.recv())
    assert filled[-1]["display"]["can_confirm"] is True
    assert [f["name"] for f in of_type(frames, "tool")] == ["CreateTicketFinalize"]
    assert ticket_tool.created == [{"subject": "Printer on fire", "priority": 1}]
    assert frames[-1]["text"] == "Done: the ticket is open." and frames[-1]["form"] is None


async def test_a_confirm_frame_needs_a_form_name(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url) as server, client_of(server) as client:
        await client.auth()
        await client.open()
        await client.send(type="confirm")
        refused = await client.recv()
    assert refused["code"] == "invalid_frame" and "form" in refused["message"]


async def test_one_connection_cannot_spend_the_whole_keys_budget(make_agent: Any, state_url: str) -> None:
    answers = ["ok"] * 6
    async with running(
        make_agent(answers),
        state_url,
        messages_per_minute=30,
        messages_per_minute_per_connection=2,
        messages_per_minute_per_thread=5,
    ) as server:
        async with client_of(server) as busy:
            await busy.auth()
            await busy.open()
            first = [(await busy.turn(f"hi {i}"))[-1] for i in range(3)]
        async with client_of(server) as other:
            await other.auth()
            await other.open()
            other_reply = (await other.turn("hello"))[-1]
    assert [f["type"] for f in first] == ["reply", "reply", "error"]
    assert first[-1]["code"] == "rate_limited" and first[-1]["scope"] == "connection"
    assert "connection may send 2 messages per minute" in first[-1]["message"]
    assert other_reply["type"] == "reply"


async def test_a_thread_has_its_own_budget_across_connections(make_agent: Any, state_url: str) -> None:
    async with running(
        make_agent(["ok"] * 4),
        state_url,
        messages_per_minute_per_connection=5,
        messages_per_minute_per_thread=2,
    ) as server:
        async with client_of(server) as first_tab:
            await first_tab.auth()
            thread_id = (await first_tab.open())["thread_id"]
            await first_tab.turn("one")
        async with client_of(server) as second_tab:
            await second_tab.auth()
            await second_tab.open(thread_id)
            await second_tab.turn("two")
            refused = (await second_tab.turn("three"))[-1]
    assert refused["code"] == "rate_limited" and refused["scope"] == "conversation"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_logs_say_what_happened_without_message_text_or_keys(make_agent: Any, state_url: str) -> None:
    handler = Records()
    logger = logging.getLogger("converso.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        async with running(
            make_agent([*ticket_turns()[0], RuntimeError("provider down")]), state_url
        ) as server:
            async with client_of(server) as refused:
                await refused.auth("not-a-key")
            async with client_of(server) as client:
                await client.auth()
                await client.open()
                await client.turn(TICKET_USER_TURNS[0])
                await client.turn("priority 1")
    finally:
        logger.removeHandler(handler)
    events = [getattr(r, "event", None) for r in handler.records]
    assert events.count("connection_opened") == 2 and events.count("connection_closed") == 2
    assert "refused" in events
    turns = [r for r in handler.records if getattr(r, "event", None) == "turn"]
    assert [t.outcome for t in turns] == ["ok", "failed"]
    assert all(t.duration_ms >= 0 and t.thread_id for t in turns)
    failed = next(r for r in handler.records if getattr(r, "event", None) == "turn_failed")
    assert "provider down" in failed.detail and failed.levelno == logging.WARNING
    lines = [JsonFormatter().format(r) for r in handler.records if r.levelno >= logging.INFO]
    assert all(json.loads(line)["event"] for line in lines)
    text = "\n".join(lines)
    for secret in (KEY, "not-a-key", TICKET_USER_TURNS[0], "priority 1"):
        assert secret not in text
