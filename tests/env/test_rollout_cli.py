"""`crm-env rollout` as a user runs it, against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from converso.testing.openai_server import ScriptedOpenAIServer, text
from crm_tools.cli import app
from crm_tools.env_server import BackgroundEnvServer
from tests.conftest import free_port
from tests.env.conftest import API_KEY


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundEnvServer]:
    with BackgroundEnvServer(api_keys=[API_KEY]) as running:
        yield running


def _rollout(*args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(app, ["rollout", *args])
    return result.exit_code, result.stdout.splitlines(), result.stderr


def test_the_reference_policy_earns_a_mean_reward_of_one_over_30_episodes(
    server: BackgroundEnvServer,
) -> None:
    code, lines, _ = _rollout(
        "--policy", "reference", "--episodes", "30", "--url", server.url, "--api-key", API_KEY
    )
    assert code == 0
    assert len(lines) == 31 and lines[-1] == "mean reward: 1.0"
    assert lines[0].startswith("seed    0") and lines[0].endswith("reward 1.000")


def test_the_noop_policy_earns_little(server: BackgroundEnvServer) -> None:
    code, lines, _ = _rollout(
        "--policy", "noop", "--episodes", "30", "--url", server.url, "--api-key", API_KEY
    )
    assert code == 0 and lines[-1].startswith("mean reward: ")
    assert float(lines[-1].removeprefix("mean reward: ")) < 0.25


def test_a_bad_key_an_unreachable_server_and_an_unknown_policy_are_one_line_each(
    server: BackgroundEnvServer,
) -> None:
    code, _, err = _rollout("--url", server.url, "--api-key", "wrong", "--episodes", "1")
    assert code == 1 and "refused the API key" in err and "Traceback" not in err
    code, _, err = _rollout("--url", f"ws://127.0.0.1:{free_port()}", "--api-key", API_KEY, "--episodes", "1")
    assert code == 1 and "Cannot connect" in err
    code, _, err = _rollout("--url", server.url, "--api-key", API_KEY, "--policy", "clever")
    assert code == 2 and "unknown policy" in err and "noop" in err
    code, _, err = _rollout("--url", server.url, "--api-key", API_KEY, "--task-id", "nope", "--episodes", "1")
    assert code == 1 and "Unknown task_id 'nope'" in err


def test_the_llm_policy_runs_from_the_command_line_against_an_openai_compatible_endpoint(
    server: BackgroundEnvServer,
) -> None:
    with ScriptedOpenAIServer(handler=lambda request: text("I could not find it.")) as model:
        code, lines, err = _rollout(
            "--policy", "llm", "--episodes", "2", "--url", server.url, "--api-key", API_KEY,
            "--model", "scripted", "--llm-base-url", model.base_url, "--llm-api-key", "test",
        )  # fmt: skip
        requests = model.requests
    assert code == 0, err
    assert len(lines) == 3 and lines[-1].startswith("mean reward: ")
    assert len(requests) == 2 and all("submit_answer" in r.tool_names for r in requests)
