"""The public construct-labs-crm-env client (0.1.10, openenv-core 0.2.1) against our server.

The client is under an evaluation licence and lives in the optional ``compat`` extra: without it
this module is skipped locally and fails in CI, where ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from crm_tools.env.policies import ReferencePolicy
from crm_tools.env.rollout import Turn, group_advantages
from crm_tools.env_server import BackgroundEnvServer
from crm_tools.tasks import load_tasks
from tests.env.conftest import API_KEY

TASKS = load_tasks()

try:
    from construct_labs_crm_env import CrmAgentEnv
except ImportError as exc:  # pragma: no cover - depends on the compat extra
    if os.environ.get("CI"):
        raise ImportError(f"The compat extra is required in CI: {exc}") from exc
    pytest.skip(
        f"construct-labs-crm-env is not installed (pip install -e '.[compat]'): {exc}",
        allow_module_level=True,
    )

# openenv-core 0.2.1 connects the way websockets 17 deprecates; that is the client's business.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:connect\(\) must be used as a context manager:DeprecationWarning"
)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundEnvServer]:
    with BackgroundEnvServer(api_keys=[API_KEY]) as running:
        yield running


@pytest.fixture
def env(server: BackgroundEnvServer) -> Iterator[CrmAgentEnv]:
    # The client takes an http(s) base URL and derives ws://.../ws itself.
    client = CrmAgentEnv(
        base_url=server.url.replace("ws://", "http://"), api_key=API_KEY, connect_timeout_s=5
    )
    with client:
        yield client


def _call(env: CrmAgentEnv, name: str, **arguments: Any) -> Any:
    parsed = env.parse_tool_call({"name": name, "arguments": arguments})
    assert parsed.is_valid, parsed.error_message
    result = env.step(parsed.action)
    assert result.observation.success, (name, result.observation.error)
    return result


def test_a_sandbox_reset_with_a_seed_fills_the_crm(env: CrmAgentEnv) -> None:
    result = env.reset(seed=42, sandbox=True)
    assert result.done is False and result.observation.success
    companies = _call(env, "list_companies", limit=5).observation.data
    assert companies["totalCount"] > 0 and len(companies["data"]["companies"]) == 5


def test_every_action_type_through_parse_tool_call_and_step(env: CrmAgentEnv) -> None:
    env.reset()

    company = _call(
        env, "create_company", company_name="Acme", company_domain="acme.com", company_employees=40
    )
    company_id = company.observation.data["data"]["createCompany"]["id"]
    _call(env, "update_company", record_id=company_id, company_address="1 Main St")
    assert (
        _call(env, "get_company", record_id=company_id).observation.data["data"]["company"]["address"][
            "addressStreet1"
        ]
        == "1 Main St"
    )
    assert _call(env, "list_companies", filter='name[ilike]:"%acme%"').observation.data["totalCount"] == 1

    person = _call(
        env,
        "create_person",
        person_first_name="Ada",
        person_last_name="Lovelace",
        person_email="ada@acme.com",
        person_phone="+1-555-0100",
        person_company_id=company_id,
        person_job_title="CTO",
    )
    person_id = person.observation.data["data"]["createPerson"]["id"]
    _call(env, "update_person", record_id=person_id, person_job_title="CEO")
    assert (
        _call(env, "get_person", record_id=person_id).observation.data["data"]["person"]["jobTitle"] == "CEO"
    )
    assert _call(env, "list_people", filter="companyId[eq]:" + company_id).observation.data["totalCount"] == 1

    deal = _call(
        env,
        "create_opportunity",
        opportunity_name="Acme - Enterprise",
        opportunity_amount=50000,
        opportunity_stage="PROPOSAL",
        opportunity_close_date="2026-03-15",
        opportunity_company_id=company_id,
        opportunity_person_id=person_id,
    )
    deal_id = deal.observation.data["data"]["createOpportunity"]["id"]
    assert deal.observation.data["data"]["createOpportunity"]["amount"]["amountMicros"] == 50_000_000_000
    _call(env, "update_opportunity", record_id=deal_id, opportunity_stage="WON")
    assert (
        _call(env, "get_opportunity", record_id=deal_id).observation.data["data"]["opportunity"]["stage"]
        == "WON"
    )
    assert _call(env, "list_opportunities", filter="stage[eq]:WON").observation.data["totalCount"] == 1

    _call(env, "create_note", note_body="Signed!", note_target_id=deal_id, note_target_type="opportunity")
    assert _call(env, "list_notes").observation.data["totalCount"] == 1

    task = _call(env, "create_task", task_title="Kickoff", task_due_date="2026-04-01", task_target_id=company_id,
                 task_target_type="company")  # fmt: skip
    task_id = task.observation.data["data"]["createTask"]["id"]
    _call(env, "update_task", record_id=task_id, task_body="Book the room")
    assert (
        _call(env, "complete_task", record_id=task_id).observation.data["data"]["updateTask"]["status"]
        == "DONE"
    )
    assert _call(env, "list_tasks", filter="status[eq]:DONE").observation.data["totalCount"] == 1

    _call(env, "delete_opportunity", record_id=deal_id)
    _call(env, "delete_person", record_id=person_id)
    _call(env, "delete_company", record_id=company_id)
    assert _call(env, "list_companies").observation.data["totalCount"] == 0

    answer = _call(env, "submit_answer", answer="Acme signed and was archived.")
    assert answer.done is True


def test_a_crm_failure_reaches_the_client_as_an_unsuccessful_observation(env: CrmAgentEnv) -> None:
    env.reset()
    parsed = env.parse_tool_call({"name": "get_company", "arguments": {"record_id": "no-such-id"}})
    result = env.step(parsed.action)
    assert result.observation.success is False and result.observation.error


def test_state_parses_into_the_clients_model(env: CrmAgentEnv) -> None:
    env.reset(seed=1, sandbox=True)
    _call(env, "list_people", limit=1)
    state = env.state()
    assert state.env_name == "crm-agent" and state.step_count == 1
    assert state.companies_count > 0 and state.last_action == "list_people"


def test_a_bad_key_is_rejected_with_the_clients_authentication_error(server: BackgroundEnvServer) -> None:
    client = CrmAgentEnv(
        base_url=server.url.replace("ws://", "http://"), api_key="not-the-key", connect_timeout_s=5
    )
    with pytest.raises(ConnectionError, match="Authentication failed"):
        client.connect()


# -- task episodes through the public client ----------------------------------------------------


def test_seeds_0_to_29_give_tasks_with_instructions_and_the_same_seed_the_same_episode(
    env: CrmAgentEnv,
) -> None:
    tasks = {}
    for seed in range(30):
        result = env.reset(seed=seed)
        task = result.observation.metadata["task"]
        assert task["instruction"].strip() and task["id"] and result.reward is None
        tasks[seed] = task["id"]
    assert len(set(tasks.values())) >= 20
    seen = []
    for _ in range(2):
        first = env.reset(seed=5)
        people = _call(env, "list_people", limit=20, order_by="id").observation.data
        seen.append((first.observation.metadata["task"]["id"], people))
    assert seen[0] == seen[1] and seen[0][0] == tasks[5]


def test_steps_carry_numeric_rewards_and_submit_answer_ends_with_a_reward_in_0_1(env: CrmAgentEnv) -> None:
    env.reset(seed=3, task_id=TASKS[0].id)
    listed = _call(env, "list_companies", limit=2)
    assert listed.reward == 0.0 and listed.done is False and listed.observation.reward == 0.0
    bad = env.step(env.parse_tool_call({"name": "get_person", "arguments": {"record_id": "nope"}}).action)
    assert bad.observation.success is False and bad.reward == 0.0 and bad.done is False
    final = _call(env, "submit_answer", answer="I am not sure.")
    assert final.done is True and isinstance(final.reward, float) and 0.0 <= final.reward <= 1.0
    assert final.observation.metadata["grade"]["score"] == final.reward
    state = env.state()
    assert state.terminated is True and state.truncated is False and state.success is (final.reward == 1.0)
    assert state.step_count == 3


def test_the_step_limit_truncates_through_the_client(env: CrmAgentEnv) -> None:
    env.reset(seed=4, max_steps=1)
    result = _call(env, "list_people", limit=1)
    assert result.done is True and isinstance(result.reward, float)
    state = env.state()
    assert state.truncated is True and state.terminated is False


class ToolCallingEnv(CrmAgentEnv):
    """The client's documented extension point: our tool calls carry the server's whole vocabulary."""

    def parse_tool_call(self, tool_call: dict[str, Any]) -> Any:
        from construct_labs_crm_env import CrmAgentAction
        from construct_labs_crm_env.protocol import ParsedAction

        return ParsedAction(CrmAgentAction(action_type=tool_call["name"], **tool_call["arguments"]), True)


class ReferenceAgent:
    """``get_action`` as the Construct Labs README calls it, answering with the reference solution."""

    def __init__(self) -> None:
        self.policy = ReferencePolicy(TASKS)
        self.episodes = 0

    def get_action(self, system_prompt: str, tools: list[dict[str, Any]], observation: Any) -> dict[str, Any]:
        if "task" in observation.metadata:
            self.episodes += 1
            self.task, self.history = observation.metadata["task"], []
        elif self.history:
            self.history[-1] = (self.history[-1][0], observation.model_dump())
        turn = Turn(self.task, observation.model_dump(), list(self.history), episode_id=str(self.episodes))
        action = self.policy(turn)
        self.history.append((action, {}))
        return {
            "name": action["action_type"],
            "arguments": {k: v for k, v in action.items() if k != "action_type"},
        }


def test_the_readme_rollout_loop_collects_full_rewards_with_the_reference_agent(
    server: BackgroundEnvServer,
) -> None:
    # collect_rollout of the Construct Labs README, verbatim but for the names.
    @dataclass
    class Rollout:
        observations: list[Any] = field(default_factory=list)
        actions: list[dict[str, Any]] = field(default_factory=list)
        rewards: list[float] = field(default_factory=list)
        done: bool = False
        total_reward: float = 0.0

    def collect_rollout(env: CrmAgentEnv, agent: Any, seed: int | None = None) -> Rollout:
        rollout = Rollout()
        result = env.reset(seed=seed)
        rollout.observations.append(result.observation)
        while not result.done:
            tool_call = agent.get_action(
                system_prompt=env.system_prompt, tools=env.tools, observation=result.observation
            )
            parsed = env.parse_tool_call(tool_call)
            if parsed.is_valid:
                result = env.step(parsed.action)
                reward = result.reward if result.reward is not None else 0.0
            else:
                reward = -1.0
                result.done = True
            rollout.actions.append(tool_call)
            rollout.rewards.append(reward)
            rollout.observations.append(result.observation)
        rollout.done = True
        rollout.total_reward = sum(rollout.rewards)
        return rollout

    agent = ReferenceAgent()
    with ToolCallingEnv(base_url=server.url.replace("ws://", "http://"), api_key=API_KEY) as env:
        rollouts = [collect_rollout(env, agent, seed=seed) for seed in range(30)]
    assert [r.total_reward for r in rollouts] == [1.0] * 30
    assert group_advantages([r.total_reward for r in rollouts]) == [0.0] * 30
