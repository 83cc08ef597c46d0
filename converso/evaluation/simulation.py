"""A conversation between an agent and a user: a scripted user speaking fixed lines, or a simulated user
driven by a language model from a goal, with openevals' multi-turn simulation running the loop.

The loop stops when the user says the goal is reached (``DONE``) or gives up (``GIVE UP``), when the
agent fails, or after ``max_turns`` user messages. A stop message never reaches the agent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from openevals.simulators import create_llm_simulated_user, run_multiturn_simulation

DONE = "DONE"
GIVE_UP = "GIVE UP"

USER_PROMPT = """You are role-playing a person who is talking to an assistant, to test the assistant.

{goal}

Rules:
- Write only what this person would type: one short message, no explanations, no role labels.
- Use only the facts given above; never invent values the goal does not give. If asked for something you
  were not given, say you do not know it.
- Behave as described above (for example: give fields one at a time, correct a value, cancel).
- When the assistant has done everything you wanted (it confirmed it saved what you asked for, or it
  answered your question, or it cancelled when you asked it to), reply with exactly: {done}
- If the assistant cannot do it after several tries, reply with exactly: {give_up}"""


@dataclass(frozen=True)
class AgentTurn:
    """The agent's answer to one user message; ``error`` set when it failed (the conversation stops)."""

    text: str
    error: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Each tool call of the turn, ``{"name", "args", "result"}``, for the transcript."""


@dataclass
class Conversation:
    messages: list[dict[str, Any]] = field(default_factory=list)
    user_turns: int = 0
    stopped_by: str = "turn limit"
    error: str | None = None

    @property
    def agent_text(self) -> str:
        """Everything the agent said, for grading an answer."""
        return "\n".join(m["content"] for m in self.messages if m["role"] == "assistant" and m["content"])


AgentTurnFunction = Callable[[str], AgentTurn]


def scripted_conversation(agent: AgentTurnFunction, utterances: Sequence[str]) -> Conversation:
    """The user speaks ``utterances`` in order (the reference conversation)."""
    return _run(agent, list(utterances), max_turns=len(utterances), scripted=True)


def simulated_conversation(
    agent: AgentTurnFunction, goal: str, user_model: BaseChatModel, *, max_turns: int
) -> Conversation:
    """An LLM plays the user described by ``goal``."""
    simulated = create_llm_simulated_user(
        system=USER_PROMPT.format(goal=goal.strip(), done=DONE, give_up=GIVE_UP), client=user_model
    )
    failure: list[str] = []

    def user(trajectory: Any, **kwargs: Any) -> Any:
        try:
            return simulated(trajectory, **kwargs)
        except Exception as exc:  # the user's model failed after its retries: end this episode, not the run
            failure.append(f"the simulated user's model failed: {type(exc).__name__}: {exc}")
            return {"role": "user", "content": "", "id": str(uuid.uuid4())}

    return _run(agent, user, max_turns=max_turns, scripted=False, user_failure=failure)


def _is_stop(text: str) -> str | None:
    cleaned = text.strip().strip(".!\"'").upper()
    if cleaned.endswith(DONE) and len(cleaned) <= len(DONE) + 20:
        return "user: goal reached"
    if GIVE_UP in cleaned and len(cleaned) <= len(GIVE_UP) + 20:
        return "user: gave up"
    return None


def _run(
    agent: AgentTurnFunction,
    user: Any,
    *,
    max_turns: int,
    scripted: bool,
    user_failure: list[str] | None = None,
) -> Conversation:
    conversation = Conversation()
    stopped = False

    def app(message: dict[str, Any], **_: Any) -> dict[str, Any]:
        nonlocal stopped
        text = str(message.get("content") or "")
        if user_failure:
            stopped = True
            conversation.error = user_failure[0]
            conversation.stopped_by = "user model failed"
            return {"role": "assistant", "content": "", "id": str(uuid.uuid4())}
        reason = None if scripted else _is_stop(text)
        if reason is not None:
            stopped = True
            conversation.stopped_by = reason
            return {"role": "assistant", "content": "", "id": str(uuid.uuid4())}
        conversation.user_turns += 1
        conversation.messages.append({"role": "user", "content": text})
        turn = agent(text)
        conversation.messages.extend({"role": "tool", **call} for call in turn.tool_calls)
        conversation.messages.append({"role": "assistant", "content": turn.text})
        if turn.error is not None:
            stopped = True
            conversation.error = f"the agent failed: {turn.error}"
            conversation.stopped_by = "agent failed"
        return {"role": "assistant", "content": turn.text, "id": str(uuid.uuid4())}

    def stop(_trajectory: Any, **_: Any) -> bool:
        return stopped

    run_multiturn_simulation(app=app, user=user, max_turns=max_turns, stopping_condition=stop)
    if scripted and not stopped:
        conversation.stopped_by = "script ended"
    return conversation
