"""Opportunities: the fields of CreateOpportunity, and UpdateOpportunity over them."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from crm_tools.forms._create import CreateForm
from crm_tools.forms._update import UpdateForm, update_schema
from crm_tools.forms.fields import (
    STAGES,
    Amount,
    Crm,
    Currency,
    Day,
    Reference,
    Stage,
    date_field,
    from_micros,
    to_micros,
)


class OpportunityFields(BaseModel):
    name: Annotated[str, Crm("name")] = Field(description="Name of the deal")
    amount: Annotated[Amount | None, Crm("amount.amountMicros", to_micros, from_micros)] = Field(
        None, description="In currency units"
    )
    currency: Annotated[Currency, Crm("amount.currencyCode")] = Field("USD", description="ISO code")
    stage: Annotated[Stage, Crm("stage")] = Field("NEW", description=" | ".join(STAGES))
    close_date: Annotated[Day | None, date_field("closeDate")] = Field(
        None, description="As the user said it"
    )
    company: Annotated[str | None, Reference(("company",), "companyId")] = Field(
        None, description="Name, domain or id"
    )
    point_of_contact: Annotated[str | None, Reference(("person",), "pointOfContactId")] = Field(
        None, description="Person: name, email or id"
    )


class CreateOpportunity(CreateForm):
    name: str = "CreateOpportunity"
    description: str = "Create an opportunity (deal)"
    args_schema: type[BaseModel] = OpportunityFields
    object_name: ClassVar[str] = "opportunity"


class UpdateOpportunity(UpdateForm):
    name: str = "UpdateOpportunity"
    description: str = "Change an opportunity (deal)"
    args_schema: type[BaseModel] = update_schema("UpdateOpportunity", OpportunityFields, "opportunity")
    object_name: ClassVar[str] = "opportunity"
