"""Companies: the fields of CreateCompany, and UpdateCompany over them."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from crm_tools.forms._create import CreateForm
from crm_tools.forms._update import UpdateForm, update_schema
from crm_tools.forms.fields import Crm, Domain, Employees, domain_from_crm


class CompanyFields(BaseModel):
    name: Annotated[str, Crm("name")] = Field(description="Company name")
    domain: Annotated[Domain | None, Crm("domainName.primaryLinkUrl", from_crm=domain_from_crm)] = Field(
        None, description="Web domain, e.g. acme.com"
    )
    address: Annotated[str | None, Crm("address.addressStreet1")] = Field(None, description="Street address")
    employees: Annotated[Employees | None, Crm("employees")] = Field(None, description="Number of employees")


class CreateCompany(CreateForm):
    name: str = "CreateCompany"
    description: str = "Create a company"
    args_schema: type[BaseModel] = CompanyFields
    object_name: ClassVar[str] = "company"


class UpdateCompany(UpdateForm):
    name: str = "UpdateCompany"
    description: str = "Change a company"
    args_schema: type[BaseModel] = update_schema("UpdateCompany", CompanyFields, "company")
    object_name: ClassVar[str] = "company"
