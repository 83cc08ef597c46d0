"""Task episodes over the real server: tasks from seeds, graded rewards, the step limit, the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection

from crm_tools.backends.sql import SqlBackend
from crm_tools.env.episodes import TaskCatalog, seed_order
from crm_tools.env.policies import ReferencePolicy, noop_policy
from crm_tools.env.protocol import ResetOptions
from crm_tools.env.rollout import EnvConnection, collect_rollout
from crm_tools.env.session import EpisodeSource, Session
from crm_tools.env_server import BackgroundEnvServer
from crm_tools.seed import seed_demo_data
from crm_tools.tasks import load_tasks
from tests.env.conftest import API_KEY, open_ws, send, step

TASKS = load_tasks()
ORDER = seed_order(TASKS)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundEnvServer]:
    with BackgroundEnvServer(api_keys=[API_KEY]) as running:
        yield running


def reset(ws: ClientConnection, **data: Any) -> dict[str, Any]:
    reply = send(ws, {"type": "reset", "data": data})
    assert reply["type"] == "observation", reply
    return reply["data"]


def state(ws: ClientConnection) -> dict[str, Any]:
    return send(ws, {"type": "state"})["data"]


def _write_task() -> str:
    return next(task.id for task in TASKS if task.kind == "write")


def test_a_seed_starts_a_task_episode_with_an_instruction(server: BackgroundEnvServer) -> None:
    with open_ws(server.url) as ws:
        first = reset(ws, seed=0)
        assert first["reward"] is None and first["done"] is False
        task = first["observation"]["metadata"]["task"]
        assert task["id"] == ORDER[0].id and task["instruction"] == ORDER[0].instruction
        assert task["category"] == ORDER[0].category and task["max_steps"] == 50
        assert state(ws)["task_id"] == ORDER[0].id
        assert reset(ws, seed=len(TASKS))["observation"]["metadata"]["task"]["id"] == ORDER[0].id


def test_consecutive_seeds_go_through_every_category_and_every_task() -> None:
    categories = {task.category for task in TASKS}
    assert {task.category for task in ORDER[: len(categories)]} == categories
    assert sorted(task.id for task in ORDER) == [task.id for task in TASKS]


def test_the_same_seed_gives_the_same_task_records_and_created_ids(server: BackgroundEnvServer) -> None:
    seen = []
    for _ in range(2):
        with open_ws(server.url) as ws:
            task = reset(ws, seed=7)["observation"]["metadata"]["task"]
            people = step(ws, action_type="list_people", limit=20, order_by="id")["data"]
            created = step(ws, action_type="create_company", company_name="Det")["data"]["data"][
                "createCompany"
            ]
            seen.append((task["id"], people, created["id"]))
    assert seen[0] == seen[1]
    with open_ws(server.url) as ws:
        reset(ws, seed=8)
        other = step(ws, action_type="create_company", company_name="Det")["data"]["data"]["createCompany"]
    assert other["id"] != seen[0][2]


def test_steps_earn_zero_and_submit_answer_ends_with_the_graders_score(server: BackgroundEnvServer) -> None:
    with open_ws(server.url) as ws:
        reset(ws, task_id=_write_task(), seed=1)
        listed = step(ws, action_type="list_companies", limit=1)
        assert listed["reward"] == 0.0 and listed["done"] is False
        failed = step(ws, action_type="get_company", record_id="00000000-0000-4000-8000-000000000000")
        assert failed["success"] is False and failed["reward"] == 0.0 and failed["done"] is False
        meaningless = step(ws, action_type="update_company")  # well-formed, but no record_id
        assert meaningless["success"] is False and "record_id" in meaningless["error"]
        assert meaningless["done"] is False
        malformed = send(ws, {"type": "step", "data": {"action_type": "list_companies", "colour": "red"}})
        assert malformed["type"] == "error" and malformed["data"]["code"] == "VALIDATION_ERROR"
        reply = send(ws, {"type": "step", "data": {"action_type": "submit_answer", "answer": "done"}})["data"]
        assert reply["done"] is True and 0.0 <= reply["reward"] < 1.0
        assert reply["observation"]["reward"] == reply["reward"]
        metadata = reply["observation"]["metadata"]
        assert metadata["terminated"] is True and metadata["truncated"] is False
        assert metadata["grade"]["score"] == reply["reward"] and metadata["grade"]["reasons"]
        after = state(ws)
        assert after["done"] and after["terminated"] and not after["truncated"] and after["success"] is False
        assert after["step_count"] == 4 and after["reward"] == reply["reward"]
        late = step(ws, action_type="list_companies")
        assert late["success"] is False and late["done"] is True and late["reward"] == 0.0


def test_the_step_limit_truncates_the_episode_with_the_score_so_far(server: BackgroundEnvServer) -> None:
    with open_ws(server.url) as ws:
        reset(ws, task_id=_write_task(), max_steps=2)
        assert step(ws, action_type="list_companies")["done"] is False
        last = step(ws, action_type="list_people")
        assert last["done"] is True and isinstance(last["reward"], float)
        assert last["metadata"]["truncated"] is True and last["metadata"]["terminated"] is False
        after = state(ws)
        assert after["truncated"] is True and after["terminated"] is False and after["max_steps"] == 2


def test_an_unknown_task_id_is_refused_with_the_ids_there_are(server: BackgroundEnvServer) -> None:
    with open_ws(server.url) as ws:
        reply = send(ws, {"type": "reset", "data": {"task_id": "no-such-task"}})
        assert reply["type"] == "error" and reply["data"]["code"] == "VALIDATION_ERROR"
        assert TASKS[0].id in reply["data"]["message"]


def test_without_a_seed_or_with_sandbox_there_is_no_task_and_no_reward(server: BackgroundEnvServer) -> None:
    with open_ws(server.url) as ws:
        first = reset(ws)
        assert "task" not in first["observation"]["metadata"]
        assert step(ws, action_type="list_companies")["data"]["totalCount"] == 0
        assert step(ws, action_type="submit_answer", answer="x")["reward"] is None
        assert "task_id" not in state(ws)
        seeded = reset(ws, seed=11, sandbox=True)
        assert "task" not in seeded["observation"]["metadata"]
        listed = step(ws, action_type="list_companies", limit=1)
        assert listed["data"]["totalCount"] > 0 and listed["reward"] is None


def test_the_reference_policy_earns_full_marks_on_every_task_and_noop_little(
    server: BackgroundEnvServer,
) -> None:
    reference = ReferencePolicy(TASKS)
    with EnvConnection(server.url, API_KEY) as env:
        solved = {
            task.id: collect_rollout(env, reference, task_id=task.id, seed=n) for n, task in enumerate(TASKS)
        }
        idle = [collect_rollout(env, noop_policy, seed=n) for n in range(len(TASKS))]
    failures = {
        task_id: rollout.observations[-1]["metadata"]["grade"]
        for task_id, rollout in solved.items()
        if rollout.reward != 1.0
    }
    assert failures == {}
    assert all(rollout.done and not rollout.truncated for rollout in solved.values())
    assert sum(rollout.reward for rollout in idle) / len(idle) < 0.25


def test_one_connection_moves_between_data_sets_without_leftovers(server: BackgroundEnvServer) -> None:
    # Released CRMs are reloaded with the next episode's database: nothing of the last one may remain.
    empty = next(task for task in TASKS if task.crm_seed is None)
    seeded = next(task for task in TASKS if task.crm_seed is not None)
    with open_ws(server.url) as ws, open_ws(server.url) as other:
        counts = []
        for task in (empty, seeded, empty, seeded):
            reset(other, task_id=task.id)
            reset(ws, task_id=task.id)
            step(ws, action_type="create_company", company_name="Leftover?")
            step(other, action_type="create_company", company_name="Leftover?")
            listed = step(ws, action_type="list_companies", filter='name[eq]:"Leftover?"')
            counts.append(
                (
                    listed["data"]["totalCount"],
                    step(ws, action_type="list_people", limit=1)["data"]["totalCount"],
                )
            )
        assert counts[0] == counts[2] == (1, 0) and counts[1] == counts[3] and counts[1][1] > 0


def test_with_shaping_each_write_earns_its_change_of_the_score_and_the_rewards_add_up(
    server: BackgroundEnvServer,
) -> None:
    # A task with several expected creates, so the score rises step by step.
    task = next(t for t in TASKS if len(t.expected.create) >= 2 and not t.expected.update)
    with EnvConnection(server.url, API_KEY) as env:
        shaped = collect_rollout(env, ReferencePolicy(TASKS), task_id=task.id, seed=1, shaping=True)
        plain = collect_rollout(env, ReferencePolicy(TASKS), task_id=task.id, seed=1)
    assert shaped.task and shaped.observations[0]["metadata"]["shaping"] is True
    assert abs(shaped.reward - 1.0) < 1e-9 and plain.reward == 1.0
    writes = [
        r
        for a, r in zip(shaped.actions, shaped.rewards, strict=True)
        if a["action_type"].startswith("create")
    ]
    assert len([r for r in writes if r > 0]) >= 2 and shaped.rewards[-1] < 1.0
    reads = [
        r for a, r in zip(shaped.actions, shaped.rewards, strict=True) if a["action_type"].startswith("list")
    ]
    assert all(r == 0.0 for r in reads)
    assert plain.rewards[:-1] == [0.0] * (len(plain.rewards) - 1)


def test_the_step_limit_is_the_servers_unless_the_reset_names_one(tmp_path) -> None:
    with BackgroundEnvServer(api_keys=[API_KEY], max_steps=2) as limited, open_ws(limited.url) as ws:
        assert reset(ws, seed=0)["observation"]["metadata"]["task"]["max_steps"] == 2
        assert reset(ws, seed=0, max_steps=9)["observation"]["metadata"]["task"]["max_steps"] == 9
    store = f"sqlite:///{tmp_path / 'crm.db'}"
    with BackgroundEnvServer(api_keys=[API_KEY], store=store) as shared, open_ws(shared.url) as ws:
        assert "task" not in reset(ws, seed=0)["observation"]["metadata"]  # a shared store ignores seeds
        refused = send(ws, {"type": "reset", "data": {"task_id": TASKS[0].id}})
        assert refused["type"] == "error" and "episode server" in refused["data"]["message"]


def test_a_prepared_catalog_starts_every_task_without_seeding_or_snapshots() -> None:
    source = EpisodeSource(
        lambda image, new_id: SqlBackend("sqlite://", image=image, new_id=new_id), seed_demo_data
    )
    catalog = TaskCatalog(TASKS)
    session = Session(source, tasks=catalog)
    seeds = [ResetOptions(seed=n) for n in range(len(TASKS))]
    assert not all(session.reset_is_quick(options) for options in seeds)
    catalog.prepare(source)
    assert all(session.reset_is_quick(options) for options in seeds)
    session.close()
    source.close()
