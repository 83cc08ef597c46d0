"""The form graph as one node of your own LangGraph graph, run offline with a scripted model.

Run it: ``python docs/examples/form_subgraph.py``. The parent state subclasses ``FormAgentState``, so the
form the subgraph fills is kept in the parent's thread between messages; ``embed_in=`` checks that.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from pydantic import BaseModel, Field

from converso import FormContext, FormTool
from converso.langgraph import FormAgentState, make_graph
from converso.testing import ScriptedChatModel

TICKETS: dict[str, dict[str, Any]] = {}  # stands in for your database, keyed by the idempotency key


class TicketFields(BaseModel):
    title: str = Field(description="What is wrong, in a few words")
    severity: int = Field(description="1 (blocking) to 4 (cosmetic)")


class OpenTicket(FormTool):
    name: str = "OpenTicket"
    description: str = "Open a support ticket"
    args_schema: type[BaseModel] = TicketFields

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        ticket = TICKETS.setdefault(context.form_id, fields)
        return f"Ticket opened: {ticket['title']} (severity {ticket['severity']})."


class SupportState(FormAgentState, total=False):
    """The parent's state: the form graph's public keys, and the parent's own."""

    customer: str


def identify(state: SupportState) -> dict[str, Any]:
    # The parent's own work before the form agent takes the message.
    return {"customer": state.get("customer") or "anonymous"}


model = ScriptedChatModel(
    responses=[
        {"tool_calls": [{"name": "OpenTicketStart", "args": {}}]},
        {"tool_calls": [{"name": "FormUpdate", "args": {"title": "Login fails"}}]},
        "How bad is it, from 1 (blocking) to 4 (cosmetic)?",
        {"tool_calls": [{"name": "FormUpdate", "args": {"severity": 1}}]},
        "Login fails, severity 1. Shall I open the ticket?",
        {"tool_calls": [{"name": "FormFinalize", "args": {"confirm": True}}]},
        "Done: the ticket is open.",
    ]
)
forms = make_graph([OpenTicket()], model, embed_in=SupportState)

parent = StateGraph(SupportState)
parent.add_node("identify", identify)
parent.add_node("forms", forms)
parent.add_edge(START, "identify")
parent.add_edge("identify", "forms")
support = parent.compile(checkpointer=InMemorySaver())

config = {"configurable": {"thread_id": "customer-7"}}
for text in ["Login fails for me", "It blocks everyone", "yes"]:
    state = support.invoke({"messages": [{"role": "user", "content": text}]}, config)
    print(f"> {text}\n{state['messages'][-1].text}  form={state['form']}")

assert len(TICKETS) == 1, TICKETS
print(TICKETS)
