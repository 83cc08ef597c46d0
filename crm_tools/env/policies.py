"""Two fixed policies: ``reference`` solves a task from its expected outcome, ``noop`` answers at once.

The reference policy is the proof that every task can earn 1.0 through the env's actions: it finds
the records a task refers to with list actions (a company by name, a person by email, ...), writes
exactly the expected records and fields, and submits the expected answer values.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from crm_tools.env.actions import FIELDS as ACTION_FIELDS
from crm_tools.env.rollout import Turn

if TYPE_CHECKING:
    from crm_tools.tasks import Task

Plan = Generator[dict[str, Any], dict[str, Any], None]

_PLURALS = {"company": "companies", "person": "people", "opportunity": "opportunities", "note": "notes",
            "task": "tasks"}  # fmt: skip
# Task vocabulary field -> the ACTION field that writes it (references are looked up first).
_ACTION_FIELD = {
    "company": {"name": "company_name", "domain": "company_domain", "address": "company_address",
                "city": "company_address_city", "employees": "company_employees"},
    "person": {"first_name": "person_first_name", "last_name": "person_last_name", "email": "person_email",
               "phone": "person_phone", "job_title": "person_job_title", "city": "person_city",
               "company": "person_company_id"},
    "opportunity": {"name": "opportunity_name", "amount": "opportunity_amount",
                    "currency": "opportunity_currency_code", "stage": "opportunity_stage",
                    "close_date": "opportunity_close_date", "company": "opportunity_company_id",
                    "point_of_contact": "opportunity_person_id"},
    "note": {"title": "note_title", "body": "note_body"},
    "task": {"title": "task_title", "body": "task_body", "due_date": "task_due_date", "status": "task_status"},
}  # fmt: skip
_FLAT_KIND = {flat.name: flat.kind for fields in ACTION_FIELDS.values() for flat in fields}


def noop_policy(turn: Turn) -> dict[str, Any]:
    """Submits an empty answer at once."""
    return {"action_type": "submit_answer", "answer": ""}


def _quoted(value: Any) -> str:
    return '"' + str(value) + '"'


def _find(object_name: str, match: dict[str, Any]) -> Generator[dict[str, Any], dict[str, Any], str | None]:
    """The id of the record ``match`` names, found with one list action."""
    from crm_tools.tasks import FIELDS

    if "id" in match:
        return str(match["id"])
    spec = FIELDS[object_name]
    conditions = ",".join(f"{spec[key].path}[ilike]:{_quoted(value)}" for key, value in match.items())
    observation = yield {"action_type": f"list_{_PLURALS[object_name]}", "filter": conditions, "limit": 1}
    body = observation.get("data") or {}
    records = next(iter((body.get("data") or {}).values()), [])
    return records[0]["id"] if observation.get("success") and records else None


def _reference_key(kind: str, value: Any) -> tuple[str, dict[str, Any]]:
    # A company is referred to by name, a person by email, an opportunity by name (tasks/vocabulary.py).
    from crm_tools.tasks import ABOUT_KEYS

    return kind, {ABOUT_KEYS[kind]: value}


def _fields(
    object_name: str, fields: dict[str, Any]
) -> Generator[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The ACTION fields that write ``fields`` (vocabulary names), references resolved to ids."""
    from crm_tools.tasks import FIELDS, normalise

    action: dict[str, Any] = {}
    clear: list[str] = []
    for name, value in fields.items():
        kind = FIELDS[object_name][name].kind
        if kind == "about":
            ((target, key),) = value.items()
            found = yield from _find(*_reference_key(target, key))
            action[f"{object_name}_target_{target}_id"] = found
            continue
        flat = _ACTION_FIELD[object_name][name]
        if value is None or value == "":
            clear.append(flat)
        elif kind in ("company", "person"):
            action[flat] = yield from _find(*_reference_key(kind, value))
        elif kind == "option":
            action[flat] = normalise.option(value)
        elif _FLAT_KIND.get(flat) in ("int", "units"):
            action[flat] = value if isinstance(value, int | float) else normalise.number(value)
        else:
            action[flat] = str(value)
    if clear:
        action["clear_fields"] = clear
    return action


def _solve(task: Task) -> Plan:
    expected = task.expected
    for record in expected.create:
        fields = yield from _fields(record.object, dict(record.fields))
        yield {"action_type": f"create_{record.object}", **fields}
    for change in expected.update:
        record_id = yield from _find(change.object, dict(change.match))
        fields = yield from _fields(change.object, dict(change.set))
        yield {"action_type": f"update_{change.object}", "record_id": record_id, **fields}
    for gone in expected.delete:
        record_id = yield from _find(gone.object, dict(gone.match))
        yield {"action_type": f"delete_{gone.object}", "record_id": record_id}
    answer = "; ".join(str(value) for value in expected.answer) or "Done."
    yield {"action_type": "submit_answer", "answer": answer}


class ReferencePolicy:
    """Solves each task of ``tasks`` from its expected outcome (the task is named by the reset)."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self._tasks = {task.id: task for task in tasks}
        self._plans: dict[str, Plan] = {}

    @classmethod
    def bundled(cls) -> ReferencePolicy:
        from crm_tools.tasks import load_tasks

        return cls(load_tasks())

    def __call__(self, turn: Turn) -> dict[str, Any]:
        task_id = (turn.task or {}).get("id")
        task = self._tasks.get(task_id) if task_id else None
        if task is None:
            raise ValueError(
                f"The reference policy knows no task {task_id!r}; it solves the bundled tasks of a "
                "task episode (reset with a seed on a server with the same tasks)"
            )
        if turn.step == 0:
            plan = self._plans[turn.episode_id] = _solve(task)
            action = next(plan)
        else:
            action = self._plans[turn.episode_id].send(turn.observation)
        if action.get("action_type") == "submit_answer":
            del self._plans[turn.episode_id]
        return action


POLICIES: dict[str, Callable[[], Callable[[Turn], dict[str, Any]]]] = {
    "reference": ReferencePolicy.bundled,
    "noop": lambda: noop_policy,
}


def make_policy(
    name: str, *, model: str = "", llm_base_url: str | None = None, llm_api_key: str | None = None
) -> Callable[[Turn], dict[str, Any]]:
    """A policy by name: reference, noop, or llm (a model behind an OpenAI-compatible endpoint)."""
    if name == "llm":
        from crm_tools.env.llm_policy import LLMPolicy

        if not llm_base_url:
            raise ValueError("the llm policy needs --llm-base-url (or OPENAI_BASE_URL)")
        return LLMPolicy.from_endpoint(llm_base_url, llm_api_key or "none", model)
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; accepted: {', '.join([*POLICIES, 'llm'])}")
    return POLICIES[name]()
