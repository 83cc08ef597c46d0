"""Merging one Update call into a form's values and validating the whole form with its schema.

A value is kept only if the schema accepts it next to the values already collected; a rejected value
leaves the previous one in place. Missing required fields are not errors here: they are what the
conversation still has to ask for.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, to_jsonable_python


@dataclass
class ValidationResult:
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    # The validated form, when nothing required is missing and the schema accepts everything.
    model: BaseModel | None = None


def missing_required(schema: type[BaseModel], values: dict[str, Any]) -> list[str]:
    return [name for name in required_fields(schema) if name not in values]


@functools.cache
def required_fields(schema: type[BaseModel]) -> tuple[str, ...]:
    """The schema's required fields in order (asked on every form call and state note; a schema's fields
    never change)."""
    return tuple(name for name, info in schema.model_fields.items() if info.is_required())


def merge_and_validate(
    schema: type[BaseModel],
    old: dict[str, Any],
    changes: dict[str, Any],
    errors: dict[str, str],
    context: Any = None,
) -> ValidationResult:
    """Apply ``changes`` to ``old``; ``errors`` are rejections already known (e.g. from resolvers)."""
    errors = dict(errors)
    pending = {name: value for name, value in changes.items() if name not in errors}
    while True:
        merged = _apply(old, pending)
        field_errors, form_errors, model = _validate(schema, merged, context)
        blamed = {name: message for name, message in field_errors.items() if name in pending}
        if not blamed and (field_errors or form_errors) and pending:
            # The old values were valid together, so an error that names no changed field (a model
            # validator, a validator reading another field) is caused by the changes as a whole.
            message = "; ".join([*form_errors, *field_errors.values()])
            blamed = dict.fromkeys(pending, message)
        if not blamed:
            break
        errors.update(blamed)
        for name in blamed:
            pending.pop(name)
    values = model.model_dump(mode="json", exclude_unset=True) if model is not None else merged
    return ValidationResult(values=values, errors=errors, accepted=list(pending), model=model)


def _apply(old: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for name, value in changes.items():
        if value is None:  # explicit null clears the field
            merged.pop(name, None)
        else:
            merged[name] = to_jsonable_python(value)
    return merged


def _validate(
    schema: type[BaseModel], values: dict[str, Any], context: Any
) -> tuple[dict[str, str], list[str], BaseModel | None]:
    try:
        return {}, [], schema.model_validate(values, context=context)
    except ValidationError as exc:
        field_errors: dict[str, str] = {}
        form_errors: list[str] = []
        for error in exc.errors(include_url=False):
            if error["type"] == "missing":
                continue
            location = error["loc"]
            if location and isinstance(location[0], str) and location[0] in schema.model_fields:
                field_errors.setdefault(location[0], _message(error))
            else:
                form_errors.append(_message(error))
        return field_errors, form_errors, None


def _message(error: ErrorDetails) -> str:
    # pydantic prefixes what a validator raised ("Value error, ...", "Assertion failed, ..."); the
    # validator's own words are what the model should relay to the user.
    if error["type"] in ("value_error", "assertion_error"):
        own = str(error.get("ctx", {}).get("error", ""))
        if own:
            return own
    return error["msg"]
