"""The strict cassette runner: a cassette's turns through the real engine, with a scripted model.

Each model item answers exactly one LLM call and checks the request that call received. A turn
that makes more calls than it scripts, or fewer, fails and says which turn and which call. The
run stops at the first failure, since later turns would only repeat it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converso.form_agent.executor import FormAgentExecutor
from converso.form_agent.reply import Event, FormEvent, ReplyEvent, ToolEvent
from converso.form_agent.state import FormDisplay, PublicForm
from converso.testing._matching import assign_distinct, diff, matches, project_records
from converso.testing.cassette import Cassette, FormExpectation, ModelItem, Turn
from converso.testing.scripted import ScriptedChatModel, ScriptedRequest
from converso.testing.world import World, WorldFactory, find_world

THREAD_ID = "cassette"


@dataclass(frozen=True)
class ReplayFailure:
    """What went wrong and where: ``where`` is e.g. ``turn 2 ("acme.com"), model call 1``."""

    where: str
    message: str
    diff: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text}\n{self.diff}" if self.diff else text


@dataclass
class TurnTranscript:
    """One turn as it happened, for people reading a replay (``converso demo``) and for diagnostics."""

    number: int
    user: str
    reply: str
    form: PublicForm | None
    tool_events: list[ToolEvent] = field(default_factory=list)
    form_events: list[FormEvent] = field(default_factory=list)
    requests: list[ScriptedRequest] = field(default_factory=list)
    error: str | None = None
    display: FormDisplay | None = None
    """The form after the turn as a person sees it (labels, linked records by name)."""


@dataclass
class ReplayResult:
    cassette: Cassette
    turns: list[TurnTranscript] = field(default_factory=list)
    failure: ReplayFailure | None = None
    # Records created or changed by the conversation, by object type.
    written: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.failure is None

    def written_nonempty(self) -> dict[str, list[dict[str, Any]]]:
        return {object_type: records for object_type, records in self.written.items() if records}

    def report(self) -> str:
        """The failure as replay prints it: cassette, file, then where and what, then the diff."""
        source = f" ({self.cassette.source})" if self.cassette.source else ""
        if self.failure is None:
            return f"PASSED {self.cassette.name}{source}"
        return f"FAILED {self.cassette.name}{source}\n{self.failure}"


class CassetteFailedError(AssertionError):
    def __init__(self, result: ReplayResult) -> None:
        super().__init__(result.report())
        self.result = result


def replay(
    cassette: Cassette,
    *,
    world: WorldFactory | None = None,
    data_dir: str | Path | None = None,
    on_turn: Callable[[TurnTranscript], None] | None = None,
    strict: bool = True,
) -> ReplayResult:
    """Run ``cassette`` against a fresh world; the result holds the first failure, if any.

    ``world`` defaults to the world the cassette names; ``data_dir`` (default: a temporary directory
    removed afterwards) holds the world's files. ``on_turn`` sees each turn as it completes. ``strict``
    (FormAgentExecutor's): a bug in a tool, a form's hook or a commit is raised, not told to the model.
    """
    factory = world or find_world(cassette.world)
    with _directory(data_dir) as directory:
        instance = factory(cassette.crm, directory, cassette.now)
        try:
            return _Run(cassette, instance, on_turn, strict).run()
        finally:
            instance.close()


def assert_replays(cassette: Cassette, **options: Any) -> ReplayResult:
    result = replay(cassette, **options)
    if not result.passed:
        raise CassetteFailedError(result)
    return result


@contextmanager
def _directory(data_dir: str | Path | None) -> Iterator[Path]:
    if data_dir is not None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="converso-replay-") as temporary:
        yield Path(temporary)


def _sequential_ids() -> Callable[[], str]:
    counter = 0

    def next_id() -> str:
        nonlocal counter
        counter += 1
        return f"{counter:032x}"

    return next_id


class _Run:
    def __init__(
        self,
        cassette: Cassette,
        world: World,
        on_turn: Callable[[TurnTranscript], None] | None,
        strict: bool = True,
    ) -> None:
        self.strict = strict
        self.cassette = cassette
        self.world = world
        self.on_turn = on_turn
        self.model = ScriptedChatModel(responses=[])
        self.result = ReplayResult(cassette)
        # Item checks run inside the model call, where raising would only abort the turn as a provider
        # failure; they note the first failure here instead, and the turn reports it when it ends.
        self.item_failures: list[ReplayFailure] = []

    def run(self) -> ReplayResult:
        baseline = self.world.records() if self.cassette.crm.seed is not None else {}
        executor = FormAgentExecutor(
            tools=list(self.world.tools),
            model=self.model,
            checkpointer=None,
            clock=lambda: self.cassette.now,
            id_factory=_sequential_ids(),
            strict=self.strict,
        )
        with executor:
            for number, turn in enumerate(self.cassette.turns, start=1):
                failure = self.play_turn(executor, number, turn)
                if failure is not None:
                    self.result.failure = failure
                    return self.result
        self.result.written = _changed(baseline, self.world.records())
        self.result.failure = self.check_crm(self.result.written)
        return self.result

    def play_turn(self, executor: FormAgentExecutor, number: int, turn: Turn) -> ReplayFailure | None:
        where = f'turn {number} ("{_short(turn.user)}")'
        first_request = len(self.model.requests)
        self.model.extend([self.answer(where, i, item) for i, item in enumerate(turn.model, start=1)])
        transcript = TurnTranscript(number=number, user=turn.user, reply="", form=None)
        for event in executor.stream(THREAD_ID, turn.user, tokens=False):
            _note(transcript, event)
        transcript.requests = self.model.requests[first_request:]
        transcript.display = executor.form_display(transcript.form)
        self.result.turns.append(transcript)
        if self.on_turn is not None:
            self.on_turn(transcript)
        return (
            self.count_calls(where, turn, transcript)
            or (self.item_failures[0] if self.item_failures else None)
            or self.check_turn(where, turn, transcript)
        )

    def answer(self, where: str, call: int, item: ModelItem) -> Callable[[ScriptedRequest], dict[str, Any]]:
        def respond(request: ScriptedRequest) -> dict[str, Any]:
            problem = _check_request(item, request)
            if problem is not None and not self.item_failures:
                message, detail = problem
                self.item_failures.append(ReplayFailure(f"{where}, model call {call}", message, detail))
            if item.tool_calls:
                calls = [
                    {"name": c.name, "args": c.args, **({"id": c.id} if c.id else {})}
                    for c in item.tool_calls
                ]
                return {"tool_calls": calls}
            return {"text": item.text or ""}

        return respond

    def count_calls(self, where: str, turn: Turn, transcript: TurnTranscript) -> ReplayFailure | None:
        made, scripted = len(transcript.requests), len(turn.model)
        if made > scripted:
            last = transcript.requests[scripted]
            return ReplayFailure(
                f"{where}, model call {scripted + 1}",
                f"the engine made LLM call {scripted + 1}, but the turn scripts only {scripted} "
                f"model item(s); add an item for it.",
                f"the request of call {scripted + 1}:\n{_describe_request(last)}",
            )
        if made < scripted:
            return ReplayFailure(
                f"{where}, model call {made + 1}",
                f"the turn ended after {made} LLM call(s) but scripts {scripted} model items; "
                f"{_unused(made, scripted)} (the reply was {transcript.reply!r}).",
            )
        return None

    def check_turn(self, where: str, turn: Turn, transcript: TurnTranscript) -> ReplayFailure | None:
        expect = turn.expect
        if expect.reply is not None and transcript.reply != expect.reply:
            return ReplayFailure(
                f"{where}, expect",
                "reply differs",
                diff({"reply": expect.reply}, {"reply": transcript.reply}),
            )
        if expect.reply_contains is not None and expect.reply_contains not in transcript.reply:
            return ReplayFailure(
                f"{where}, expect",
                f"reply does not contain {expect.reply_contains!r}",
                f"reply: {transcript.reply!r}",
            )
        if expect.checks_form:
            return _check_form(f"{where}, expect", expect.form, transcript.form)
        return None

    def check_crm(self, written: dict[str, list[dict[str, Any]]]) -> ReplayFailure | None:
        if self.cassette.expect_crm is None:
            return None
        scope = "records created or changed" if self.cassette.crm.seed is not None else "records"
        known = sorted(self.world.records())
        for object_type, expected in self.cassette.expect_crm.items():
            if object_type not in known:
                return ReplayFailure(
                    "expect_crm",
                    f"unknown object type {object_type!r}; this world has: {', '.join(known)}",
                )
            actual = written.get(object_type, [])
            if assign_distinct(expected, actual) is None:
                if len(expected) != len(actual):
                    message = f"{object_type}: expected {len(expected)} {scope}, found {len(actual)}"
                else:
                    message = f"{object_type}: the {scope} do not each match a distinct expected record"
                return ReplayFailure(
                    "expect_crm", message, diff(list(expected), project_records(actual, expected))
                )
        return None


def _check_request(item: ModelItem, request: ScriptedRequest) -> tuple[str, str] | None:
    offered = request.tools
    missing = [name for name in item.expect_tools_include if name not in offered]
    if missing:
        return (
            f"expect_tools_include: {', '.join(missing)} not offered",
            f"offered tools: {', '.join(offered)}",
        )
    present = [name for name in item.expect_tools_exclude if name in offered]
    if present:
        return f"expect_tools_exclude: {', '.join(present)} offered", f"offered tools: {', '.join(offered)}"
    if item.expect_tool_choice is not None:
        actual = request.tool_choice or "auto"
        if actual != item.expect_tool_choice:
            return "expect_tool_choice differs", diff(
                {"tool_choice": item.expect_tool_choice}, {"tool_choice": actual}
            )
    wanted = item.expect_last_tool_result_contains
    if wanted is not None:
        last = request.last_tool_result
        if last is None or wanted not in last:
            return (
                f"expect_last_tool_result_contains: {wanted!r} not in the last tool result",
                f"last tool result: {last!r}",
            )
    return None


def _check_form(
    where: str, expected: FormExpectation | None, actual: PublicForm | None
) -> ReplayFailure | None:
    if expected is None:
        if actual is None:
            return None
        return ReplayFailure(
            where, "expected no active form", diff({"form": None}, {"form": _form_view(actual)})
        )
    if actual is None:
        return ReplayFailure(
            where,
            "expected an active form, but none is active",
            diff({"form": expected.as_data()}, {"form": None}),
        )
    wanted = expected.as_data()
    got = {key: value for key, value in _form_view(actual).items() if key in wanted or key == "values"}
    if not matches(wanted, got):
        return ReplayFailure(where, "the active form differs", diff({"form": wanted}, {"form": got}))
    return None


def _form_view(form: PublicForm) -> dict[str, Any]:
    return {"name": form["name"], "state": form["state"], "values": dict(form["values"])}


def _note(transcript: TurnTranscript, event: Event) -> None:
    if isinstance(event, ToolEvent):
        transcript.tool_events.append(event)
    elif isinstance(event, FormEvent):
        transcript.form_events.append(event)
    elif isinstance(event, ReplyEvent):
        transcript.reply = str(event.reply.text)
        transcript.form = event.reply.form
        transcript.error = event.reply.error


def _changed(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    changed: dict[str, list[dict[str, Any]]] = {}
    for object_type, records in after.items():
        previous = {record.get("id"): record for record in before.get(object_type, [])}
        changed[object_type] = [record for record in records if previous.get(record.get("id")) != record]
    return changed


def _unused(made: int, scripted: int) -> str:
    if scripted == made + 1:
        return f"item {scripted} was never used"
    return f"items {made + 1} to {scripted} were never used"


def _describe_request(request: ScriptedRequest) -> str:
    last = request.messages[-1] if request.messages else None
    lines = [
        f"offered tools: {', '.join(request.tools) or 'none'}",
        f"tool_choice: {request.tool_choice or 'auto'}",
    ]
    if last is not None:
        lines.append(f"last message ({last.type}): {_short(last.text, 300)}")
    return "\n".join(lines)


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


__all__ = [
    "CassetteFailedError",
    "ReplayFailure",
    "ReplayResult",
    "TurnTranscript",
    "assert_replays",
    "replay",
]
