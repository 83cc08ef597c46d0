"""The CRM evaluation as ``converso eval`` finds it (the ``crm`` entry of ``converso.evaluations``): the
bundled tasks, the four agents, and one graded episode."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from converso.evaluation.episode import EpisodeResult, EvalConfig
from converso.evaluation.simulation import Conversation, scripted_conversation, simulated_conversation
from crm_tools.evaluation.agents import AGENTS, MODEL_AGENTS, model_factory
from crm_tools.evaluation.world import episode_world
from crm_tools.tasks import Task, changes_between, grade, load_tasks, snapshot


class CrmSuite:
    name = "crm"
    agents: Sequence[str] = tuple(AGENTS)
    model_agents: Sequence[str] = MODEL_AGENTS

    def load_tasks(self, source: str | Path | None, category: str | None) -> list[Task]:
        return load_tasks(source, category=category)

    def run_episode(self, task: Task, agent: str, config: EvalConfig, repeat: int = 0) -> EpisodeResult:
        started = time.perf_counter()
        # The reference solution is written for the reference utterances; the others talk to an LLM user
        # when one is configured.
        simulated = config.user_model is not None and agent != "reference"
        with episode_world(task) as world:
            before = snapshot(world.backend)
            session = AGENTS[agent](task, world, config.agent_model)
            try:
                if simulated:
                    assert config.user_model is not None
                    user = model_factory(config.user_model).chat_model()
                    conversation = simulated_conversation(
                        session.turn, task.goal, user, max_turns=config.max_turns or task.max_turns
                    )
                else:
                    conversation = scripted_conversation(session.turn, task.utterances)
                answers = session.answers()
            finally:
                session.close()
            changes = changes_between(before, snapshot(world.backend))
        answer = "\n".join([conversation.agent_text, *answers])
        result = grade(task, changes, answer)
        reasons = list(result.reasons)
        if conversation.error:
            reasons.insert(0, conversation.error)
        usage = session.usage.usage
        return EpisodeResult(
            task_id=task.id,
            category=task.category,
            agent=agent,
            success=result.success and conversation.error is None,
            score=result.score,
            reasons=reasons,
            user_turns=conversation.user_turns,
            llm_calls=usage.llm_calls,
            prompt_tokens=usage.prompt_tokens,
            cached_tokens=usage.cached_tokens,
            completion_tokens=usage.completion_tokens,
            seconds=round(time.perf_counter() - started, 3),
            repeat=repeat,
            user="simulated" if simulated else "scripted",
            stopped_by=conversation.stopped_by,
            error=conversation.error,
            transcript=_transcript(conversation, changes.summary()),
        )


def _transcript(conversation: Conversation, written: dict[str, dict[str, int]]) -> list[dict]:
    return [*conversation.messages, {"role": "crm", "content": written}]


suite = CrmSuite()
