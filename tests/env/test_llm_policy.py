"""The LLM policy end to end: the real openai client against a local OpenAI-compatible server, our env server.

The scripted model stands in only for the decisions: it plays the reference solution, reading each
observation back from the tool message the policy sent, so a full score proves the whole loop (tool
schemas, tool calls to actions, observations to tool messages) carries what an agent needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai import OpenAI

from converso.testing.openai_server import RecordedRequest, ScriptedOpenAIServer, call, text, tool_calls
from crm_tools.env.actions import STANDARD_ACTION_TYPES
from crm_tools.env.llm_policy import LLMPolicy
from crm_tools.env.policies import ReferencePolicy
from crm_tools.env.rollout import EnvConnection, Turn, collect_rollout
from crm_tools.env_server import BackgroundEnvServer
from crm_tools.tasks import load_tasks
from tests.env.conftest import API_KEY

TASKS = load_tasks()
# One task of each category keeps the test quick; the reference policy itself is checked on all of them.
SAMPLE = list({task.category: task for task in reversed(TASKS)}.values())


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundEnvServer]:
    with BackgroundEnvServer(api_keys=[API_KEY]) as running:
        yield running


class ReferenceModel:
    """Answers chat requests like a model that knows the reference solution of each task."""

    def __init__(self) -> None:
        self.reference = ReferencePolicy(TASKS)
        self.instructions = {task.instruction: task for task in TASKS}

    def __call__(self, request: RecordedRequest) -> Any:
        messages = request.messages
        task = self.instructions[messages[1]["content"]]
        history = []
        for assistant, tool in zip(messages[2::2], messages[3::2], strict=True):
            function = assistant["tool_calls"][0]["function"]
            action = {"action_type": function["name"], **json.loads(function["arguments"])}
            body, _, error = tool["content"].partition("\nError: ")
            history.append((action, {"success": not error, "data": json.loads(body), "error": error or None}))
        observation = history[-1][1] if history else {}
        task_info = {"id": task.id, "instruction": task.instruction}
        action = self.reference(Turn(task_info, observation, history, episode_id=task.id))
        if action["action_type"] == "submit_answer":
            return text(action["answer"])  # a reply without a tool call is the final answer
        return tool_calls(call(action.pop("action_type"), action))


def test_an_llm_policy_solves_a_task_of_every_category_through_the_openai_wire(
    server: BackgroundEnvServer,
) -> None:
    with ScriptedOpenAIServer(handler=ReferenceModel()) as model_server:
        policy = LLMPolicy(OpenAI(base_url=model_server.base_url, api_key="test", max_retries=0), "scripted",
                           extensions=True)  # fmt: skip
        with EnvConnection(server.url, API_KEY) as env:
            rollouts = [
                collect_rollout(env, policy, task_id=task.id, seed=n) for n, task in enumerate(SAMPLE)
            ]
        requests = model_server.requests
    assert {r.task_id: r.reward for r in rollouts} == {task.id: 1.0 for task in SAMPLE}
    first = requests[0]
    assert set(STANDARD_ACTION_TYPES) <= set(first.tool_names)
    assert first.messages[1] == {"role": "user", "content": SAMPLE[0].instruction}
    tool_messages = [m for r in requests for m in r.messages if m["role"] == "tool"]
    assert tool_messages and all(m["tool_call_id"].startswith("call_") for m in tool_messages)


def test_the_standard_tools_carry_only_the_standard_vocabulary() -> None:
    policy = LLMPolicy(client=None, model="m")
    names = [tool["function"]["name"] for tool in policy.tools]
    assert names == list(STANDARD_ACTION_TYPES)
    create_person = next(t for t in policy.tools if t["function"]["name"] == "create_person")["function"]
    assert "person_city" not in create_person["parameters"]["properties"]
    assert "person_email" in create_person["parameters"]["properties"]
    update = next(t for t in policy.tools if t["function"]["name"] == "update_company")["function"]
    assert update["parameters"]["required"] == ["record_id"]
