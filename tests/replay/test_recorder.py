"""Recording: a conversation run on a chat model becomes a cassette that replays as a passing test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from converso.form_agent import FormAgentExecutor
from converso.testing import ScriptedChatModel
from converso.testing.cassette import load_cassette
from converso.testing.recorder import CassetteRecorder
from converso.testing.replay import replay
from converso.testing.world import find_world
from crm_tools.cassette_world import CRMWorld
from tests.replay.tiny_world import BookTable, TinyWorld

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _record(tmp_path: Path, world_factory: type, responses: list, turns: list[str]) -> CassetteRecorder:
    """Run ``turns`` on a scripted model standing in for a live LLM, with a recorder attached."""
    world = world_factory(CassetteRecorder(None).crm, tmp_path / "live", NOW)
    model = ScriptedChatModel(responses=responses)
    recorder = CassetteRecorder(tmp_path / "recorded.cassette.yaml", now=NOW)
    with FormAgentExecutor(
        tools=list(world.tools), model=model, clock=lambda: NOW, callbacks=[recorder]
    ) as executor:
        for text in turns:
            recorder.record_turn(text, executor.send("live", text))
    world.close()
    return recorder


def test_a_recorded_crm_conversation_replays_and_passes(tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    recorder = _record(
        tmp_path,
        CRMWorld,
        [
            {"tool_calls": [{"name": "CreateCompanyStart", "args": {}}]},
            {"tool_calls": [{"name": "FormUpdate", "args": {"name": "Acme", "employees": 12}}]},
            {"tool_calls": [{"name": "FormFinalize", "args": {"confirm": True}}]},
        ],
        ["Add the company Acme, 12 people", "yes"],
    )

    path = recorder.save()
    result = replay(load_cassette(path), world=find_world("crm"))

    assert result.passed, result.report()
    assert [c["name"] for c in result.written["companies"]] == ["Acme"]


def test_a_forced_tool_choice_is_recorded_as_an_expectation(tmp_path: Path) -> None:
    recorder = _record(
        tmp_path,
        TinyWorld,
        [
            {"tool_calls": [{"name": "BookTableStart", "args": {}}]},
            {"tool_calls": [{"name": "FormUpdate", "args": {"guest": "Ada"}}]},
            "Booked for Ada? Shall I confirm?",
        ],
        ["A table for Ada"],
    )

    items = recorder.turns[0].model
    assert [item.expect_tool_choice for item in items] == [None, "FormUpdate", None]
    assert recorder.turns[0].expect.reply == "Booked for Ada? Shall I confirm?"
    form = recorder.turns[0].expect.form
    assert form is not None and (form.name, form.state, form.values) == (
        "BookTable",
        "FILLED",
        {"guest": "Ada"},
    )


def test_malformed_arguments_are_recorded_verbatim(tmp_path: Path) -> None:
    recorder = _record(
        tmp_path,
        TinyWorld,
        [
            {"tool_calls": [{"name": "BookTableStart", "args": {}}]},
            {"tool_calls": [{"name": "FormUpdate", "args": '{"guest": "Ad'}]},
            "Sorry, what name?",
        ],
        ["A table please"],
    )

    assert recorder.turns[0].model[1].tool_calls[0].args == '{"guest": "Ad'
    assert replay(recorder.cassette(), world=TinyWorld).passed


def test_record_ids_are_left_out_of_expectations(tmp_path: Path) -> None:
    (tmp_path / "live").mkdir()
    recorder = _record(
        tmp_path,
        CRMWorld,
        [
            {"tool_calls": [{"name": "CreateCompanyStart", "args": {}}]},
            {"tool_calls": [{"name": "FormUpdate", "args": {"name": "Acme"}}]},
            {"tool_calls": [{"name": "FormFinalize", "args": {"confirm": True}}]},
        ],
        ["Add Acme", "yes"],
    )

    assert recorder.turns[1].expect.reply is None
    assert recorder.turns[1].expect.reply_contains == "Created company Acme"


def test_a_turn_whose_model_call_failed_is_dropped(tmp_path: Path) -> None:
    recorder = _record(
        tmp_path,
        TinyWorld,
        [RuntimeError("provider down"), "Hello! How can I help?"],
        ["hi", "hi again"],
    )

    assert [turn.user for turn in recorder.turns] == ["hi again"]
    assert replay(recorder.cassette(), world=TinyWorld).passed


def test_nothing_is_written_when_no_turn_was_recorded(tmp_path: Path) -> None:
    recorder = CassetteRecorder(tmp_path / "empty.cassette.yaml")

    assert recorder.save() is None
    assert not (tmp_path / "empty.cassette.yaml").exists()


def test_a_conversation_through_chat_openai_records_and_replays(tmp_path: Path) -> None:
    from converso.form_agent.model_factory import ModelFactory
    from converso.testing.openai_server import ScriptedOpenAIServer, call, text, tool_calls

    script = [
        tool_calls(call("CreateCompanyStart")),
        tool_calls(call("FormUpdate", {})),
        text("Sure. What is the company called?"),
        tool_calls(call("FormUpdate", {"name": "Acme", "domain": "acme.com", "employees": 250})),
        tool_calls(call("FormFinalize", {"confirm": True})),
    ]
    world = CRMWorld(CassetteRecorder(None).crm, tmp_path, NOW)
    with ScriptedOpenAIServer(script) as server:
        models = ModelFactory("scripted", base_url=server.base_url, api_key="test", max_retries=0)
        with FormAgentExecutor(tools=list(world.tools), model=models, clock=lambda: NOW) as executor:
            recorder = CassetteRecorder(tmp_path / "live.cassette.yaml", model=executor, now=NOW)
            for line in ("I'd like to add a company", "Acme, acme.com, 250 people", "yes"):
                recorder.record_turn(line, executor.send("t", line))
    world.close()

    path = recorder.save()
    assert path is not None
    cassette = load_cassette(path)
    assert cassette.turns[0].model[1].expect_tool_choice == "FormUpdate"
    result = replay(cassette)
    assert result.passed, result.report()
    assert [(c["name"], c["employees"]) for c in result.written["companies"]] == [("Acme", 250)]


def test_the_recorder_attaches_to_an_executor_without_touching_the_chat_model(tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=["Hello! How can I help?"])
    with FormAgentExecutor(tools=[BookTable()], model=model) as executor:
        recorder = CassetteRecorder(tmp_path / "hello.cassette.yaml", model=executor, now=NOW)
        recorder.record_turn("hi", executor.send("t", "hi"))
    assert model.callbacks is None
    assert [item.text for item in recorder.turns[0].model] == ["Hello! How can I help?"]
