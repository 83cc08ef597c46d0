"""Forms used by the engine tests: small, real FormTool subclasses with a ledger standing in for a CRM."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from converso import FormContext, FormFieldError, FormTool


class Ledger:
    """Where test commits write. Keyed by the form id, like an idempotent backend: a second commit with
    the same key returns the first result and writes nothing."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.by_key: dict[str, str] = {}
        self.fail_next: Exception | None = None
        self._lock = threading.Lock()

    def write(self, key: str, record: dict[str, Any]) -> str:
        with self._lock:
            if self.fail_next is not None:
                failure, self.fail_next = self.fail_next, None
                raise failure
            if key not in self.by_key:
                self.writes.append(record)
                self.by_key[key] = f"record {len(self.writes)}"
            return self.by_key[key]


class CompanyFields(BaseModel):
    name: str = Field(description="The company's name")
    employees: int = Field(ge=0, description="How many people work there")
    domain: str | None = Field(default=None, description="Web domain, like acme.com")
    ideal_customer: bool | None = Field(default=None, description="Whether it is an ideal customer")

    @field_validator("domain")
    @classmethod
    def domain_has_a_dot(cls, value: str | None) -> str | None:
        if value is not None and "." not in value:
            raise ValueError("a domain looks like example.com")
        return value.lower() if value else value


class LedgerForm(FormTool):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    ledger: Ledger = Field(default_factory=Ledger, exclude=True)
    commits: list[tuple[FormContext, dict[str, Any]]] = Field(default_factory=list, exclude=True)

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        self.commits.append((context, fields))
        return f"{self.name} {self.ledger.write(context.form_id, fields)}"


class CreateCompany(LedgerForm):
    name: str = "CreateCompany"
    description: str = "Create a company"
    args_schema: type[BaseModel] = CompanyFields


class PersonFields(BaseModel):
    first_name: str = Field(description="Given name")
    last_name: str = Field(description="Family name")


class EmployeeFields(PersonFields):
    email: str = Field(description="Work email address")
    company: str | None = Field(default=None, description="Company id")

    @model_validator(mode="after")
    def email_names_the_person(self) -> EmployeeFields:
        if self.last_name.lower() not in self.email.lower():
            raise ValueError("the email must contain the last name")
        return self


class CreateEmployee(LedgerForm):
    name: str = "CreateEmployee"
    description: str = "Create a person working at a company"
    args_schema: type[BaseModel] = EmployeeFields
    companies: dict[str, str] = Field(default_factory=lambda: {"acme": "company-1"})

    def resolve_field(self, name: str, value: Any, context: FormContext) -> Any:
        if name != "company":
            return value
        try:
            return self.companies[str(value).lower()]
        except KeyError:
            raise FormFieldError("company", f"no company named {value!r}; known: Acme") from None


class MeetingFields(BaseModel):
    title: str = Field(description="What the meeting is about")
    day: date = Field(description="The day of the meeting, not in the past")
    attendees: int = Field(default=2, description="How many people attend")

    @field_validator("day")
    @classmethod
    def not_in_the_past(cls, value: date, info: ValidationInfo) -> date:
        context = info.context
        if isinstance(context, FormContext) and value < context.now.date():
            raise ValueError(f"the day must not be before today ({context.now.date().isoformat()})")
        return value


class ScheduleMeeting(LedgerForm):
    name: str = "ScheduleMeeting"
    description: str = "Schedule a meeting"
    args_schema: type[BaseModel] = MeetingFields

    def prepare_values(self, changes: dict[str, Any], context: FormContext) -> dict[str, Any]:
        if changes.get("day") == "today":
            changes = {**changes, "day": context.now.date()}
        return changes

    def summary(self, values: dict[str, Any]) -> str:
        return f"Meeting {values['title']!r} on {values['day']}"


class QuickNote(LedgerForm):
    name: str = "QuickNote"
    description: str = "Write a note"
    skip_confirm: bool = True
    return_direct: bool = True

    class Fields(BaseModel):
        text: str = Field(description="The note")

    args_schema: type[BaseModel] = Fields
