"""What the web chat needs from the server: the Confirm frame, limits that fit a public widget (per
connection and per thread as well as per key), and structured logs without message text or keys."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from converso.server import ChatServer, Limits, ServerConfig
from converso.server.logs import JsonFormatter
from converso.server.protocol import ProtocolError, parse_client_frame
from converso.server.visitors import InvalidVisitorToken, sign_visitor_token, verify_visitor_token
from tests.server.conftest import KEY, TICKET_USER_TURNS, client_of, of_type, running, ticket_turns


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return str(tmp_path / "server.sqlite")


FILL_TICKET = [
    {"tool_calls": [{"name": "CreateTicketStart", "args": {}}]},
    {"tool_calls": [{"name": "FormUpdate", "args": {"subject": "Printer on fire", "priority": 1}}]},
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
    assert [f["name"] for f in of_type(frames, "tool")] == ["FormFinalize"]
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


SECRET = "site-secret"


def test_a_visitor_token_verifies_only_with_its_secret_and_before_it_expires() -> None:
    token = sign_visitor_token(SECRET, "visitor-7", ttl_seconds=60, now=1000.0)
    assert verify_visitor_token(SECRET, token, clock=lambda: 1059.0) == "visitor-7"
    for secret, now, problem in [
        ("other-secret", 1000.0, "signature"),
        (SECRET, 1060.0, "expired"),
    ]:
        with pytest.raises(InvalidVisitorToken, match=problem):
            verify_visitor_token(secret, token, clock=lambda now=now: now)
    with pytest.raises(InvalidVisitorToken, match=r"v1\.PAYLOAD\.SIGNATURE"):
        verify_visitor_token(SECRET, "not-a-token")
    tampered = token.split(".")
    tampered[1] = tampered[1][:-2] + "AA"
    with pytest.raises(InvalidVisitorToken, match="signature"):
        verify_visitor_token(SECRET, ".".join(tampered))


async def test_visitors_own_their_threads_and_have_their_own_budgets(make_agent: Any, tmp_path: Path) -> None:
    agent = make_agent(["ok"] * 4)
    config = ServerConfig(
        api_keys=(),
        port=0,
        state_url=str(tmp_path / "server.sqlite"),
        visitor_secret=SECRET,
        limits=Limits(messages_per_minute=1),
    )
    server = ChatServer(agent, config)
    await server.start()
    try:
        async with client_of(server) as ada:
            await ada.send(type="auth", visitor_token=sign_visitor_token(SECRET, "ada"))
            assert (await ada.recv())["type"] == "authenticated"
            thread_id = (await ada.open())["thread_id"]
            assert (await ada.turn("hello"))[-1]["type"] == "reply"
        async with client_of(server) as bob:
            await bob.send(type="auth", visitor_token=sign_visitor_token(SECRET, "bob"))
            await bob.recv()
            forbidden = await bob.open(thread_id)
            await bob.open()
            # Ada's message spent her budget of one, not Bob's.
            assert (await bob.turn("hi"))[-1]["type"] == "reply"
        async with client_of(server) as forged:
            await forged.send(type="auth", visitor_token=sign_visitor_token("guessed", "ada"))
            refused = await forged.recv()
        async with client_of(server) as keyed:
            refused_key = await keyed.auth(KEY)
    finally:
        await server.shutdown()
    assert forbidden["code"] == "thread_forbidden"
    assert refused["code"] == "invalid_token" and "signature" in refused["message"]
    assert refused_key["code"] == "invalid_api_key"


def test_an_auth_frame_carries_one_credential() -> None:
    for frame in ('{"type": "auth"}', '{"type": "auth", "api_key": "k", "visitor_token": "t"}'):
        with pytest.raises(ProtocolError, match="api_key or visitor_token"):
            parse_client_frame(frame)
