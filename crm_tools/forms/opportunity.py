"""Opportunities: the fields of CreateOpportunity, and UpdateOpportunity over them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from crm_tools.forms.fields import (
    STAGES,
    Amount,
    Crm,
    Currency,
    Day,
    Reference,
    Stage,
    day_from_crm,
    day_to_crm,
    from_micros,
    to_micros,
)


class OpportunityFields(BaseModel):
    name: Annotated[str, Crm("name")] = Field(description="Deal name")
    amount: Annotated[Amount | None, Crm("amount.amountMicros", to_micros, from_micros)] = Field(
        None, description="Deal value"
    )
    currency: Annotated[Currency, Crm("amount.currencyCode")] = Field("USD", description="e.g. USD, EUR")
    stage: Annotated[Stage, Crm("stage")] = Field("NEW", description=" | ".join(STAGES))
    close_date: Annotated[Day | None, Crm("closeDate", day_to_crm, day_from_crm)] = Field(
        None, description="Expected close date, as the user said it"
    )
    company: Annotated[str | None, Reference(("company",), "companyId")] = Field(
        None, description="Company: name, domain or id"
    )
    point_of_contact: Annotated[str | None, Reference(("person",), "pointOfContactId")] = Field(
        None, description="Contact person: name, email or id"
    )
