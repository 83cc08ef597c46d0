"""Companies: the fields of CreateCompany, and UpdateCompany over them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from crm_tools.forms.fields import Crm, Domain, Employees, domain_from_crm


class CompanyFields(BaseModel):
    name: Annotated[str, Crm("name")] = Field(description="Company name")
    domain: Annotated[Domain | None, Crm("domainName.primaryLinkUrl", from_crm=domain_from_crm)] = Field(
        None, description="Web domain, e.g. acme.com"
    )
    address: Annotated[str | None, Crm("address.addressStreet1")] = Field(None, description="Street address")
    employees: Annotated[Employees | None, Crm("employees")] = Field(None, description="Number of employees")
