"""Conversation cassettes (docs/cassettes.md): YAML scripts of a conversation, as typed objects.

Loading validates everything up front, so a malformed cassette fails with the file, the turn, the
model call and the key that is wrong, before any conversation runs. ``cassette_to_yaml`` is the
inverse of ``load_cassette``; the recorder writes through it, so recorded files always load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FORM_STATES = ("ACTIVE", "FILLED")

_CASSETTE_KEYS = ("name", "now", "crm", "world", "turns", "expect_crm")
_TURN_KEYS = ("user", "model", "expect")
_ITEM_KEYS = (
    "tool_calls",
    "text",
    "expect_tools_include",
    "expect_tools_exclude",
    "expect_tool_choice",
    "expect_last_tool_result_contains",
)
_TOOL_CALL_KEYS = ("name", "args", "id")
_EXPECT_KEYS = ("reply", "reply_contains", "form")
_FORM_KEYS = ("name", "state", "values")


class CassetteError(ValueError):
    """A cassette that does not follow docs/cassettes.md; the message names the file, turn and key."""


@dataclass(frozen=True)
class ScriptedToolCall:
    """One tool call the scripted model makes; ``args`` as a string is sent verbatim (malformed JSON)."""

    name: str
    args: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ModelItem:
    """The scripted answer to one LLM call, and the checks on the request that call received."""

    tool_calls: tuple[ScriptedToolCall, ...] = ()
    text: str | None = None
    expect_tools_include: tuple[str, ...] = ()
    expect_tools_exclude: tuple[str, ...] = ()
    expect_tool_choice: str | None = None
    expect_last_tool_result_contains: str | None = None


@dataclass(frozen=True)
class FormExpectation:
    name: str | None = None
    state: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        """The keys the cassette gave, as they read in YAML (what replay compares and diffs)."""
        data: dict[str, Any] = {}
        if self.name is not None:
            data["name"] = self.name
        if self.state is not None:
            data["state"] = self.state
        if self.values:
            data["values"] = dict(self.values)
        return data


@dataclass(frozen=True)
class TurnExpectation:
    reply: str | None = None
    reply_contains: str | None = None
    # ``checks_form`` tells "form: null" (no form may be active) apart from "form not mentioned".
    checks_form: bool = False
    form: FormExpectation | None = None


@dataclass(frozen=True)
class Turn:
    user: str
    model: tuple[ModelItem, ...]
    expect: TurnExpectation = field(default_factory=TurnExpectation)


@dataclass(frozen=True)
class CRMSetting:
    """``crm: empty`` (seed None) or ``crm: {seed: N}``, the deterministic demo data set for N."""

    seed: int | None = None

    def describe(self) -> str:
        return "empty" if self.seed is None else f"seed {self.seed}"


@dataclass(frozen=True)
class Cassette:
    name: str
    turns: tuple[Turn, ...]
    now: datetime = DEFAULT_NOW
    crm: CRMSetting = field(default_factory=CRMSetting)
    # Which registered world (tools + records) the conversation runs in; docs/cassettes.md cassettes use "crm".
    world: str = "crm"
    expect_crm: dict[str, tuple[dict[str, Any], ...]] | None = None
    source: Path | None = None


def load_cassette(path: str | Path) -> Cassette:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read the cassette: {exc.strerror or exc}") from None
    return parse_cassette(text, source=path)


def parse_cassette(text: str, source: Path | None = None) -> Cassette:
    where = str(source) if source else "<cassette>"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CassetteError(f"{where}:{at}: not valid YAML: {problem}") from None
    return _Parser(where).cassette(data, source)


class _Parser:
    def __init__(self, where: str) -> None:
        self.file = where

    def fail(self, context: str, message: str) -> CassetteError:
        return CassetteError(f"{self.file}: {context}: {message}" if context else f"{self.file}: {message}")

    def mapping(self, value: Any, context: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(context, f"expected a mapping with keys {_keys(allowed)}, got {_kind(value)}")
        unknown = [str(k) for k in value if k not in allowed]
        if unknown:
            raise self.fail(context, f"unknown key {_keys(tuple(unknown))}; accepted keys: {_keys(allowed)}")
        return value

    def text(self, value: Any, context: str, key: str) -> str:
        if isinstance(value, str):
            return value
        hint = ""
        if isinstance(value, bool | int | float) or value is None:
            # YAML reads unquoted yes/no/on/off as booleans and 250 as a number.
            hint = f' (YAML read it as {value!r}; quote it: {key}: "...")'
        raise self.fail(context, f"'{key}' must be text, got {_kind(value)}{hint}")

    def names(self, value: Any, context: str, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(context, f"'{key}' must be a list of tool names, got {_kind(value)}")
        return tuple(value)

    def cassette(self, data: Any, source: Path | None) -> Cassette:
        if data is None:
            raise self.fail("", "the cassette is empty; it needs at least 'name' and 'turns'")
        top = self.mapping(data, "top level", _CASSETTE_KEYS)
        for required in ("name", "turns"):
            if required not in top:
                raise self.fail("top level", f"missing required key '{required}'")
        name = self.text(top["name"], "top level", "name")
        turns_raw = top["turns"]
        if not isinstance(turns_raw, list) or not turns_raw:
            raise self.fail("top level", f"'turns' must be a non-empty list of turns, got {_kind(turns_raw)}")
        turns = tuple(self.turn(raw, f"turn {i}") for i, raw in enumerate(turns_raw, start=1))
        world = self.text(top.get("world", "crm"), "top level", "world")
        return Cassette(
            name=name,
            turns=turns,
            now=self.now(top.get("now")),
            crm=self.crm(top.get("crm", "empty")),
            world=world,
            expect_crm=self.expect_crm(top.get("expect_crm")),
            source=source,
        )

    def now(self, value: Any) -> datetime:
        if value is None:
            return DEFAULT_NOW
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise self.fail(
                    "top level",
                    f"'now' must be an ISO 8601 date-time like \"2026-11-21T10:00:00Z\", got {value!r}",
                ) from None
        else:
            raise self.fail("top level", f"'now' must be an ISO 8601 date-time, got {_kind(value)}")
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def crm(self, value: Any) -> CRMSetting:
        if value == "empty":
            return CRMSetting()
        if isinstance(value, Mapping) and set(value) == {"seed"}:
            seed = value["seed"]
            if isinstance(seed, int) and not isinstance(seed, bool):
                return CRMSetting(seed=seed)
        raise self.fail("top level", f"'crm' must be 'empty' or {{seed: N}} with an integer N, got {value!r}")

    def turn(self, raw: Any, context: str) -> Turn:
        data = self.mapping(raw, context, _TURN_KEYS)
        for required in ("user", "model"):
            if required not in data:
                raise self.fail(context, f"missing required key '{required}'")
        user = self.text(data["user"], context, "user")
        items_raw = data["model"]
        if not isinstance(items_raw, list) or not items_raw:
            raise self.fail(
                context, f"'model' must be a non-empty list, one item per LLM call, got {_kind(items_raw)}"
            )
        items = tuple(
            self.item(raw, f"{context}, model call {i}") for i, raw in enumerate(items_raw, start=1)
        )
        expect = self.expect(data["expect"], f"{context}, expect") if "expect" in data else TurnExpectation()
        return Turn(user=user, model=items, expect=expect)

    def item(self, raw: Any, context: str) -> ModelItem:
        data = self.mapping(raw, context, _ITEM_KEYS)
        has_calls, has_text = "tool_calls" in data, "text" in data
        if has_calls == has_text:
            which = "both" if has_calls else "neither"
            raise self.fail(
                context,
                f"a model item has either 'tool_calls' (a list of {{name, args}}) or 'text', not {which}",
            )
        calls: tuple[ScriptedToolCall, ...] = ()
        if has_calls:
            raw_calls = data["tool_calls"]
            if not isinstance(raw_calls, list) or not raw_calls:
                raise self.fail(
                    context,
                    f"'tool_calls' must be a non-empty list of {{name, args}}, got {_kind(raw_calls)}",
                )
            calls = tuple(
                self.tool_call(c, f"{context}, tool call {i}") for i, c in enumerate(raw_calls, start=1)
            )
        choice = data.get("expect_tool_choice")
        contains = data.get("expect_last_tool_result_contains")
        return ModelItem(
            tool_calls=calls,
            text=self.text(data["text"], context, "text") if has_text else None,
            expect_tools_include=self.names(
                data.get("expect_tools_include", []), context, "expect_tools_include"
            ),
            expect_tools_exclude=self.names(
                data.get("expect_tools_exclude", []), context, "expect_tools_exclude"
            ),
            expect_tool_choice=None if choice is None else self.text(choice, context, "expect_tool_choice"),
            expect_last_tool_result_contains=None
            if contains is None
            else self.text(contains, context, "expect_last_tool_result_contains"),
        )

    def tool_call(self, raw: Any, context: str) -> ScriptedToolCall:
        data = self.mapping(raw, context, _TOOL_CALL_KEYS)
        if "name" not in data:
            raise self.fail(context, "missing required key 'name'")
        args = data.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, Mapping | str):
            raise self.fail(
                context, f"'args' must be a mapping of arguments or a raw JSON string, got {_kind(args)}"
            )
        call_id = data.get("id")
        return ScriptedToolCall(
            name=self.text(data["name"], context, "name"),
            args=dict(args) if isinstance(args, Mapping) else args,
            id=None if call_id is None else self.text(call_id, context, "id"),
        )

    def expect(self, raw: Any, context: str) -> TurnExpectation:
        data = self.mapping(raw, context, _EXPECT_KEYS)
        if "reply" in data and "reply_contains" in data:
            raise self.fail(context, "give 'reply' (exact) or 'reply_contains', not both")
        reply = self.text(data["reply"], context, "reply") if "reply" in data else None
        contains = (
            self.text(data["reply_contains"], context, "reply_contains") if "reply_contains" in data else None
        )
        form: FormExpectation | None = None
        if data.get("form") is not None:
            form = self.form(data["form"], f"{context}, form")
        return TurnExpectation(reply=reply, reply_contains=contains, checks_form="form" in data, form=form)

    def form(self, raw: Any, context: str) -> FormExpectation:
        data = self.mapping(raw, context, _FORM_KEYS)
        state = data.get("state")
        if state is not None and state not in FORM_STATES:
            raise self.fail(context, f"'state' must be one of {', '.join(FORM_STATES)}, got {state!r}")
        values = data.get("values", {}) or {}
        if not isinstance(values, Mapping):
            raise self.fail(
                context, f"'values' must be a mapping of field names to values, got {_kind(values)}"
            )
        name = data.get("name")
        return FormExpectation(
            name=None if name is None else self.text(name, context, "name"), state=state, values=dict(values)
        )

    def expect_crm(self, raw: Any) -> dict[str, tuple[dict[str, Any], ...]] | None:
        if raw is None:
            return None
        context = "expect_crm"
        if not isinstance(raw, Mapping):
            raise self.fail(
                context, f"expected a mapping of object types to lists of records, got {_kind(raw)}"
            )
        result: dict[str, tuple[dict[str, Any], ...]] = {}
        for object_type, records in raw.items():
            if records is None:
                records = []
            if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
                raise self.fail(
                    f"{context}, {object_type}",
                    f"expected a list of records (mappings of field to value), got {_kind(records)}",
                )
            result[str(object_type)] = tuple(dict(r) for r in records)
        return result


def _keys(keys: tuple[str, ...]) -> str:
    return ", ".join(f"'{k}'" for k in keys)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return f"{type(value).__name__} {value!r}"


def cassette_to_data(cassette: Cassette) -> dict[str, Any]:
    """The plain YAML structure of ``cassette``, with the keys in the order docs/cassettes.md shows them."""
    data: dict[str, Any] = {"name": cassette.name}
    data["now"] = cassette.now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    data["crm"] = "empty" if cassette.crm.seed is None else {"seed": cassette.crm.seed}
    if cassette.world != "crm":
        data["world"] = cassette.world
    data["turns"] = [_turn_data(turn) for turn in cassette.turns]
    if cassette.expect_crm is not None:
        data["expect_crm"] = {k: [dict(r) for r in v] for k, v in cassette.expect_crm.items()}
    return data


def _turn_data(turn: Turn) -> dict[str, Any]:
    data: dict[str, Any] = {"user": turn.user, "model": [_item_data(item) for item in turn.model]}
    expect: dict[str, Any] = {}
    if turn.expect.reply is not None:
        expect["reply"] = turn.expect.reply
    if turn.expect.reply_contains is not None:
        expect["reply_contains"] = turn.expect.reply_contains
    if turn.expect.checks_form:
        form = turn.expect.form
        expect["form"] = None if form is None else form.as_data()
    if expect:
        data["expect"] = expect
    return data


def _item_data(item: ModelItem) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if item.expect_tools_include:
        data["expect_tools_include"] = list(item.expect_tools_include)
    if item.expect_tools_exclude:
        data["expect_tools_exclude"] = list(item.expect_tools_exclude)
    if item.expect_tool_choice is not None:
        data["expect_tool_choice"] = item.expect_tool_choice
    if item.expect_last_tool_result_contains is not None:
        data["expect_last_tool_result_contains"] = item.expect_last_tool_result_contains
    if item.tool_calls:
        data["tool_calls"] = [_call_data(call) for call in item.tool_calls]
    else:
        data["text"] = item.text
    return data


def _call_data(call: ScriptedToolCall) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": call.name,
        "args": call.args if isinstance(call.args, str) else dict(call.args),
    }
    if call.id is not None:
        data["id"] = call.id
    return data


class _CassetteDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line replies read far better as literal blocks than as escaped one-liners.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_CassetteDumper.add_representer(str, _str_presenter)


def cassette_to_yaml(cassette: Cassette) -> str:
    return yaml.dump(
        cassette_to_data(cassette), Dumper=_CassetteDumper, sort_keys=False, allow_unicode=True, width=110
    )
