"""The agents under test, each a function of the user's message for one episode.

- ``converso``: the form engine with the CRM's forms and read tools (``build_tools``);
- ``flat``: LangChain's tool-calling agent (``create_agent``) with one plain tool per CRM operation and a prompt asking it to confirm
  before writing, the baseline the original converso was compared against;
- ``reference``: the form engine driven through the task's reference solution by a scripted model (it
  proves the task is solvable and that the grader accepts a right answer);
- ``silent``: answers in text and never calls a tool (it proves the graders reject doing nothing).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage

from converso.apps import ModelSettings
from converso.evaluation.simulation import AgentTurn
from converso.evaluation.usage import UsageCounter
from converso.form_agent import FormAgentExecutor, ModelFactory, ReplyEvent, ToolEvent
from converso.testing import ScriptedChatModel, ScriptedRequest
from crm_tools.evaluation.flat_tools import FLAT_SYSTEM_PROMPT, flat_tools
from crm_tools.evaluation.world import EpisodeWorld
from crm_tools.tasks import Task

THREAD = "episode"
SILENT_REPLY = "I'm sorry, I can only talk about this; I cannot change or look up anything."
# Extra model calls the reference script did not foresee are answered with this text, so a reference that
# drifts from the engine shows up as a failed grade rather than a crashed episode.
_SPARE_CALLS_PER_TURN = 8


class AgentSession(Protocol):
    usage: UsageCounter

    def turn(self, text: str) -> AgentTurn: ...

    def answers(self) -> list[str]:
        """Answers given through a tool (the flat agent's submit_answer), besides the replies."""
        ...

    def close(self) -> None: ...


def model_factory(settings: ModelSettings) -> ModelFactory:
    extra: dict[str, Any] = {}
    if settings.timeout is not None:
        extra["timeout"] = settings.timeout
    if settings.max_retries is not None:
        extra["max_retries"] = settings.max_retries
    return ModelFactory(settings.model, base_url=settings.base_url, api_key=settings.api_key, **extra)


class _FormEngineSession:
    def __init__(self, task: Task, world: EpisodeWorld, model: BaseChatModel | ModelFactory) -> None:
        self.usage = UsageCounter()
        ids = itertools.count(1)
        self.executor = FormAgentExecutor(
            tools=list(world.tools),
            model=model,
            checkpointer=None,
            clock=lambda: task.now,
            id_factory=lambda: f"form-{next(ids)}",
            callbacks=[self.usage],
        )

    def turn(self, text: str) -> AgentTurn:
        calls: list[dict[str, Any]] = []
        reply = None
        for event in self.executor.stream(THREAD, text, tokens=False):
            if isinstance(event, ToolEvent):
                calls.append({"name": event.name, "args": event.args, "result": event.result})
            elif isinstance(event, ReplyEvent):
                reply = event.reply
        assert reply is not None  # every turn ends with a reply
        return AgentTurn(reply.text, reply.error, calls)

    def answers(self) -> list[str]:
        return []

    def close(self) -> None:
        self.executor.close()


class ConversoSession(_FormEngineSession):
    def __init__(self, task: Task, world: EpisodeWorld, settings: ModelSettings) -> None:
        super().__init__(task, world, model_factory(settings))


class _ReferenceModel:
    """One scripted model per worker thread, answering from the reference steps of the episode running on
    it: its tool bindings are then made once per thread instead of once per episode."""

    def __init__(self) -> None:
        self.model = ScriptedChatModel(responses=[])
        self.factory = ModelFactory(self.model)
        self.steps: deque[dict[str, Any]] = deque()

    def next_step(self, request: ScriptedRequest) -> dict[str, Any]:
        return self.steps.popleft() if self.steps else {"text": "OK."}


_reference_models = threading.local()


def _reference_model() -> _ReferenceModel:
    if not hasattr(_reference_models, "model"):
        _reference_models.model = _ReferenceModel()
    return _reference_models.model


class ReferenceSession(_FormEngineSession):
    """The scripted model answers each call with the next step of the current turn's reference solution."""

    def __init__(self, task: Task, world: EpisodeWorld) -> None:
        self.reference = _reference_model()
        super().__init__(task, world, self.reference.factory)
        self.turns = deque(task.reference)

    def turn(self, text: str) -> AgentTurn:
        reference = self.turns.popleft() if self.turns else None
        steps = self.reference.steps
        steps.clear()
        if reference is not None:
            steps.extend({"tool_calls": [{"name": c.name, "args": dict(c.args)}]} for c in reference.calls)
            if reference.say:
                steps.append({"text": reference.say})
        self.reference.model.extend([self.reference.next_step] * (len(steps) + _SPARE_CALLS_PER_TURN))
        return super().turn(text)


class SilentSession:
    def __init__(self) -> None:
        self.usage = UsageCounter()

    def turn(self, text: str) -> AgentTurn:
        return AgentTurn(SILENT_REPLY)

    def answers(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


class FlatSession:
    """LangChain's tool-calling agent (``create_agent``) over the flat tools; the conversation is its
    message list."""

    def __init__(self, task: Task, world: EpisodeWorld, settings: ModelSettings) -> None:
        from langchain.agents import create_agent

        self.usage = UsageCounter()
        self._answers: list[str] = []
        prompt = FLAT_SYSTEM_PROMPT.format(now=task.now.isoformat(), weekday=f"{task.now:%A}")
        self.agent = create_agent(
            model_factory(settings).chat_model(),
            flat_tools(world.backend, self._answers),
            system_prompt=SystemMessage(prompt),
        )
        self.messages: list[AnyMessage] = []

    def turn(self, text: str) -> AgentTurn:
        sent = [*self.messages, HumanMessage(text)]
        try:
            result = self.agent.invoke(
                {"messages": sent}, config={"callbacks": [self.usage], "recursion_limit": 40}
            )
        except Exception as exc:  # the model failed after its retries: a failed episode, not a crash
            return AgentTurn("", f"the model call failed: {type(exc).__name__}: {exc}")
        self.messages = list(result["messages"])
        new = self.messages[len(sent) :]
        results = {m.tool_call_id: m.text for m in new if isinstance(m, ToolMessage)}
        calls = [
            {"name": call["name"], "args": call["args"], "result": results.get(call["id"] or "", "")}
            for message in new
            if isinstance(message, AIMessage)
            for call in message.tool_calls
        ]
        last = new[-1] if new else None
        return AgentTurn(last.text if isinstance(last, AIMessage) else "", None, calls)

    def answers(self) -> list[str]:
        return list(self._answers)

    def close(self) -> None:
        pass


AGENTS: dict[str, Callable[[Task, EpisodeWorld, ModelSettings | None], AgentSession]] = {
    "converso": lambda task, world, settings: ConversoSession(task, world, _needed(settings)),
    "flat": lambda task, world, settings: FlatSession(task, world, _needed(settings)),
    "reference": lambda task, world, settings: ReferenceSession(task, world),
    "silent": lambda task, world, settings: SilentSession(),
}
MODEL_AGENTS = ("converso", "flat")


def _needed(settings: ModelSettings | None) -> ModelSettings:
    if settings is None:
        raise ValueError("this agent needs a language model")
    return settings
