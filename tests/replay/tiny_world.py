"""A world small enough to test the replay runner on its own: one form and one read tool, in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from converso.form_agent import FormContext, FormReset, FormTool
from converso.testing.cassette import CRMSetting


class BookingFields(BaseModel):
    guest: str = Field(description="the name the table is booked under")
    seats: int = Field(default=2, ge=1, description="how many seats")


class BookTable(FormTool):
    name: str = "BookTable"
    description: str = "Book a table at the restaurant"
    args_schema: type[BaseModel] = BookingFields
    bookings: list[dict[str, Any]] = Field(default_factory=list)

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        for booking in self.bookings:
            if booking["id"] == context.form_id:
                return f"already booked for {booking['guest']}"
        self.bookings.append({"id": context.form_id, **fields})
        return f"booked for {fields['guest']} ({fields['seats']} seats)"


class TinyWorld:
    """``crm: {seed: N}`` pre-books N tables, so seeded cassettes have records to leave alone."""

    def __init__(self, crm: CRMSetting, data_dir: Path, now: datetime) -> None:
        self.form = BookTable()
        for number in range(crm.seed or 0):
            self.form.bookings.append({"id": f"seed-{number}", "guest": f"Regular {number}", "seats": 4})
        self.opening_hours = StructuredTool.from_function(
            func=lambda: "Open 12:00-23:00", name="opening_hours", description="When the restaurant is open"
        )

    @property
    def tools(self) -> Sequence[BaseTool]:
        return [self.form, FormReset(), self.opening_hours]

    def records(self) -> dict[str, list[dict[str, Any]]]:
        return {"bookings": [dict(b) for b in self.form.bookings]}

    def close(self) -> None:
        self.form.bookings.clear()
