"""Conversation: one thread of a FormAgentExecutor, for code that talks to a single user."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Literal

from langchain_core.messages import AnyMessage

from converso.form_agent.executor import FormAgentExecutor
from converso.form_agent.reply import Event, Reply
from converso.form_agent.state import PublicForm


class Conversation:
    """A thread id bound to an executor: ``Conversation(executor, "user-42").send("hi")``."""

    def __init__(self, executor: FormAgentExecutor, thread_id: str) -> None:
        self.executor = executor
        self.thread_id = thread_id

    def send(self, text: str) -> Reply:
        return self.executor.send(self.thread_id, text)

    async def asend(self, text: str) -> Reply:
        return await self.executor.asend(self.thread_id, text)

    def stream(self, text: str, *, cancel: threading.Event | None = None) -> Iterator[Event]:
        return self.executor.stream(self.thread_id, text, cancel=cancel)

    def astream(
        self, text: str, *, if_abandoned: Literal["finish", "undo"] = "finish"
    ) -> AsyncIterator[Event]:
        return self.executor.astream(self.thread_id, text, if_abandoned=if_abandoned)

    @property
    def form(self) -> PublicForm | None:
        return self.executor.get_form(self.thread_id)

    def reset_form(self) -> PublicForm | None:
        return self.executor.reset_form(self.thread_id)

    @property
    def messages(self) -> list[AnyMessage]:
        return self.executor.messages(self.thread_id)
