"""Update forms: which record, then the fields to change; the summary shows old → new and the commit
writes only what changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model

from converso.form_agent import FormContext
from crm_tools.errors import CRMError
from crm_tools.forms._base import CrmForm, get_path, label, typed_id
from crm_tools.forms.fields import Reference

CHANGES = "changes"


def update_schema(name: str, fields: type[BaseModel], object_name: str) -> type[BaseModel]:
    """``record`` (required) and every field of the create form, all optional and without defaults."""
    definitions: dict[str, Any] = {
        "record": (
            Annotated[str, Reference((object_name,))],
            Field(description=f"The {object_name} to change: name, email, domain or id"),
        )
    }
    for field_name, info in fields.model_fields.items():
        # The markers (Crm, Reference) stay outermost, where CrmForm looks for them.
        annotation = Annotated[info.annotation | None, *info.metadata]
        definitions[field_name] = (annotation, Field(None, description=info.description))
    return create_model(name, **definitions)


class UpdateForm(CrmForm):
    verb = "Update"

    def old_values(self, record_id: str) -> dict[str, Any]:
        record = next(iter(self.backend.get(self.object_name, record_id)["data"].values()))
        old: dict[str, Any] = {}
        for name in self.schema.model_fields:
            if name == "record":
                continue
            crm, reference = self.crm(name), self.reference(name)
            if crm is not None:
                value = get_path(record, crm.path)
                old[name] = crm.from_crm(value) if crm.from_crm else value
            elif reference is not None and reference.path is not None:
                old[name] = get_path(record, reference.path)
            elif reference is not None:
                old[name] = self.current_target(record_id)
        return old

    def current_target(self, record_id: str) -> str | None:
        link, own = f"{self.object_name}Target", f"{self.object_name}Id"
        body = self.backend.list(link, filter=f"{own}[eq]:{record_id}", limit=1)
        for target in next(iter(body["data"].values())):
            for kind in ("company", "person", "opportunity"):
                if target.get(f"{kind}Id"):
                    return typed_id(kind, target[f"{kind}Id"])
        return None

    def changes(self, values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Each field whose new value differs from the record's: name → (old, new)."""
        if "record" not in values:
            return {}
        try:
            old = self.old_values(values["record"])
        except CRMError:
            return {}
        return {
            name: (old.get(name), value)
            for name, value in values.items()
            if name != "record" and value != old.get(name)
        }

    def prepare_values(self, changes: dict[str, Any], context: FormContext) -> dict[str, Any]:
        # A value equal to the record's is no change: dropping it here means the commit writes exactly
        # the fields the summary showed, even if someone else edits the record before the "yes".
        record_id = changes.get("record") or context.values.get("record")
        if not record_id:
            return changes
        try:
            old = self.old_values(record_id)
        except CRMError:
            return changes
        return {
            name: value
            for name, value in changes.items()
            if name == "record" or value is None or _comparable(self, name, value) != old.get(name)
        }

    def get_next_field_to_collect(self, values: Mapping[str, Any]) -> str | None:
        if "record" not in values:
            return "record"
        return None if self.changes(values) else CHANGES

    def is_form_filled(self, values: Mapping[str, Any]) -> bool:
        return bool(self.changes(values))

    def describe_field(self, name: str) -> str:
        if name == CHANGES:
            editable = ", ".join(n for n in self.schema.model_fields if n != "record")
            return f"what to change; fields: {editable}"
        return super().describe_field(name)

    def summary(self, values: Mapping[str, Any]) -> str:
        record = self.reference_name(values["record"], Reference((self.object_name,)))
        lines = [f"Update {self.object_name} {record}:"]
        for name, (old, new) in self.changes(values).items():
            lines.append(f"- {label(name)}: {self.show(name, old)} → {self.show(name, new)}")
        lines.append("Anything else to change, or shall I save it?")
        return "\n".join(lines)

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        changed = [name for name in context.values if name != "record"]
        record_id = fields["record"]
        data = self.payload({name: fields[name] for name in changed})
        body = self.backend.update(self.object_name, record_id, data)
        if "about" in changed:
            self.link_targets(record_id, fields.get("about"), context, replace=True)
        return self.written(body, "Updated")[1]


def _comparable(form: UpdateForm, name: str, value: Any) -> Any:
    """The value as it will be stored, to compare with the record's (e.g. "ACME.com" → "acme.com")."""
    try:
        model = form.schema.model_validate({"record": "x", name: value})
    except ValueError:
        return value
    return model.model_dump(mode="json")[name]
