"""The CRM layer over the engine's FormTool: a backend, references resolved to records, a summary a
person can check (names instead of ids, defaults, old → new), and the CRM payload derived from the
form's pydantic model.

Two choices here save a model call each per record: the summary a filled form produces is the turn's
reply as it is (the form already knows what to show, and the system prompt tells the model what a "yes"
means), and a confirmed commit's result is the reply too, unless an interrupted form resumes, which
the model has to pick up.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from converso.form_agent import FormContext, FormFieldError, FormTool, FormToolState
from crm_tools.dates import resolve_date
from crm_tools.errors import CRMError
from crm_tools.forms.fields import Crm, Reference
from crm_tools.forms.references import resolve_reference
from crm_tools.tools import display_name

_TYPED_ID = re.compile(r"^(company|person|opportunity|note|task):([0-9a-fA-F-]{36})$")
ABOUT_KINDS = ("company", "person", "opportunity")


@functools.cache
def field_marker(schema: type[BaseModel], name: str, kind: type) -> Any:
    # Asked for every field on every form call (resolving, the summary, where the call runs), and a
    # schema's metadata never changes: looked up once.
    return next((item for item in schema.model_fields[name].metadata if isinstance(item, kind)), None)


def set_path(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        payload = payload.setdefault(key, {})
    payload[leaf] = value


def get_path(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def typed_id(object_name: str, record_id: str) -> str:
    """How a reference that may point at several kinds of record is stored: ``company:<id>``."""
    return f"{object_name}:{record_id}"


def split_typed_id(value: str) -> tuple[str, str] | None:
    match = _TYPED_ID.match(value)
    return (match.group(1), match.group(2)) if match else None


class CrmForm(FormTool):
    """A FormTool writing one CRM object through ``backend``."""

    object_name: ClassVar[str]
    verb: ClassVar[str] = "Create"
    backend: Any = Field(exclude=True)
    # The filled form's summary and the commit's result are the replies (see the module docstring).
    summary_is_reply: bool = True
    return_direct: bool = True

    # -- field metadata -------------------------------------------------------------------------------

    def crm(self, name: str) -> Crm | None:
        return field_marker(self.schema, name, Crm)

    def reference(self, name: str) -> Reference | None:
        return field_marker(self.schema, name, Reference)

    def hooks_may_block(self) -> bool:
        # Only reference fields read the CRM while a form is filled in: resolved from a name, shown by name
        # in the summary and the display. A form without any (a new company) only validates and formats.
        return any(self.reference(name) is not None for name in self.schema.model_fields)

    # -- resolving what the user said -----------------------------------------------------------------

    def resolve_field(self, name: str, value: Any, context: FormContext) -> Any:
        reference = self.reference(name)
        if reference is not None and isinstance(value, str):
            return self.resolve_reference_field(name, value, reference)
        crm = self.crm(name)
        if crm is not None and crm.is_date and isinstance(value, str):
            # Stored resolved, so the summary, the commit and a later turn all see the same day.
            return resolve_date(value, context.now).isoformat()
        return value

    def resolve_reference_field(self, name: str, text: str, reference: Reference) -> str:
        several_kinds = len(reference.object_names) > 1
        typed = split_typed_id(text.strip())
        if typed is not None and typed[0] in reference.object_names:
            text = typed[1]
        resolution = resolve_reference(self.backend, text, reference.object_names)
        match = resolution.match
        if match is None:
            raise FormFieldError(name, resolution.problem() or f"could not resolve {text!r}")
        return typed_id(match.object_name, match.id) if several_kinds else match.id

    # -- showing values -------------------------------------------------------------------------------

    def reference_name(self, value: str, reference: Reference) -> str:
        typed = split_typed_id(value)
        object_name, record_id = typed if typed else (reference.object_names[0], value)
        try:
            record = next(iter(self.backend.get(object_name, record_id)["data"].values()))
        except (CRMError, StopIteration):
            return f"{object_name} {record_id} (not found)"
        name = display_name(object_name, record)
        return f"{name} ({object_name})" if len(reference.object_names) > 1 else name

    def show(self, name: str, value: Any) -> str:
        if value is None or value == "":
            return "(empty)"
        reference = self.reference(name)
        if reference is not None:
            return self.reference_name(str(value), reference)
        crm = self.crm(name)
        if crm is not None and crm.is_date:
            day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
            return f"{day.isoformat()} ({day:%A})"
        if isinstance(value, float) and value == int(value):
            return f"{int(value):,}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    def display_title(self) -> str:
        # "New company" for a create form; "Update company", "Delete task" for the others.
        return f"New {self.object_name}" if self.verb == "Create" else f"{self.verb} {self.object_name}"

    def display_value(self, name: str, value: Any) -> str:
        return self.show(name, value)

    def defaults(self) -> dict[str, Any]:
        return {
            name: info.default
            for name, info in self.schema.model_fields.items()
            if not info.is_required() and info.default is not None
        }

    def summary(self, values: Mapping[str, Any]) -> str:
        defaults = self.defaults()
        lines = [f"{self.verb} {self.object_name}:"]
        unset = []
        for name in self.schema.model_fields:
            if name in values:
                lines.append(f"- {label(name)}: {self.show(name, values[name])}")
            elif name in defaults:
                lines.append(f"- {label(name)}: {self.show(name, defaults[name])} (default)")
            else:
                unset.append(label(name).lower())
        if unset:
            lines.append(f"You can also add: {', '.join(unset)}. Anything else to add, or shall I save it?")
        else:
            lines.append("Shall I save it?")
        return "\n".join(lines)

    # -- the CRM payload ------------------------------------------------------------------------------

    def payload(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, value in fields.items():
            if value is None:
                continue
            crm, reference = self.crm(name), self.reference(name)
            if crm is not None:
                set_path(data, crm.path, crm.to_crm(value) if crm.to_crm else _plain(value))
            elif reference is not None and reference.path is not None:
                set_path(data, reference.path, value)
        return data

    def link_targets(self, record_id: str, about: str | None, context: FormContext, *, replace: bool) -> None:
        """Notes and tasks reach companies, people and opportunities through target records."""
        if self.object_name not in ("note", "task"):
            return
        link, own = f"{self.object_name}Target", f"{self.object_name}Id"
        if replace:
            existing = self.backend.list(link, filter=f"{own}[eq]:{record_id}", limit=200)
            for target in next(iter(existing["data"].values())):
                self.backend.delete(link, target["id"])
        typed = split_typed_id(about) if about else None
        if typed is not None:
            data = {own: record_id, f"{typed[0]}Id": typed[1]}
            self.backend.create(link, data, idempotency_key=f"{context.form_id}:{link}")

    def written(self, body: dict[str, Any], past: str) -> tuple[dict[str, Any], str]:
        record = next(iter(body["data"].values()))
        text = f"{past} {self.object_name} {display_name(self.object_name, record)} (id={record['id']})."
        return record, text

    # -- what the model sees -------------------------------------------------------------------------

    def variant_description(self, state: FormToolState) -> str:
        # Short: the open form's Update tool is re-sent on every model call.
        if state is FormToolState.INACTIVE:
            return f"{self.description}."
        if state is FormToolState.ACTIVE:
            return "Set fields of the form (null clears one)."
        return super().variant_description(state)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
