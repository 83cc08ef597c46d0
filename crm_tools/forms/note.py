"""Notes: the fields of CreateNote."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from crm_tools.forms._create import CreateForm
from crm_tools.forms.fields import Crm, Reference

ABOUT = Reference(("company", "person", "opportunity"))


class NoteFields(BaseModel):
    body: Annotated[str, Crm("body")] = Field(description="The note text")
    title: Annotated[str | None, Crm("title")] = Field(None, description="Short title")
    about: Annotated[str | None, ABOUT] = Field(
        None, description="Company, person or opportunity it is about"
    )


class CreateNote(CreateForm):
    name: str = "CreateNote"
    description: str = "Create a note"
    args_schema: type[BaseModel] = NoteFields
    object_name: ClassVar[str] = "note"
