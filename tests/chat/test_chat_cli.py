"""`converso chat` driven in a pseudo-terminal against a local OpenAI-compatible server."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from typer.testing import CliRunner

from converso.cli import app
from converso.form_agent import FormAgentExecutor
from converso.testing.held_model import HeldModelServer
from converso.testing.openai_server import ScriptedOpenAIServer, call, delay, text, tool_calls
from crm_tools.store import open_backend

CONVERSO = str(Path(sys.executable).with_name("converso"))
PROMPT = "you ›"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CONVERSO_"))}
    env.update({"TERM": "xterm", "COLUMNS": "120", "LINES": "40", **extra})
    return env


def spawn_chat(server: ScriptedOpenAIServer | HeldModelServer, data_dir: Path, *args: str) -> pexpect.spawn:
    return pexpect.spawn(
        CONVERSO,
        [
            "chat",
            "--base-url",
            server.base_url,
            "--api-key",
            "test",
            "--model",
            "scripted",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        env=clean_env(),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
    )


def expect_prompt(child: pexpect.spawn) -> str:
    child.expect_exact(PROMPT)
    return ANSI.sub("", child.before)


def say(child: pexpect.spawn, line: str) -> str:
    """Type a line; return what the chat printed until the next prompt (colours stripped)."""
    child.sendline(line)
    return expect_prompt(child)


def quit_chat(child: pexpect.spawn) -> None:
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


CREATE_ACME: list[Any] = [
    tool_calls(call("CreateCompanyStart")),
    tool_calls(call("FormUpdate", {})),
    text("Sure. What is the company called?"),
    tool_calls(call("FormUpdate", {"name": "Acme", "domain": "acme.com", "employees": 250})),
    tool_calls(call("FormFinalize", {"confirm": True})),
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def acme_server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(list(CREATE_ACME)) as server:
        yield server


def companies(data_dir: Path) -> list[dict[str, Any]]:
    backend = open_backend(f"sqlite:///{data_dir / 'crm.sqlite3'}")
    try:
        return backend.list("company")["data"]["companies"]
    finally:
        backend.close()


def test_a_conversation_streams_replies_shows_tools_and_the_form_and_creates_the_record(
    acme_server: ScriptedOpenAIServer, data_dir: Path
) -> None:
    child = spawn_chat(acme_server, data_dir)
    expect_prompt(child)
    first = say(child, "I'd like to add a company")
    second = say(child, "Acme, acme.com, 250 people")
    third = say(child, "yes")
    quit_chat(child)
    assert "Sure. What is the company called?" in first
    assert "⚙ CreateCompanyStart ok" in first
    assert "CreateCompany · ACTIVE" in first and "→ name  (next)" in first
    assert "CreateCompany · FILLED" in second and "✓ employees: 250" in second
    assert "Created company Acme" in third
    assert [(c["name"], c["employees"]) for c in companies(data_dir)] == [("Acme", 250)]


def test_without_a_model_it_says_what_to_set_and_points_to_the_demo(tmp_path: Path) -> None:
    child = pexpect.spawn(
        CONVERSO,
        ["chat", "--data-dir", str(tmp_path)],
        env=clean_env(),
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = ANSI.sub("", child.before)
    assert "No language model is configured" in screen
    assert "OPENAI_API_KEY" in screen and "OPENAI_BASE_URL" in screen and "CONVERSO_MODEL" in screen
    assert "converso demo" in screen
    assert child.exitstatus == 2


def test_a_conversation_resumes_with_thread_after_a_restart(
    acme_server: ScriptedOpenAIServer, data_dir: Path
) -> None:
    child = spawn_chat(acme_server, data_dir, "--thread", "t-resume")
    expect_prompt(child)
    say(child, "I'd like to add a company")
    quit_chat(child)
    child = spawn_chat(acme_server, data_dir, "--thread", "t-resume")
    banner = expect_prompt(child)
    answer = say(child, "Acme, acme.com, 250 people")
    quit_chat(child)
    assert "CreateCompany · ACTIVE" in banner
    assert "you: I'd like to add a company" in banner
    assert "assistant: Sure. What is the company called?" in banner
    assert "CreateCompany · FILLED" in answer


def test_commands_list_the_forms_reset_the_form_and_start_new_threads(
    acme_server: ScriptedOpenAIServer, data_dir: Path
) -> None:
    child = spawn_chat(acme_server, data_dir, "--thread", "t-commands")
    expect_prompt(child)
    help_text = say(child, "/help")
    forms = say(child, "/forms")
    say(child, "I'd like to add a company")
    reset = say(child, "/reset")
    new = say(child, "/new")
    unknown = say(child, "/bogus")
    quit_chat(child)
    assert "/reset" in help_text and "/new" in help_text
    assert "CreateCompany" in forms and "create a company" in forms.lower()
    # Query syntax in a description is shown as written (Rich markup would have eaten "[ilike]").
    assert 'name[ilike]:"%acme%",employees[gte]:100' in " ".join(forms.split())
    assert "dropped CreateCompany" in reset
    assert "new conversation: thread" in new
    assert "Unknown command /bogus" in unknown


def test_ctrl_c_during_a_reply_undoes_the_turn_and_a_second_ctrl_c_exits(data_dir: Path) -> None:
    script = [
        tool_calls(call("CreateCompanyStart")),
        tool_calls(call("FormUpdate", {})),
        text("Sure. What is the company called?"),
        text("This answer is slow", delay=2.0),
    ]
    with ScriptedOpenAIServer(script) as server:
        child = spawn_chat(server, data_dir, "--thread", "t-cancel")
        expect_prompt(child)
        say(child, "I'd like to add a company")
        child.sendline("Acme")
        child.expect_exact("assistant ›")
        child.sendintr()
        after_cancel = expect_prompt(child)
        child.sendintr()
        child.expect(pexpect.EOF)
        child.close()
    assert "nothing from this message was kept" in after_cancel
    executor = FormAgentExecutor(tools=[], checkpointer=str(data_dir / "threads.sqlite"))
    try:
        texts = [m.text for m in executor.messages("t-cancel") if type(m).__name__ == "HumanMessage"]
    finally:
        executor.close()
    assert texts == ["I'd like to add a company"]


def test_record_writes_the_conversation_as_a_cassette(
    acme_server: ScriptedOpenAIServer, data_dir: Path
) -> None:
    cassette = data_dir.parent / "acme.cassette.yaml"
    child = spawn_chat(acme_server, data_dir, "--record", str(cassette))
    expect_prompt(child)
    for line in ("I'd like to add a company", "Acme, acme.com, 250 people", "yes"):
        say(child, line)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    written = cassette.read_text()
    assert child.exitstatus == 0
    assert "I'd like to add a company" in written
    assert "FormFinalize" in written


def test_system_prompt_from_a_file_replaces_the_built_in_instructions(data_dir: Path) -> None:
    instructions = data_dir.parent / "prompt.txt"
    instructions.write_text("You are the front desk of Acme Corp. Be brief.", encoding="utf-8")
    with ScriptedOpenAIServer([text("Hello, Acme front desk.")]) as server:
        child = spawn_chat(server, data_dir, "--system-prompt", f"@{instructions}")
        expect_prompt(child)
        assert "Hello, Acme front desk." in say(child, "hi")
        quit_chat(child)
        system = server.requests[0].messages[0]
    assert system["role"] == "system"
    assert system["content"].startswith(
        "You are the front desk of Acme Corp. Be brief.\nTo create or change a record"
    )


def test_model_timeout_and_max_retries_reach_the_model(data_dir: Path) -> None:
    with ScriptedOpenAIServer([delay(2), text("too late")]) as server:
        child = spawn_chat(server, data_dir, "--model-timeout", "0.5", "--max-retries", "0")
        expect_prompt(child)
        reply = say(child, "hi")
        quit_chat(child)
        assert len(server.requests) == 1
    assert "Sorry, the language model failed" in reply


def test_an_unknown_model_provider_is_reported_at_start(data_dir: Path) -> None:
    for command in (["chat"], ["serve", "--client-key", "k"]):
        result = CliRunner().invoke(
            app,
            [*command, "--model", "antropic:claude-sonnet-4-5", "--data-dir", str(data_dir)],
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 2, result.output
        assert "The model settings do not work: unknown model provider 'antropic'" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_ctrl_c_closes_the_model_request_and_the_next_message_reaches_the_model(data_dir: Path) -> None:
    # The first answer is held and never released: the next message can only be answered if Ctrl-C
    # really stopped the turn, rather than leaving it to wait for the model in the background.
    with HeldModelServer("Hello again.", hold=1) as server:
        child = spawn_chat(server, data_dir, "--thread", "t-held")
        expect_prompt(child)
        child.sendline("hello")
        assert server.wait_for_requests(1)
        child.sendintr()
        after_cancel = expect_prompt(child)
        assert server.wait_for_drops(1)
        answered = say(child, "are you there?")
        quit_chat(child)
    assert "nothing from this message was kept" in after_cancel
    assert "Hello again." in answered
    assert server.requests == 2
