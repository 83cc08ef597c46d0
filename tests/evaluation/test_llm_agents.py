"""The LLM agents end to end: `converso eval` runs the converso and flat agents against an LLM-driven
simulated user, all through ChatOpenAI over HTTP to a local OpenAI-compatible server, the path a real key
takes. The server's policy stands in for the models' decisions only: as the user it speaks the task's
reference lines and then says DONE; as the agent it makes the choices a capable model would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from converso.cli import app
from converso.evaluation.runner import read_results
from converso.testing import RecordedRequest, ScriptedOpenAIServer
from converso.testing.openai_server import status, tool_calls
from crm_tools.tasks import Task, load_tasks

CATEGORY = "create_all_at_once"
TASKS = load_tasks(category=CATEGORY)
ALL_TASKS = load_tasks()


def _task_by_goal(request: RecordedRequest) -> Task:
    system = request.messages[0]["content"]
    return next(task for task in ALL_TASKS if task.goal.strip() in system)


def _task_by_first_message(request: RecordedRequest) -> Task:
    first = next(m["content"] for m in request.messages if m["role"] == "user")
    return next(task for task in ALL_TASKS if task.utterances[0] == first)


def _position(request: RecordedRequest) -> tuple[int, int]:
    """(user turn, model call within the turn) of an agent request; converso's state note after the
    history is the engine's, not a user turn."""
    roles = [m["role"] for m in request.messages if not str(m.get("content", "")).startswith("[Form note]")]
    last_user = len(roles) - 1 - roles[::-1].index("user")
    return roles.count("user") - 1, roles[last_user:].count("assistant")


def simulated_user(request: RecordedRequest) -> str:
    task = _task_by_goal(request)
    # openevals shows the user model its own earlier lines as the assistant's.
    said = sum(1 for m in request.messages if m["role"] == "assistant")
    return task.utterances[said] if said < len(task.utterances) else "DONE"


def converso_policy(request: RecordedRequest) -> Any:
    task = _task_by_first_message(request)
    turn, call = _position(request)
    reference = task.reference[turn]
    if call < len(reference.calls):
        step = reference.calls[call]
        return tool_calls((step.name, dict(step.args)))
    return reference.say or "Done."


def flat_policy(request: RecordedRequest) -> Any:
    task = _task_by_first_message(request)
    turn, call = _position(request)
    (record,) = task.expected.create
    if turn == 0:
        return f"I will create this {record.object}: {record.fields}. Shall I save it?"
    if call == 0:
        args = {
            f"{record.object}_{name}": value for name, value in record.fields.items() if name != "currency"
        }
        return tool_calls((f"create_{record.object}", args))
    return f"Saved the {record.object}."


def serve(agent_policy: Any) -> ScriptedOpenAIServer:
    def handler(request: RecordedRequest) -> Any:
        if request.model == "user-model":
            return simulated_user(request)
        return agent_policy(request)

    return ScriptedOpenAIServer(handler=handler, models=("agent-model", "user-model"))


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CONVERSO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    yield


def evaluate(server: ScriptedOpenAIServer, out: Path, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(
        app,
        [
            "eval", "--base-url", server.base_url, "--api-key", "test", "--model", "agent-model",
            "--out", str(out), "--concurrency", "2", *args,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return read_results(out)


@pytest.mark.parametrize(("agent", "policy"), [("converso", converso_policy), ("flat", flat_policy)])
def test_an_llm_agent_completes_tasks_with_an_llm_driven_user(
    agent: str, policy: Any, tmp_path: Path, isolated_env: None
) -> None:
    with serve(policy) as server:
        rows = evaluate(
            server, tmp_path, "--agent", agent, "--category", CATEGORY, "--user-model", "user-model"
        )
    assert len(rows) == len(TASKS)
    for row in rows:
        assert (row["success"], row["reasons"]) == (True, []), row["task_id"]
        assert (row["user"], row["stopped_by"], row["user_turns"]) == ("simulated", "user: goal reached", 2)
        assert row["llm_calls"] >= 2 and row["prompt_tokens"] > 0
    assert {r.model for r in server.requests} == {"agent-model", "user-model"}
    if agent == "flat":
        tools = next(r for r in server.requests if r.model == "agent-model").tool_names
        assert len(tools) == 22 and "create_company" in tools and "submit_answer" in tools


def test_converso_with_an_llm_user_solves_a_task_of_every_category(
    tmp_path: Path, isolated_env: None
) -> None:
    first: dict[str, Task] = {}
    for task in ALL_TASKS:
        first.setdefault(task.category, task)
    chosen = [option for task in first.values() for option in ("--task", task.id)]
    with serve(converso_policy) as server:
        rows = evaluate(server, tmp_path, "--agent", "converso", "--user-model", "user-model", *chosen)
    assert sorted(row["category"] for row in rows) == sorted(first)
    for row in rows:
        assert (row["success"], row["reasons"], row["stopped_by"]) == (True, [], "user: goal reached"), row[
            "task_id"
        ]
        assert row["user_turns"] == len(first[row["category"]].utterances)


def test_a_failing_model_fails_its_episodes_and_the_run_goes_on(tmp_path: Path, isolated_env: None) -> None:
    with serve(lambda request: status(400, message="model overloaded")) as server:
        rows = evaluate(
            server, tmp_path, "--agent", "converso,flat", "--category", "cancel", "--scripted-user"
        )
    assert len(rows) == 2 * len(load_tasks(category="cancel"))
    for row in rows:
        assert row["success"] is False
        assert row["error"] and "model overloaded" in row["error"]
        assert row["reasons"][0].startswith("the agent failed: ")
        assert row["user_turns"] == 1


def test_a_failing_user_model_fails_its_episodes_with_the_reason(tmp_path: Path, isolated_env: None) -> None:
    def handler(request: RecordedRequest) -> Any:
        if request.model == "user-model":
            return status(400, message="user model unavailable")
        return converso_policy(request)

    with ScriptedOpenAIServer(handler=handler, models=("agent-model", "user-model")) as server:
        rows = evaluate(
            server, tmp_path, "--agent", "converso", "--category", CATEGORY, "--user-model", "user-model"
        )
    assert len(rows) == len(TASKS)
    for row in rows:
        assert (row["success"], row["user_turns"], row["stopped_by"]) == (False, 0, "user model failed")
        assert row["reasons"][0].startswith("the simulated user's model failed: ")
        assert "user model unavailable" in row["reasons"][0]
    assert all(r.model == "user-model" for r in server.requests)
