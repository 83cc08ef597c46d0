"""A real FormAgentExecutor over the CRM tools, driven turn by turn by a ScriptedChatModel."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from converso.form_agent import FormAgentExecutor, Reply
from converso.testing import ScriptedChatModel
from crm_tools.backends.base import CRMBackend
from crm_tools.toolset import build_tools

# A Monday, so "next Friday" is 2026-01-09.
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def call(name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "args": args or {}}]}


@dataclass
class Conversation:
    crm: CRMBackend
    model: ScriptedChatModel = field(default_factory=lambda: ScriptedChatModel(responses=[]))
    thread: str = "t1"

    def __post_init__(self) -> None:
        ids = (f"form-{n}" for n in itertools.count(1))
        self.agent = FormAgentExecutor(
            tools=build_tools(self.crm), model=self.model, clock=lambda: NOW, id_factory=lambda: next(ids)
        )

    def say(self, text: str, *answers: Any) -> Reply:
        self.model.extend(list(answers))
        reply = self.agent.send(self.thread, text)
        assert self.model.remaining == 0, "the engine made fewer model calls than scripted"
        return reply

    @property
    def last_tool_result(self) -> str:
        return self.agent.messages(self.thread)[-1].text if self.agent.messages(self.thread) else ""

    def tool_results(self) -> list[str]:
        return [m.text for m in self.agent.messages(self.thread) if m.type == "tool"]
