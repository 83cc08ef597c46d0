"""The flat action vocabulary of the CRM env protocol ⇄ Twenty-shaped backend calls.

One table serves both directions: the server reads an ACTION into a ``Call`` on a ``CRMBackend``,
and the env client turns a ``CRMBackend`` call into an ACTION. Keeping one table means the two
sides cannot drift apart.

The vocabulary of docs/env-protocol.md cannot carry every Twenty field (no address city, no ARR, no currency,
no way to clear a value) nor every object (no get_note, no note targets on their own). Our server
accepts a documented superset, marked ``standard=False`` below and advertised as ``EXTENSION`` in
the metadata of the reset observation; the env client uses it only when the server advertises it,
so it keeps working against servers that speak only the standard vocabulary.

Extension summary (all optional, ignored by nobody: a standard server rejects or drops them):
- action types ``get_note update_note delete_note get_task delete_task`` and
  ``create/update/delete/list/get`` of ``note_target``/``task_target`` (plural ``note_targets``...);
- record fields ``company_address_street2 company_address_city company_address_postcode
  company_address_state company_address_country company_arr_amount_micros company_arr_currency_code
  company_ideal_customer_profile person_city person_phone_country_code opportunity_amount_micros
  opportunity_currency_code note_target_note_id task_target_task_id``;
- ``clear_fields``: flat field names to set to null (the standard vocabulary treats null as absent);
- ``idempotency_key`` on create actions: the same key returns the first record instead of writing again.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from crm_tools.errors import CRMError

EXTENSION = "converso-actions-1"

Operation = Literal["create", "update", "delete", "list", "get", "complete", "submit"]
Kind = Literal["text", "int", "bool", "units"]

LIST_PARAMS = ("limit", "cursor", "starting_after", "ending_before", "order_by", "filter", "depth")
# Accepted on every action because the public client always sends its defaults (and openenv's
# ``metadata``); they only mean something to the actions that take them.
_ALWAYS_ACCEPTED = frozenset({*LIST_PARAMS, "metadata", "action_type"})
_MICROS_PER_UNIT = 1_000_000
_SYSTEM_FIELDS = ("id", "createdAt", "updatedAt", "deletedAt", "position")


class ActionShapeError(ValueError):
    """An ACTION that is not well-formed: not an object, unknown type or field, wrong value type."""


@dataclass(frozen=True)
class FlatField:
    name: str
    path: tuple[str, ...]
    kind: Kind = "text"
    standard: bool = True
    # A value the server assumes anyway; a client without the extension may leave it out on create.
    implied: Any = None


@dataclass(frozen=True)
class ActionSpec:
    action_type: str
    operation: Operation
    object_name: str | None
    standard: bool = True


@dataclass(frozen=True)
class Call:
    """What one ACTION asks of a backend."""

    operation: Operation
    object_name: str | None
    record_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # (link object, its payload without the owner id) for the targets of create_note / create_task.
    links: tuple[tuple[str, dict[str, Any]], ...] = ()
    idempotency_key: str | None = None
    answer: str | None = None


def _f(name: str, *path: str, kind: Kind = "text", standard: bool = True, implied: Any = None) -> FlatField:
    return FlatField(name, tuple(path), kind, standard, implied)


# Order matters where two fields share a path: the client picks the first one it may send, so the
# exact extension field (micros) comes before the lossy standard one (units).
FIELDS: dict[str, tuple[FlatField, ...]] = {
    "company": (
        _f("company_name", "name"),
        _f("company_domain", "domainName", "primaryLinkUrl"),
        _f("company_address", "address", "addressStreet1"),
        _f("company_employees", "employees", kind="int"),
        _f("company_address_street2", "address", "addressStreet2", standard=False),
        _f("company_address_city", "address", "addressCity", standard=False),
        _f("company_address_postcode", "address", "addressPostcode", standard=False),
        _f("company_address_state", "address", "addressState", standard=False),
        _f("company_address_country", "address", "addressCountry", standard=False),
        _f("company_arr_amount_micros", "annualRecurringRevenue", "amountMicros", kind="int", standard=False),
        _f(
            "company_arr_currency_code",
            "annualRecurringRevenue",
            "currencyCode",
            standard=False,
            implied="USD",
        ),
        _f("company_ideal_customer_profile", "idealCustomerProfile", kind="bool", standard=False),
    ),
    "person": (
        _f("person_first_name", "name", "firstName"),
        _f("person_last_name", "name", "lastName"),
        _f("person_email", "emails", "primaryEmail"),
        _f("person_phone", "phones", "primaryPhoneNumber"),
        _f("person_company_id", "companyId"),
        _f("person_job_title", "jobTitle"),
        _f("person_city", "city", standard=False),
        _f("person_phone_country_code", "phones", "primaryPhoneCountryCode", standard=False),
    ),
    "opportunity": (
        _f("opportunity_name", "name"),
        _f("opportunity_amount_micros", "amount", "amountMicros", kind="int", standard=False),
        _f("opportunity_amount", "amount", "amountMicros", kind="units"),
        _f("opportunity_currency_code", "amount", "currencyCode", standard=False, implied="USD"),
        _f("opportunity_stage", "stage"),
        _f("opportunity_close_date", "closeDate"),
        _f("opportunity_company_id", "companyId"),
        _f("opportunity_person_id", "pointOfContactId"),
    ),
    "note": (
        _f("note_title", "title"),
        _f("note_body", "body"),
    ),
    "task": (
        _f("task_title", "title"),
        _f("task_body", "body"),
        _f("task_due_date", "dueAt"),
        _f("task_assignee_id", "assigneeId"),
        _f("task_status", "status"),
    ),
    "noteTarget": (
        _f("note_target_note_id", "noteId", standard=False),
        _f("note_target_person_id", "personId", standard=False),
        _f("note_target_company_id", "companyId", standard=False),
        _f("note_target_opportunity_id", "opportunityId", standard=False),
    ),
    "taskTarget": (
        _f("task_target_task_id", "taskId", standard=False),
        _f("task_target_person_id", "personId", standard=False),
        _f("task_target_company_id", "companyId", standard=False),
        _f("task_target_opportunity_id", "opportunityId", standard=False),
    ),
}

# create_note / create_task link the new record to others through these flat fields.
LINKS: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "note": (
        "noteTarget",
        "noteId",
        (
            ("note_target_person_id", "personId"),
            ("note_target_company_id", "companyId"),
            ("note_target_opportunity_id", "opportunityId"),
        ),
    ),
    "task": (
        "taskTarget",
        "taskId",
        (
            ("task_target_person_id", "personId"),
            ("task_target_company_id", "companyId"),
            ("task_target_opportunity_id", "opportunityId"),
        ),
    ),
}

_NAMES = {
    # object: (singular word, plural word) as they appear in action types
    "company": ("company", "companies"),
    "person": ("person", "people"),
    "opportunity": ("opportunity", "opportunities"),
    "note": ("note", "notes"),
    "task": ("task", "tasks"),
    "noteTarget": ("note_target", "note_targets"),
    "taskTarget": ("task_target", "task_targets"),
}

_STANDARD_TYPES = {
    "company": ("create", "update", "delete", "list", "get"),
    "person": ("create", "update", "delete", "list", "get"),
    "opportunity": ("create", "update", "delete", "list", "get"),
    "note": ("create", "list"),
    "task": ("create", "update", "list"),
}


def _action_specs() -> dict[str, ActionSpec]:
    specs: dict[str, ActionSpec] = {}
    for object_name, (singular, plural) in _NAMES.items():
        for operation in ("create", "update", "delete", "list", "get"):
            action_type = f"{operation}_{plural if operation == 'list' else singular}"
            standard = operation in _STANDARD_TYPES.get(object_name, ())
            specs[action_type] = ActionSpec(action_type, operation, object_name, standard)
    specs["complete_task"] = ActionSpec("complete_task", "complete", "task")
    specs["submit_answer"] = ActionSpec("submit_answer", "submit", None)
    return specs


ACTIONS: dict[str, ActionSpec] = _action_specs()
STANDARD_ACTION_TYPES = tuple(name for name, spec in ACTIONS.items() if spec.standard)

_EXTRA_FIELDS = frozenset({"record_id", "answer", "clear_fields", "idempotency_key"})
KNOWN_FIELDS: frozenset[str] = frozenset(
    {f.name for fields in FIELDS.values() for f in fields}
    | {flat for _, _, links in LINKS.values() for flat, _ in links}
    | _ALWAYS_ACCEPTED
    | _EXTRA_FIELDS
)


# Looked up on every step, so built once.
_FIELDS_BY_NAME: dict[str, dict[str, FlatField]] = {
    name: {f.name: f for f in fields} for name, fields in FIELDS.items()
}
_LINK_NAMES: dict[str, dict[str, str]] = {
    name: {flat: key for flat, key in links} for name, (_, _, links) in LINKS.items()
}


def action_spec(object_name: str, operation: Operation) -> ActionSpec:
    singular, plural = _NAMES[object_name]
    if operation == "complete":
        return ACTIONS["complete_task"]
    return ACTIONS[f"{operation}_{plural if operation == 'list' else singular}"]


# ---------------------------------------------------------------------------------------------
# Server side: ACTION -> Call


def _check_value(name: str, kind: Kind, value: Any) -> Any:
    if kind == "text":
        ok = isinstance(value, str)
    elif kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "units":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, bool)
    if not ok:
        expected = {"text": "a string", "int": "an integer", "units": "a number", "bool": "true or false"}[
            kind
        ]
        raise ActionShapeError(f"'{name}' must be {expected}, got {value!r}")
    return value


def _unknown_field_message(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(KNOWN_FIELDS), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"Unknown action field '{name}'.{hint} The fields are listed under ACTION in docs/env-protocol.md."


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _set_path(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = payload
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _not_applicable(action_type: str, names: list[str], accepted: list[str]) -> CRMError:
    return CRMError(
        f"{', '.join(repr(n) for n in sorted(names))} cannot be used with {action_type}; "
        f"it accepts {', '.join(accepted) if accepted else 'no record fields'}",
        code="INVALID_ACTION",
    )


def parse_action(action: Any) -> Call:
    """Read one ACTION.

    Raises ``ActionShapeError`` when the action is malformed (a protocol error) and ``CRMError``
    when it is well-formed but asks for something meaningless (a failed step).
    """
    if not isinstance(action, dict):
        raise ActionShapeError(
            f"A step's data must be a JSON object (an ACTION), got {type(action).__name__}"
        )
    action_type = action.get("action_type")
    spec = ACTIONS.get(action_type) if isinstance(action_type, str) else None
    if spec is None:
        raise ActionShapeError(
            f"Unknown action_type {action_type!r}; accepted: {', '.join(STANDARD_ACTION_TYPES)} "
            "(and the extension types listed in crm_tools/env/actions.py)"
        )
    # The public client sends every field, unset ones as null: null means absent.
    given = {k: v for k, v in action.items() if v is not None and k not in ("action_type", "metadata")}
    for name in given:
        if name not in KNOWN_FIELDS:
            raise ActionShapeError(_unknown_field_message(name))

    object_name = spec.object_name
    fields = _FIELDS_BY_NAME.get(object_name or "", {})
    takes_record = spec.operation in ("create", "update")
    links = LINKS.get(object_name or "") if spec.operation == "create" else None
    link_names = _LINK_NAMES.get(object_name or "", {}) if links else {}

    payload: dict[str, Any] = {}
    link_payloads: list[tuple[str, dict[str, Any]]] = []
    misplaced: list[str] = []
    seen_paths: dict[tuple[str, ...], str] = {}
    for name, value in given.items():
        if name in _ALWAYS_ACCEPTED or name in _EXTRA_FIELDS:
            continue
        if name in link_names and links is not None:
            link_payloads.append((links[0], {link_names[name]: _check_value(name, "text", value)}))
        elif takes_record and name in fields:
            flat = fields[name]
            checked = _check_value(name, flat.kind, value)
            if flat.kind == "units":
                checked = round(checked * _MICROS_PER_UNIT)
            if flat.path in seen_paths:
                raise CRMError(
                    f"'{seen_paths[flat.path]}' and '{name}' set the same value; give only one",
                    code="INVALID_ACTION",
                )
            seen_paths[flat.path] = name
            _set_path(payload, flat.path, checked)
        else:
            misplaced.append(name)

    clear = given.get("clear_fields")
    if clear is not None:
        if not isinstance(clear, list) or not all(isinstance(c, str) for c in clear):
            raise ActionShapeError("'clear_fields' must be a list of field names")
        if spec.operation != "update":
            misplaced.append("clear_fields")
        for name in clear:
            if name not in fields:
                raise CRMError(
                    f"clear_fields names '{name}', which {spec.action_type} does not have; "
                    f"it has {', '.join(fields) or 'no fields'}",
                    code="INVALID_ACTION",
                )
            _set_path(payload, fields[name].path, None)

    record_id = given.get("record_id")
    needs_id = spec.operation in ("update", "delete", "get", "complete")
    if record_id is not None and not needs_id:
        misplaced.append("record_id")
    if misplaced:
        accepted = [*fields, *link_names] if takes_record else []
        raise _not_applicable(spec.action_type, misplaced, accepted)
    if needs_id and (not isinstance(record_id, str) or not record_id):
        singular, plural = _NAMES[object_name or ""]
        raise CRMError(
            f"{spec.action_type} needs 'record_id', the id of the {singular.replace('_', ' ')} as a string "
            f"(from list_{plural} or create_{singular}); received {_preview(record_id)}",
            code="INVALID_ACTION",
        )

    key = given.get("idempotency_key")
    if key is not None and (spec.operation != "create" or not isinstance(key, str)):
        raise CRMError(
            "'idempotency_key' is a string and only applies to create actions", code="INVALID_ACTION"
        )

    answer = given.get("answer")
    if spec.operation == "submit":
        if answer is not None and not isinstance(answer, str):
            raise ActionShapeError(f"'answer' must be a string, got {answer!r}")
    elif answer is not None:
        raise _not_applicable(spec.action_type, ["answer"], [])

    return Call(
        operation=spec.operation,
        object_name=object_name,
        record_id=record_id,
        payload=payload,
        params=_params(spec, given),
        links=tuple(link_payloads),
        idempotency_key=key,
        answer=answer,
    )


def _params(spec: ActionSpec, given: dict[str, Any]) -> dict[str, Any]:
    if spec.operation == "get":
        return {"depth": given["depth"]} if "depth" in given else {}
    if spec.operation != "list":
        return {}
    params = {name: given[name] for name in LIST_PARAMS if name in given and name != "cursor"}
    if "cursor" in given:
        # ``cursor`` is the legacy name of ``starting_after``.
        if "starting_after" in params and params["starting_after"] != given["cursor"]:
            raise CRMError(
                "'cursor' is the legacy name of 'starting_after'; give one of them, not both",
                code="INVALID_ACTION",
            )
        params["starting_after"] = given["cursor"]
    for name in ("cursor", "starting_after", "ending_before", "order_by", "filter"):
        if name in params and not isinstance(params[name], str):
            raise ActionShapeError(f"'{name}' must be a string, got {params[name]!r}")
    return params


# ---------------------------------------------------------------------------------------------
# Client side: backend call -> ACTION


def _field_for(object_name: str, path: tuple[str, ...], extensions: bool) -> FlatField | None:
    for flat in FIELDS.get(object_name, ()):
        if flat.path == path and (flat.standard or extensions):
            return flat
    return None


def _sendable(object_name: str, extensions: bool) -> str:
    paths = [".".join(f.path) for f in FIELDS.get(object_name, ()) if f.standard or extensions]
    return ", ".join(dict.fromkeys(paths)) or "nothing"


def _leaves(payload: dict[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    leaves: list[tuple[tuple[str, ...], Any]] = []
    for key, value in payload.items():
        if isinstance(value, dict):
            leaves.extend(((key, sub), subvalue) for sub, subvalue in value.items())
        else:
            leaves.append(((key,), value))
    return leaves


def record_fields(
    object_name: str, payload: dict[str, Any], *, extensions: bool, creating: bool
) -> dict[str, Any]:
    """The flat fields that carry ``payload`` (a Twenty-shaped record body).

    Raises ``CRMError`` naming any part of the payload the vocabulary cannot carry, so nothing is
    silently dropped on its way to the server.
    """
    if not isinstance(payload, dict):
        raise CRMError(f"A {object_name} payload must be an object, got {type(payload).__name__}")
    fixed = [name for name in _SYSTEM_FIELDS if name in payload]
    if fixed and not creating:
        # Same answer as the embedded store: these never change, over any transport.
        raise CRMError(f"'{fixed[0]}' cannot be updated; change the record's own fields only")
    action: dict[str, Any] = {}
    clear: list[str] = []
    unsendable: list[str] = []
    for path, value in _leaves(payload):
        flats = [_field_for(object_name, path, extensions)]
        if value is None and len(path) == 1 and flats[0] is None:
            # A whole composite set to null: clear each of its subfields.
            flats = [
                f for f in FIELDS.get(object_name, ()) if f.path[0] == path[0] and (f.standard or extensions)
            ]
        if not flats or flats[0] is None:
            if creating and value is not None and _is_implied(object_name, path, value):
                continue
            unsendable.append(".".join(path))
            continue
        for flat in flats:
            assert flat is not None
            if value is None:
                if creating:
                    continue  # absent and null are the same for a new record
                if not extensions:
                    unsendable.append(f"{'.'.join(path)} (set to null)")
                    continue
                clear.append(flat.name)
            elif flat.kind == "units" and isinstance(value, int | float) and not isinstance(value, bool):
                action[flat.name] = value / _MICROS_PER_UNIT
            else:
                action[flat.name] = value
    if unsendable:
        raise CRMError(
            f"The CRM env protocol cannot carry {', '.join(unsendable)} of a {object_name}"
            f"{'' if extensions else ' (this server does not advertise the converso extension)'}; "
            f"it carries {_sendable(object_name, extensions)}",
            code="UNSUPPORTED_FIELD",
        )
    if clear:
        action["clear_fields"] = clear
    return action


def _is_implied(object_name: str, path: tuple[str, ...], value: Any) -> bool:
    return any(f.path == path and f.implied == value for f in FIELDS.get(object_name, ()))


def require_action(object_name: str, operation: Operation, extensions: bool) -> str:
    """The action type for a backend call, or ``CRMError`` when the server cannot do it."""
    if object_name not in _NAMES:
        raise CRMError(
            f"'{object_name}' is not a CRM object; accepted: {', '.join(_NAMES)}", code="UNKNOWN_OBJECT"
        )
    spec = action_spec(object_name, operation)
    if not spec.standard and not extensions:
        raise CRMError(
            f"The standard CRM env protocol has no '{spec.action_type}' action and this server does not "
            f"advertise the converso extension; standard actions: {', '.join(STANDARD_ACTION_TYPES)}",
            code="UNSUPPORTED_ACTION",
        )
    return spec.action_type
