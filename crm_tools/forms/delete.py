"""DeleteRecord: which record → summary → confirm → delete."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field

from converso.form_agent import FormContext
from crm_tools.forms._base import CrmForm, split_typed_id
from crm_tools.forms.fields import Reference
from crm_tools.tools import display_name

DELETABLE = ("company", "person", "opportunity", "note", "task")


class DeleteFields(BaseModel):
    record: Annotated[str, Reference(DELETABLE)] = Field(
        description="The company, person, opportunity, note or task to delete: name, email, domain or id"
    )


class DeleteRecord(CrmForm):
    name: str = "DeleteRecord"
    description: str = "Delete a company, person, opportunity, note or task"
    args_schema: type[BaseModel] = DeleteFields
    object_name: ClassVar[str] = "record"

    def summary(self, values: Mapping[str, Any]) -> str:
        target = self.reference_name(values["record"], Reference(DELETABLE))
        return f"Delete {target}? This cannot be undone. Shall I delete it?"

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        object_name, record_id = split_typed_id(fields["record"]) or ("company", fields["record"])
        record = next(iter(self.backend.get(object_name, record_id)["data"].values()))
        self.backend.delete(object_name, record_id)
        return f"Deleted {object_name} {display_name(object_name, record)} (id={record_id})."
