"""Record models of the CRM (docs/crm.md "Records") and the field catalogue derived from them.

Each field is declared once, as an annotated type carrying a ``Kind`` marker; the query parser, the
SQL schema and the response shaping all read the catalogue built from these models, so a field's
type, column and filter coercion can never disagree.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from crm_tools.backends.base import PLURALS
from crm_tools.errors import CRMError


@dataclass(frozen=True)
class Kind:
    """Marks an annotated field with its CRM type (and, for join columns, the object it points at)."""

    name: str  # text | email | integer | float | boolean | uuid | datetime | select
    relation: str | None = None
    options: str | None = None


@dataclass(frozen=True)
class SelectOptions:
    """The option lists of select fields; configurable per store, as in Twenty."""

    stage: tuple[str, ...] = ("NEW", "MEETING", "PROPOSAL", "WON", "LOST")
    status: tuple[str, ...] = ("TODO", "IN_PROGRESS", "DONE")

    def of(self, key: str) -> tuple[str, ...]:
        return tuple(getattr(self, key))


DEFAULT_OPTIONS = SelectOptions()

# ---------------------------------------------------------------------------------------------
# value cleaning, shared by the models and the query parser


def reject_nul(text: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it everywhere keeps both stores identical.
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    return text


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected text, received {type(value).__name__}")
    value = reject_nul(value).strip()
    return value or None


def _required_text(value: Any) -> str:
    text = _optional_text(value)
    if text is None:
        raise ValueError("must not be empty (after trimming spaces); give a name such as 'Acme'")
    return text


_EMAIL = re.compile(r"^[^@\s,;<>()\[\]\"']+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


def _email(value: Any) -> str | None:
    text = _optional_text(value)
    if text is None:
        return None
    if not _EMAIL.match(text):
        raise ValueError(f"'{text}' is not an email address; expected a form like 'ana@example.com'")
    return text.lower()


_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]{2,}$")


def normalize_domain(value: str) -> str:
    """``https://www.Acme.com/about`` → ``acme.com``."""
    text = value.strip()
    parts = urlsplit(text if "://" in text else f"//{text}")
    host = (parts.hostname or "").lower().rstrip(".")
    host = host.removeprefix("www.")
    if not _HOST.match(host):
        raise ValueError(
            f"'{value}' is not a domain; expected a form like 'acme.com' or 'https://www.acme.com'"
        )
    return host


def _domain(value: Any) -> str | None:
    text = _optional_text(value)
    return None if text is None else normalize_domain(text)


def _phone(value: Any) -> str | None:
    text = _optional_text(value)
    if text is None:
        return None
    digits = re.sub(r"\D", "", text)
    if not re.fullmatch(r"\+?[\d\s().\-/]+", text) or not 4 <= len(digits) <= 20:
        raise ValueError(
            f"'{text}' is not a phone number; expected digits, spaces, '+', '-', e.g. '+1 555 0100'"
        )
    return text


def _currency_code(value: Any) -> str | None:
    text = _optional_text(value)
    if text is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", text):
        raise ValueError(f"'{text}' is not a currency code; expected three letters such as 'USD' or 'EUR'")
    return text.upper()


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 date-times (any offset, ``Z``) and ``YYYY-MM-DD`` → naive UTC, millisecond precision.

    Millisecond precision is what responses show, so what is stored is exactly what is shown and a
    cursor built from a response compares equal to the stored value.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][0-9:.,]+(Z|z|[+-]\d{2}(:?\d{2})?)?)?", text):
            raise ValueError(
                f"'{value}' is not a date; expected ISO 8601 such as '2026-01-31' or '2026-01-31T09:30:00Z'"
            )
        try:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"'{value}' is not a valid date; expected ISO 8601 such as '2026-01-31' or '2026-01-31T09:30:00Z'"
            ) from None
    else:
        raise ValueError(f"expected a date as text such as '2026-01-31', received {type(value).__name__}")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _datetime(value: Any) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_datetime(value)


