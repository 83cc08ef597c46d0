"""People: the fields of CreatePerson, and UpdatePerson over them."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from crm_tools.forms._create import CreateForm
from crm_tools.forms._update import UpdateForm, update_schema
from crm_tools.forms.fields import Crm, Email, Phone, Reference


class PersonFields(BaseModel):
    first_name: Annotated[str, Crm("name.firstName")] = Field(description="First name")
    last_name: Annotated[str, Crm("name.lastName")] = Field(description="Last name")
    email: Annotated[Email | None, Crm("emails.primaryEmail")] = Field(None, description="Email address")
    phone: Annotated[Phone | None, Crm("phones.primaryPhoneNumber")] = Field(None, description="Phone number")
    job_title: Annotated[str | None, Crm("jobTitle")] = Field(None, description="Job title")
    company: Annotated[str | None, Reference(("company",), "companyId")] = Field(
        None, description="Company they work at: name, domain or id"
    )


class CreatePerson(CreateForm):
    name: str = "CreatePerson"
    description: str = "Create a person (contact)"
    args_schema: type[BaseModel] = PersonFields
    object_name: ClassVar[str] = "person"


class UpdatePerson(UpdateForm):
    name: str = "UpdatePerson"
    description: str = "Change a person (contact)"
    args_schema: type[BaseModel] = update_schema("UpdatePerson", PersonFields, "person")
    object_name: ClassVar[str] = "person"
