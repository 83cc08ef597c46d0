"""A tiny form app behind a real `converso serve` on 127.0.0.1, and a JSON WebSocket client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field
from websockets.asyncio.client import ClientConnection, connect

from converso.form_agent import FormAgentExecutor, FormContext, FormTool
from converso.server import ChatServer, Limits, ServerConfig
from converso.testing import ScriptedChatModel

KEY = "key-alice"
OTHER_KEY = "key-bob"


class TicketFields(BaseModel):
    subject: str = Field(description="What the ticket is about")
    priority: int = Field(description="1 (urgent) to 4 (whenever)", ge=1, le=4)


class CreateTicket(FormTool):
    """A test-only form: two fields, and a commit that appends to a list."""

    name: str = "CreateTicket"
    description: str = "Open a support ticket"
    args_schema: type[BaseModel] = TicketFields
    created: list[dict[str, Any]] = Field(default_factory=list)

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        self.created.append(fields)
        return f"Ticket created: {fields['subject']} (priority {fields['priority']})"


def ticket_turns() -> list[list[Any]]:
    """What the model answers in a three-turn ticket conversation, one list per user turn."""
    return [
        [
            {"tool_calls": [{"name": "CreateTicketStart", "args": {}}]},
            {"tool_calls": [{"name": "FormUpdate", "args": {"subject": "Printer on fire"}}]},
            "How urgent is it, from 1 to 4?",
        ],
        [
            {"tool_calls": [{"name": "FormUpdate", "args": {"priority": 1}}]},
            "Printer on fire, priority 1. Shall I open it?",
        ],
        [
            {"tool_calls": [{"name": "FormFinalize", "args": {"confirm": True}}]},
            "Done: the ticket is open.",
        ],
    ]


TICKET_USER_TURNS = ["I need a ticket: the printer is on fire", "priority 1", "yes"]


@pytest.fixture
def ticket_tool() -> CreateTicket:
    return CreateTicket()


@pytest.fixture
def make_agent(tmp_path: Path, ticket_tool: CreateTicket) -> Any:
    executors: list[FormAgentExecutor] = []

    def build(responses: list[Any], checkpointer: Any = None) -> FormAgentExecutor:
        executor = FormAgentExecutor(
            tools=[ticket_tool],
            model=ScriptedChatModel(responses=responses),
            checkpointer=checkpointer or str(tmp_path / "threads.sqlite"),
        )
        executors.append(executor)
        return executor

    yield build
    for executor in executors:
        executor.close()


@asynccontextmanager
async def running(
    agent: Any, state_url: str, *, keys: tuple[str, ...] = (KEY, OTHER_KEY), **limits: Any
) -> AsyncIterator[ChatServer]:
    server = ChatServer(
        agent, ServerConfig(api_keys=keys, port=0, state_url=state_url, limits=Limits(**limits))
    )
    await server.start()
    try:
        yield server
    finally:
        await server.shutdown()


class Client:
    """A protocol client: JSON in, JSON out, with helpers to run a turn to its end."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        return json.loads(await self.ws.recv())

    async def auth(self, key: str = KEY) -> dict[str, Any]:
        await self.send(type="auth", api_key=key)
        return await self.recv()

    async def open(self, thread_id: str | None = None) -> dict[str, Any]:
        await self.send(type="open", **({"thread_id": thread_id} if thread_id else {}))
        return await self.recv()

    async def turn(self, text: str) -> list[dict[str, Any]]:
        """Send a message; return every frame up to and including the reply (or a refusal)."""
        await self.send(type="message", text=text)
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["type"] == "reply" or (frame["type"] == "error" and frame["code"] != "turn_failed"):
                return frames


@asynccontextmanager
async def client_of(server: ChatServer) -> AsyncIterator[Client]:
    async with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=5) as ws:
        yield Client(ws)


def flatten(turns: list[list[Any]]) -> list[Any]:
    return [item for turn in turns for item in turn]


Frames = list[dict[str, Any]]
Pick = Callable[[Frames, str], Frames]


def of_type(frames: Frames, kind: str) -> Frames:
    return [f for f in frames if f["type"] == kind]
