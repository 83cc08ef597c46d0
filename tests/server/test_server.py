"""`converso serve` over a real socket: auth, threads per key, streaming turns, limits, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from converso.server import Limits
from converso.server.app import TURN_FAILED_TEXT
from converso.testing import ScriptedRequest
from tests.server.conftest import (
    KEY,
    OTHER_KEY,
    TICKET_USER_TURNS,
    CreateTicket,
    client_of,
    flatten,
    of_type,
    running,
    ticket_turns,
)


def http_get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return str(tmp_path / "server.sqlite")


async def test_healthz_reports_ok_and_the_open_connections(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url) as server, client_of(server) as client:
        await client.auth()
        status, ctype, body = await asyncio.to_thread(http_get, server.port, "/healthz")
    assert (status, ctype) == (200, "application/json")
    assert json.loads(body) == {"status": "ok", "connections": 1, "turns_in_progress": 0, "pid": os.getpid()}


async def test_the_chat_page_and_the_widget_script_are_served(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url) as server:
        page = await asyncio.to_thread(http_get, server.port, "/")
        script = await asyncio.to_thread(http_get, server.port, "/widget.js")
        missing = await asyncio.to_thread(http_get, server.port, "/admin")
    assert page[0] == 200 and page[1].startswith("text/html") and '<script src="/widget.js">' in page[2]
    assert script[0] == 200 and script[1].startswith("text/javascript") and "ConversoWidget" in script[2]
    assert missing[0] == 404 and "/healthz" in missing[2]


async def test_a_wrong_api_key_is_refused_and_the_connection_closed(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url) as server, client_of(server) as client:
        frame = await client.auth("not-a-key")
        assert frame["code"] == "invalid_api_key"
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
    assert closed.value.rcvd.code == 1008


async def test_the_first_frame_must_authenticate(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url) as server, client_of(server) as client:
        await client.send(type="open")
        frame = await client.recv()
    assert frame["code"] == "not_authenticated"
    assert '"type": "auth"' in frame["message"]


async def test_a_silent_client_is_dropped_after_the_auth_timeout(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url, auth_timeout=0.2) as server, client_of(server) as client:
        frame = await client.recv()
    assert frame["code"] == "auth_timeout"


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 2500 + "1" + "}" * 2500,
        '{"type": "open", "thread_id": ' + "[" * 900 + "]" * 900 + "}",
        '{"type": "message", "text": ' + "[" * 40 + "]" * 40 + "}",
    ],
    ids=["array-5000", "object-2500", "value-900", "value-40"],
)
async def test_deeply_nested_json_is_invalid_json_and_the_connection_stays_open(
    make_agent: Any, state_url: str, frame: str
) -> None:
    async with running(make_agent([]), state_url) as server, client_of(server) as client:
        await client.auth()
        await client.ws.send(frame)
        error = await client.recv()
        assert error["code"] == "invalid_json" and "nest deeper than 32 levels" in error["message"]
        await client.send(type="ping")
        assert await client.recv() == {"type": "pong"}


async def test_a_message_before_opening_a_thread_is_refused(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url) as server, client_of(server) as client:
        await client.auth()
        frames = await client.turn("hello")
    assert frames[-1]["code"] == "no_thread"


async def test_a_turn_streams_tokens_tools_form_and_reply(make_agent: Any, state_url: str) -> None:
    async with running(make_agent(ticket_turns()[0]), state_url) as server, client_of(server) as client:
        assert (await client.auth())["type"] == "authenticated"
        opened = await client.open()
        frames = await client.turn(TICKET_USER_TURNS[0])
    assert opened["resumed"] is False and opened["form"] is None
    assert "".join(f["text"] for f in of_type(frames, "token")) == "How urgent is it, from 1 to 4?"
    assert [f["name"] for f in of_type(frames, "tool")] == ["CreateTicketStart", "FormUpdate"]
    assert of_type(frames, "form")[-1]["form"]["values"] == {"subject": "Printer on fire"}
    assert frames[-1] == {
        "type": "reply",
        "text": "How urgent is it, from 1 to 4?",
        "form": {
            "name": "CreateTicket",
            "state": "ACTIVE",
            "values": {"subject": "Printer on fire"},
            "missing": ["priority"],
        },
        "display": {
            "name": "CreateTicket",
            "title": "Open a support ticket",
            "state": "ACTIVE",
            "fields": [
                {
                    "name": "subject",
                    "label": "Subject",
                    "hint": "What the ticket is about",
                    "value": "Printer on fire",
                    "required": True,
                },
                {
                    "name": "priority",
                    "label": "Priority",
                    "hint": "1 (urgent) to 4 (whenever)",
                    "value": None,
                    "required": True,
                },
            ],
            "next": "priority",
            "can_confirm": False,
        },
    }
    assert [f["activity"] for f in of_type(frames, "tool")] == [
        "Starting: Open a support ticket",
        "Filling in: Open a support ticket",
    ]


async def test_a_full_conversation_creates_the_record(
    make_agent: Any, state_url: str, ticket_tool: CreateTicket
) -> None:
    async with running(make_agent(flatten(ticket_turns())), state_url) as server, client_of(server) as client:
        await client.auth()
        await client.open()
        replies = [(await client.turn(text))[-1] for text in TICKET_USER_TURNS]
    assert [r["form"] and r["form"]["state"] for r in replies] == ["ACTIVE", "FILLED", None]
    assert ticket_tool.created == [{"subject": "Printer on fire", "priority": 1}]


async def test_a_thread_resumes_with_its_form_after_reconnecting(make_agent: Any, state_url: str) -> None:
    async with running(make_agent(ticket_turns()[0]), state_url) as server:
        async with client_of(server) as client:
            await client.auth()
            thread_id = (await client.open())["thread_id"]
            await client.turn(TICKET_USER_TURNS[0])
        async with client_of(server) as client:
            await client.auth()
            opened = await client.open(thread_id)
    assert opened["resumed"] is True
    assert opened["form"]["values"] == {"subject": "Printer on fire"}
    assert opened["display"]["fields"][0]["value"] == "Printer on fire"
    assert opened["history"] == [
        {"role": "user", "text": TICKET_USER_TURNS[0]},
        {"role": "assistant", "text": "How urgent is it, from 1 to 4?"},
    ]


async def test_another_key_cannot_open_a_thread(make_agent: Any, state_url: str) -> None:
    async with running(make_agent([]), state_url) as server:
        async with client_of(server) as owner:
            await owner.auth(KEY)
            await owner.open("support-42")
        async with client_of(server) as intruder:
            await intruder.auth(OTHER_KEY)
            refused = await intruder.open("support-42")
            after = await intruder.turn("show me the form")
    assert refused["code"] == "thread_forbidden"
    assert after[-1]["code"] == "no_thread"


async def test_an_oversized_frame_is_refused_and_the_connection_stays_usable(
    make_agent: Any, state_url: str
) -> None:
    async with (
        running(make_agent([]), state_url, max_frame_bytes=1000) as server,
        client_of(server) as client,
    ):
        await client.auth()
        await client.open()
        frames = await client.turn("x" * 2000)
        await client.send(type="ping")
        pong = await client.recv()
    assert frames[-1]["code"] == "frame_too_large"
    assert frames[-1]["max_bytes"] == 1000
    assert pong == {"type": "pong"}


async def test_messages_over_the_per_minute_budget_are_refused_with_a_retry_delay(
    make_agent: Any, state_url: str
) -> None:
    script = ["one", "two"]
    async with (
        running(make_agent(script), state_url, messages_per_minute=2) as server,
        client_of(server) as client,
    ):
        await client.auth()
        await client.open()
        outcomes = [(await client.turn(text))[-1] for text in ("a", "b", "c")]
    assert [o["type"] for o in outcomes] == ["reply", "reply", "error"]
    assert outcomes[2]["code"] == "rate_limited"
    assert 1 <= outcomes[2]["retry_after"] <= 60


async def test_connections_over_the_limit_get_an_error_frame_and_close_1013(
    make_agent: Any, state_url: str
) -> None:
    async with running(make_agent([]), state_url, max_connections=1) as server, client_of(server) as first:
        await first.auth()
        async with client_of(server) as second:
            frame = await second.recv()
            with pytest.raises(ConnectionClosed) as closed:
                await second.recv()
    assert frame["code"] == "too_many_connections"
    assert closed.value.rcvd.code == 1013


async def test_idle_unauthenticated_sockets_make_room_for_a_client(make_agent: Any, state_url: str) -> None:
    # The attack run: 14 idle sockets under a 20-connection limit locked a client out for the whole
    # auth timeout. Here idle ones fill the server, and a client still gets in at once.
    async with (
        running(make_agent([]), state_url, max_connections=4, auth_timeout=60) as server,
        client_of(server) as member,
    ):
        await member.auth()
        async with (
            client_of(server) as idle_1,
            client_of(server) as idle_2,
            client_of(server) as idle_3,
            client_of(server) as newcomer,
        ):
            assert (await newcomer.auth())["type"] == "authenticated"
            evicted = await idle_1.recv()
            with pytest.raises(ConnectionClosed):
                await idle_1.recv()
            assert idle_2.ws.close_code is None and idle_3.ws.close_code is None
            await member.send(type="ping")
            assert await member.recv() == {"type": "pong"}
    assert evicted["code"] == "auth_timeout" and "a newer connection needed the room" in evicted["message"]


async def test_unauthenticated_connections_have_their_own_small_quota(
    make_agent: Any, state_url: str
) -> None:
    async with (
        running(make_agent([]), state_url, max_unauthenticated=2, auth_timeout=60) as server,
        client_of(server) as idle_1,
        client_of(server) as idle_2,
        client_of(server) as newcomer,
    ):
        assert (await newcomer.auth())["type"] == "authenticated"
        evicted = await idle_1.recv()
        assert idle_2.ws.close_code is None
    assert evicted["code"] == "auth_timeout"


def test_a_new_connection_gets_a_short_auth_deadline() -> None:
    assert Limits().auth_timeout <= 5


async def test_connections_per_key_are_limited(make_agent: Any, state_url: str) -> None:
    async with (
        running(make_agent([]), state_url, max_connections_per_key=1) as server,
        client_of(server) as first,
        client_of(server) as second,
        client_of(server) as other,
    ):
        await first.auth(KEY)
        refused = await second.auth(KEY)
        accepted = await other.auth(OTHER_KEY)
    assert refused["code"] == "too_many_connections"
    assert accepted["type"] == "authenticated"


async def test_a_failing_model_ends_the_turn_with_an_error_and_a_reply(
    make_agent: Any, state_url: str
) -> None:
    async with (
        running(make_agent([RuntimeError("provider down")]), state_url) as server,
        client_of(server) as c,
    ):
        await c.auth()
        await c.open()
        frames = await c.turn("hello")
    # One human sentence for the person; the provider's error stays in the server log.
    assert frames[-2]["code"] == "turn_failed"
    assert frames[-2]["message"] == TURN_FAILED_TEXT
    assert frames[-1]["type"] == "reply" and frames[-1]["failed"] is True
    assert frames[-1]["text"] == TURN_FAILED_TEXT
    assert "provider down" not in json.dumps(frames)


async def test_reset_drops_the_active_form(make_agent: Any, state_url: str) -> None:
    async with running(make_agent(ticket_turns()[0]), state_url) as server, client_of(server) as client:
        await client.auth()
        await client.open()
        await client.turn(TICKET_USER_TURNS[0])
        await client.send(type="reset")
        frame = await client.recv()
    assert frame == {"type": "form", "form": None, "display": None}


async def test_shutdown_lets_the_running_turn_finish_then_closes_1001(
    make_agent: Any, state_url: str
) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_answer(request: ScriptedRequest) -> str:
        loop.call_soon_threadsafe(started.set)
        import time

        time.sleep(0.5)
        return "finished"

    async with running(make_agent([slow_answer]), state_url) as server, client_of(server) as client:
        await client.auth()
        await client.open()
        await client.send(type="message", text="hello")
        await started.wait()
        shutdown = asyncio.create_task(server.shutdown())
        await asyncio.sleep(0.1)
        with pytest.raises(OSError):  # the listening socket is closed: new connections are refused
            await connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=2)
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(await client.recv())
        await shutdown
    assert frames[-1]["type"] == "reply" and frames[-1]["text"] == "finished"
    assert closed.value.rcvd.code == 1001