def format_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _uuid(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise ValueError(
            f"'{value}' is not a record id; expected a UUID such as '{uuid.UUID(int=1)}'"
        ) from None


def units_to_micros(amount: Any) -> int:
    """``1234.5`` (units) → ``1234500000`` micros; refuses negatives and non-numbers."""
    try:
        micros = Decimal(str(amount).replace(",", "").strip()) * 1_000_000
    except InvalidOperation:
        raise CRMError(f"'{amount}' is not an amount; expected a number ≥ 0 such as 1500 or 99.90") from None
    if micros < 0 or not micros.is_finite():
        raise CRMError(f"'{amount}' is not an amount; expected a number ≥ 0 such as 1500 or 99.90")
    return int(micros)


# ---------------------------------------------------------------------------------------------
# annotated field types

OptText = Annotated[str | None, Kind("text"), BeforeValidator(_optional_text)]
Name = Annotated[str, Kind("text"), BeforeValidator(_required_text)]
Email = Annotated[str | None, Kind("email"), BeforeValidator(_email)]
Domain = Annotated[str | None, Kind("text"), BeforeValidator(_domain)]
Phone = Annotated[str | None, Kind("text"), BeforeValidator(_phone)]
CurrencyCode = Annotated[str | None, Kind("text"), BeforeValidator(_currency_code)]
Count = Annotated[int | None, Kind("integer"), Field(ge=0, le=2**62)]
Micros = Annotated[int | None, Kind("integer"), Field(ge=0, le=2**62)]
Flag = Annotated[bool, Kind("boolean")]
Timestamp = Annotated[datetime | None, Kind("datetime"), BeforeValidator(_datetime)]
Position = Annotated[float | None, Kind("float")]


def Ref(target: str) -> Any:
    return Annotated[str | None, Kind("uuid", relation=target), BeforeValidator(_uuid)]


def Select(options: str) -> Any:
    return Annotated[str | None, Kind("select", options=options)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


# ---------------------------------------------------------------------------------------------
# composite fields


class FullName(_Strict):
    firstName: OptText = None
    lastName: OptText = None


class Emails(_Strict):
    primaryEmail: Email = None


class Phones(_Strict):
    primaryPhoneNumber: Phone = None
    primaryPhoneCountryCode: OptText = None


class Links(_Strict):
    primaryLinkUrl: Domain = None


class Address(_Strict):
    addressStreet1: OptText = None
    addressStreet2: OptText = None
    addressCity: OptText = None
    addressPostcode: OptText = None
    addressState: OptText = None
    addressCountry: OptText = None


class Currency(_Strict):
    amountMicros: Micros = None
    currencyCode: CurrencyCode = None

    @model_validator(mode="after")
    def _default_currency(self) -> Currency:
        # An amount without a currency is in USD (docs/crm.md); no amount means no currency either.
        if self.amountMicros is not None and self.currencyCode is None:
            self.currencyCode = "USD"
        return self


# ---------------------------------------------------------------------------------------------
# records


class RecordInput(_Strict):
    """System fields a caller may set on create (seeding uses them for stable ids and dates)."""

    id: Annotated[str | None, Kind("uuid"), BeforeValidator(_uuid)] = None
    createdAt: Timestamp = None
    position: Position = None


def _check_option(value: str | None, info: ValidationInfo, key: str, default: str | None) -> str | None:
    options: SelectOptions = (info.context or {}).get("options", DEFAULT_OPTIONS)
    if value is None:
        return default
    allowed = options.of(key)
    if value not in allowed:
        raise ValueError(f"'{value}' is not an option; accepted: {', '.join(allowed)}")
    return value


class Company(RecordInput):
    name: Name
    domainName: Links | None = None
    address: Address | None = None
    employees: Count = None
    annualRecurringRevenue: Currency | None = None
    idealCustomerProfile: Flag = False


class Person(RecordInput):
    name: FullName
    emails: Emails | None = None
    phones: Phones | None = None
    jobTitle: OptText = None
    city: OptText = None
    companyId: Ref("company") = None

    @field_validator("name")
    @classmethod
    def _named(cls, value: FullName) -> FullName:
        if value.firstName is None and value.lastName is None:
            raise ValueError("needs a firstName or a lastName (non-empty after trimming spaces)")
        return value


class Opportunity(RecordInput):
    name: Name
    amount: Currency | None = None
    closeDate: Timestamp = None
    stage: Select("stage") = Field(default=None, validate_default=True)
    companyId: Ref("company") = None
    pointOfContactId: Ref("person") = None

    @field_validator("stage", mode="after")
    @classmethod
    def _stage(cls, value: str | None, info: ValidationInfo) -> str | None:
        options: SelectOptions = (info.context or {}).get("options", DEFAULT_OPTIONS)
        return _check_option(value, info, "stage", options.stage[0])


class Note(RecordInput):
    title: OptText = None
    body: OptText = None


class Task(RecordInput):
    title: Name
    body: OptText = None
    dueAt: Timestamp = None
    status: Select("status") = Field(default=None, validate_default=True)
    assigneeId: Annotated[str | None, Kind("uuid"), BeforeValidator(_uuid)] = None

    @field_validator("status", mode="after")
    @classmethod
    def _status(cls, value: str | None, info: ValidationInfo) -> str | None:
        options: SelectOptions = (info.context or {}).get("options", DEFAULT_OPTIONS)
        return _check_option(value, info, "status", options.status[0])


class _Target(RecordInput):
    companyId: Ref("company") = None
    personId: Ref("person") = None
    opportunityId: Ref("opportunity") = None

    @model_validator(mode="after")
    def _one_target(self) -> _Target:
        given = [n for n in ("companyId", "personId", "opportunityId") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a target links exactly one record: give one of companyId, personId, opportunityId "
                f"(received {', '.join(given) or 'none'})"
            )
        return self


class NoteTarget(_Target):
    noteId: Annotated[str, Kind("uuid", relation="note"), BeforeValidator(_uuid)]


class TaskTarget(_Target):
    taskId: Annotated[str, Kind("uuid", relation="task"), BeforeValidator(_uuid)]


MODELS: dict[str, type[RecordInput]] = {
    "company": Company,
    "person": Person,
    "opportunity": Opportunity,
    "note": Note,
    "task": Task,
    "noteTarget": NoteTarget,
    "taskTarget": TaskTarget,
}

# ---------------------------------------------------------------------------------------------
# the field catalogue


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True)
class FieldSpec:
    """One filterable, sortable leaf: ``name.firstName`` stored in column ``name_first_name``."""

    path: str
    column: str
    kind: Kind


@dataclass(frozen=True)
class Relation:
    name: str  # "company"
    target: str  # object name
    column_path: str  # the join column on the many side, "companyId"
    source: str  # the object holding the join column


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    plural: str
    model: type[RecordInput]
    fields: dict[str, FieldSpec]  # leaf path → spec, system fields included
    composites: dict[str, tuple[FieldSpec, ...]]  # composite field → its leaves
    many_to_one: dict[str, Relation] = field(default_factory=dict)
    one_to_many: dict[str, Relation] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return snake(self.plural)


def _kind_of(info: Any) -> Kind | None:
    return next((m for m in info.metadata if isinstance(m, Kind)), None)


def _composite_model(annotation: Any) -> type[BaseModel] | None:
    candidates = get_args(annotation) if get_origin(annotation) is not None else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


_SYSTEM = {
    "id": Kind("uuid"),
    "createdAt": Kind("datetime"),
    "updatedAt": Kind("datetime"),
    "deletedAt": Kind("datetime"),
    "position": Kind("float"),
}


def _build_spec(name: str, model: type[RecordInput]) -> ObjectSpec:
    fields = {path: FieldSpec(path, snake(path), kind) for path, kind in _SYSTEM.items()}
    composites: dict[str, tuple[FieldSpec, ...]] = {}
    many_to_one: dict[str, Relation] = {}
    for fname, info in model.model_fields.items():
        if fname in _SYSTEM:
            continue
        composite = _composite_model(info.annotation)
        if composite is not None:
            leaves = []
            for sub, sub_info in composite.model_fields.items():
                kind = _kind_of(sub_info)
                assert kind is not None, f"{composite.__name__}.{sub} lacks a Kind"
                leaves.append(FieldSpec(f"{fname}.{sub}", f"{snake(fname)}_{snake(sub)}", kind))
            composites[fname] = tuple(leaves)
            fields.update((leaf.path, leaf) for leaf in leaves)
            continue
        kind = _kind_of(info)
        assert kind is not None, f"{model.__name__}.{fname} lacks a Kind"
        fields[fname] = FieldSpec(fname, snake(fname), kind)
        if kind.relation:
            rel = fname.removesuffix("Id")
            many_to_one[rel] = Relation(rel, kind.relation, fname, name)
    return ObjectSpec(name, PLURALS[name], model, fields, composites, many_to_one)


def _build_catalogue() -> dict[str, ObjectSpec]:
    specs = {name: _build_spec(name, model) for name, model in MODELS.items()}
    for spec in specs.values():
        for rel in spec.many_to_one.values():
            # Twenty names the inverse after the source's plural, qualified when the join column
            # is not simply "<target>Id" (pointOfContactId → pointOfContactForOpportunities).
            plural = PLURALS[spec.name]
            inverse = plural if rel.name == rel.target else f"{rel.name}For{plural[0].upper()}{plural[1:]}"
            specs[rel.target].one_to_many[inverse] = rel
    return specs


OBJECTS: dict[str, ObjectSpec] = _build_catalogue()


def object_spec(object_name: str) -> ObjectSpec:
    try:
        return OBJECTS[object_name]
    except KeyError:
        raise CRMError(
            f"'{object_name}' is not a CRM object; accepted: {', '.join(OBJECTS)}", code="UNKNOWN_OBJECT"
        ) from None


# ---------------------------------------------------------------------------------------------
# validation entry points used by the stores


def _message(exc: ValidationError, object_name: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            spec = OBJECTS[object_name]
            top = [f for f in spec.model.model_fields]
            msg = f"is not a field of {object_name}; accepted: {', '.join(top)}"
        elif err["type"] == "missing":
            msg = "is required"
        parts.append(f"'{loc}' {msg}" if loc else msg)
    return f"Invalid {object_name}: " + "; ".join(parts)


def validate_record(
    object_name: str, data: dict[str, Any], options: SelectOptions = DEFAULT_OPTIONS
) -> RecordInput:
    """Validate a whole record payload (nested Twenty shape); raises a 400 ``CRMError``."""
    spec = object_spec(object_name)
    if not isinstance(data, dict):
        raise CRMError(f"Invalid {object_name}: expected an object of fields, received {type(data).__name__}")
    try:
        return spec.model.model_validate(data, context={"options": options})
    except ValidationError as exc:
        raise CRMError(_message(exc, object_name), code="VALIDATION_ERROR") from None


def _flatten_plan(object_name: str) -> tuple[tuple[str, str | None, tuple[tuple[str, str], ...]], ...]:
    """``(field, its column or None, its composite's (subfield, column) pairs)`` per model field."""
    spec = OBJECTS[object_name]
    plan = []
    for fname in spec.model.model_fields:
        if fname in spec.composites:
            leaves = tuple((leaf.path.split(".", 1)[1], leaf.column) for leaf in spec.composites[fname])
            plan.append((fname, None, leaves))
        else:
            plan.append((fname, spec.fields[fname].column, ()))
    return tuple(plan)


_FLATTEN_PLANS = {name: _flatten_plan(name) for name in OBJECTS}


def flatten(object_name: str, record: RecordInput, only: Collection[str] | None = None) -> dict[str, Any]:
    """Model → ``{column: value}`` for every stored field the model carries (or the ``only`` ones)."""
    values = record.__dict__
    row: dict[str, Any] = {}
    for fname, column, leaves in _FLATTEN_PLANS[object_name]:
        if only is not None and fname not in only:
            continue
        value = values[fname]
        if column is not None:
            row[column] = value
        elif value is None:
            for _, leaf_column in leaves:
                row[leaf_column] = None
        else:
            parts = value.__dict__
            for sub, leaf_column in leaves:
                row[leaf_column] = parts[sub]
    return row


def _patch_model(model: type[RecordInput]) -> type[RecordInput]:
    """``model`` with every field optional: it validates just the fields an update gives.

    Subclassing keeps the field and composite validators; a field left out is not validated again,
    since what is stored was valid when written.
    """
    fields: dict[str, Any] = {}
    for fname, info in model.model_fields.items():
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[fname] = (annotation, None)
    return create_model(f"{model.__name__}Patch", __base__=model, **fields)  # type: ignore[call-overload, no-any-return]


# Targets check a rule across their fields (exactly one target), so they are always validated whole.
_PATCH_MODELS = {name: _patch_model(model) for name, model in MODELS.items() if not name.endswith("Target")}


def validate_patch(
    object_name: str, merged: dict[str, Any], options: SelectOptions = DEFAULT_OPTIONS
) -> dict[str, Any] | None:
    """Validate the given (already merged) top-level fields of an update → ``{column: value}``.

    ``None`` when the object must be validated as a whole record instead.
    """
    model = _PATCH_MODELS.get(object_name)
    if model is None:
        return None
    try:
        record = model.model_validate(merged, context={"options": options})
    except ValidationError as exc:
        raise CRMError(_message(exc, object_name), code="VALIDATION_ERROR") from None
    return flatten(object_name, record, only=merged.keys())


def _nest_plan(object_name: str) -> tuple[tuple[str, str, str, str], ...]:
    spec = OBJECTS[object_name]
    return tuple(
        (leaf.column, *leaf.path.partition(".")[::2], leaf.kind.name) for leaf in spec.fields.values()
    )


_NEST_PLANS = {name: _nest_plan(name) for name in OBJECTS}


def nest(object_name: str, row: Any) -> dict[str, Any]:
    """A stored row (mapping by column) → the Twenty-shaped record with nested composites."""
    record: dict[str, Any] = {}
    for column, head, sub, kind in _NEST_PLANS[object_name]:
        value = row[column]
        if value is not None:
            if kind == "datetime":
                value = format_datetime(value)
            elif kind == "boolean":
                value = bool(value)
        if sub:
            composite = record.get(head)
            if composite is None:
                composite = record[head] = {}
            composite[sub] = value
        else:
            record[head] = value
    return record
