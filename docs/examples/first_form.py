"""A form from a pydantic model to a committed record, run offline with a scripted model.

Run it: ``python docs/examples/first_form.py``. Swap ``ScriptedChatModel`` for ``model="gpt-4o-mini"``
(with OPENAI_API_KEY set) to talk to a real model.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field, field_validator

from converso import FormAgentExecutor, FormContext, FormTool
from converso.testing import ScriptedChatModel

BOOKINGS: dict[str, dict[str, Any]] = {}  # stands in for your database, keyed by the idempotency key


class RoomFields(BaseModel):
    guest: str = Field(description="Full name of the guest")
    nights: int = Field(description="Number of nights, at least 1")
    arrival: date = Field(description="Arrival date")
    note: str | None = Field(None, description="Anything the hotel should know")

    @field_validator("nights")
    @classmethod
    def at_least_one_night(cls, nights: int) -> int:
        if nights < 1:
            raise ValueError("a booking is for at least one night")
        return nights


class BookRoom(FormTool):
    name: str = "BookRoom"
    description: str = "Book a hotel room"
    args_schema: type[BaseModel] = RoomFields

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        # The form id is stable for the life of the form: storing under it makes a retried commit
        # return the first booking instead of booking twice.
        booking = BOOKINGS.setdefault(context.form_id, fields)
        return f"Booked {booking['nights']} night(s) for {booking['guest']} from {booking['arrival']}."


model = ScriptedChatModel(
    responses=[
        # Turn 1: the user asks for a room and gives two fields.
        {"tool_calls": [{"name": "BookRoomStart", "args": {}}]},
        {"tool_calls": [{"name": "FormUpdate", "args": {"guest": "Ada Lovelace", "nights": 0}}]},
        "How many nights? A booking is for at least one night.",
        # Turn 2: the rest; the form is filled and its summary is shown.
        {"tool_calls": [{"name": "FormUpdate", "args": {"nights": 2, "arrival": "2027-03-01"}}]},
        "Here is the booking: Ada Lovelace, 2 nights from 2027-03-01. Shall I book it?",
        # Turn 3: the user agrees; only now is the record written.
        {"tool_calls": [{"name": "FormFinalize", "args": {"confirm": True}}]},
        "Done: booked.",
    ]
)

with FormAgentExecutor(tools=[BookRoom()], model=model) as agent:
    for text in ["A room for Ada Lovelace please, 0 nights", "2 nights, arriving 2027-03-01", "yes"]:
        reply = agent.send("guest-1", text)
        print(f"> {text}\n{reply.text}  form={reply.form}")

assert len(BOOKINGS) == 1, BOOKINGS
print(BOOKINGS)
