"""A task: the starting CRM, what the user wants (as text for a simulated user, and as an instruction for an
agent), the facts, the expected outcome as data, and a reference conversation that reaches it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_tools.tasks.vocabulary import ABOUT_KEYS, FIELDS, MATCH_KEYS

DEFAULT_NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_object(value: Any, what: str) -> tuple[str, Any]:
    """``{company: {...}}`` → ("company", {...}); the object name must be one the vocabulary knows."""
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            f"each {what} entry is one mapping {{object: ...}} with object one of {', '.join(FIELDS)}"
        )
    ((object_name, body),) = value.items()
    if object_name not in FIELDS:
        raise ValueError(f"unknown object {object_name!r}; accepted: {', '.join(FIELDS)}")
    return object_name, body


def _check_fields(object_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = [name for name in fields if name not in FIELDS[object_name]]
    if unknown:
        raise ValueError(
            f"unknown {object_name} field(s) {', '.join(unknown)}; accepted: {', '.join(FIELDS[object_name])}"
        )
    about = fields.get("about")
    if about is not None and (
        not isinstance(about, dict) or len(about) != 1 or next(iter(about)) not in ABOUT_KEYS
    ):
        raise ValueError(
            f"about is one mapping {{kind: key}} with kind one of {', '.join(ABOUT_KEYS)}, e.g. "
            "{company: Acme} or {person: jane@acme.com}"
        )
    return fields


def _check_match(object_name: str, match: Any) -> dict[str, Any]:
    if not isinstance(match, dict) or not match:
        raise ValueError(f"a {object_name} is found by a mapping of {', '.join(MATCH_KEYS[object_name])}")
    unknown = [key for key in match if key not in MATCH_KEYS[object_name]]
    if unknown:
        raise ValueError(
            f"a {object_name} cannot be found by {', '.join(unknown)}; use {', '.join(MATCH_KEYS[object_name])}"
        )
    return match


class RecordSpec(_Strict):
    """A record the episode must create, with the fields it must have (others are not checked)."""

    object: str
    fields: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, dict) and "object" in value:
            return value
        object_name, fields = _one_object(value, "create")
        return {"object": object_name, "fields": _check_fields(object_name, fields or {})}


class UpdateSpec(_Strict):
    """An existing record (found by ``match``) whose fields must end as ``set``; nothing else may change."""

    object: str
    match: dict[str, Any]
    set: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, dict) and "object" in value:
            return value
        object_name, body = _one_object(value, "update")
        if not isinstance(body, dict) or set(body) != {"match", "set"}:
            raise ValueError("an update entry is {object: {match: {...}, set: {...}}}")
        return {
            "object": object_name,
            "match": _check_match(object_name, body["match"]),
            "set": _check_fields(object_name, body["set"]),
        }


class DeleteSpec(_Strict):
    """An existing record (found by ``match``) that must be gone at the end."""

    object: str
    match: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, dict) and "object" in value:
            return value
        object_name, match = _one_object(value, "delete")
        return {"object": object_name, "match": _check_match(object_name, match)}


class Expected(_Strict):
    """The outcome: records created, updated and deleted, or for a question the values the answer holds.
    Empty lists mean that nothing may be written (a cancelled form)."""

    create: tuple[RecordSpec, ...] = ()
    update: tuple[UpdateSpec, ...] = ()
    delete: tuple[DeleteSpec, ...] = ()
    answer: tuple[str | int | float, ...] = ()


class ToolCallSpec(_Strict):
    """One model call of the reference solution: the tool it calls and the arguments."""

    name: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, dict) and "name" in value:
            return value
        if isinstance(value, str):
            return {"name": value, "args": {}}
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError("a call is {ToolName: {args}} or a bare tool name")
        ((name, args),) = value.items()
        return {"name": name, "args": args or {}}


class ReferenceTurn(_Strict):
    """What the scripted user says, the tool calls the reference model makes in answer (one per model
    call), and ``say``: the reference model's text answer when the turn needs one."""

    user: str
    calls: tuple[ToolCallSpec, ...] = ()
    say: str | None = None


class Task(_Strict):
    id: str
    category: str
    crm_seed: int | None = None
    """None: an empty CRM; N: the demo data set of ``crm_tools.seed.seed_demo_data(backend, N)``."""
    goal: str
    """Who the user is, what they want, which facts they know and how they behave (for a simulated user)."""
    instruction: str
    """What an agent must do or answer, written to an agent (for agents that get the task directly)."""
    facts: dict[str, Any] = Field(default_factory=dict)
    expected: Expected
    reference: tuple[ReferenceTurn, ...]
    now: datetime = DEFAULT_NOW
    max_turns: int = 12
    source: str = ""

    @field_validator("id")
    @classmethod
    def _id_is_a_slug(cls, value: str) -> str:
        if not value or any(not (ch.isalnum() or ch in "-_.") for ch in value):
            raise ValueError(f"{value!r} is not a task id: use letters, digits, '-', '_' and '.'")
        return value

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _reference_not_empty(self) -> Task:
        if not self.reference:
            raise ValueError("reference: at least one turn is needed (it proves the task can be solved)")
        return self

    @property
    def kind(self) -> Literal["write", "answer"]:
        return "answer" if self.expected.answer else "write"

    @property
    def utterances(self) -> list[str]:
        """What the scripted user says, turn by turn."""
        return [turn.user for turn in self.reference]
