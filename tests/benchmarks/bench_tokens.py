"""Prompt tokens of one CRM conversation: converso's forms against a flat-tool ReAct agent.

The conversation creates a company, a person at it and an opportunity for them, with the user
confirming each record. Both agents are driven by a ScriptedChatModel making the choices a capable
model would make, and both write to a real in-memory CRM. Every request the model receives is
counted as sent: system prompt + messages (OpenAI format) + tool schemas, o200k tokens via bpe_openai.
"Fixed" tokens are the system prompt and the tool schemas, which every call pays again.

Run: python tests/benchmarks/bench_tokens.py
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bpe_openai
from langchain_core.messages import HumanMessage, SystemMessage, convert_to_openai_messages
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import create_react_agent
from pydantic import BaseModel, Field

from converso.form_agent import FormAgentExecutor
from converso.testing import ScriptedChatModel, ScriptedRequest
from crm_tools.backends.base import PLURALS, CRMBackend
from crm_tools.backends.sql import SqlBackend
from crm_tools.errors import CRMError
from crm_tools.tools import CompactTool
from crm_tools.toolset import build_tools

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ENCODING = bpe_openai.get_encoding("o200k_base")

USER_TURNS = [
    "Add a company: Acme Robotics, acme-robotics.com, about 120 people.",
    "Yes, save it.",
    "Add Jane Doe, CTO at Acme Robotics, jane@acme-robotics.com.",
    "Yes.",
    "Create an opportunity 'Acme Robotics pilot' for 50k, closing 1 Dec, with Jane as the contact.",
    "Confirm.",
]


@dataclass
class CallCost:
    fixed: int
    total: int


def tokens(value: Any) -> int:
    return len(ENCODING.encode(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))


def cost(request: ScriptedRequest) -> CallCost:
    messages = convert_to_openai_messages(request.messages)
    system = [m for m in messages if m.get("role") == "system"]
    fixed = tokens(system) + tokens(request.tool_schemas)
    return CallCost(fixed=fixed, total=tokens(messages) + tokens(request.tool_schemas))


def call(name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "args": args or {}}]}


# -- converso -------------------------------------------------------------------------------------------

CONVERSO_SCRIPT: list[list[Any]] = [
    [
        call("CreateCompanyStart"),
        call(
            "CreateCompanyUpdate", {"name": "Acme Robotics", "domain": "acme-robotics.com", "employees": 120}
        ),
    ],
    [call("CreateCompanyFinalize", {"confirm": True})],
    [
        call("CreatePersonStart"),
        call(
            "CreatePersonUpdate",
            {
                "first_name": "Jane",
                "last_name": "Doe",
                "job_title": "CTO",
                "email": "jane@acme-robotics.com",
                "company": "Acme Robotics",
            },
        ),
    ],
    [call("CreatePersonFinalize", {"confirm": True})],
    [
        call("CreateOpportunityStart"),
        call(
            "CreateOpportunityUpdate",
            {
                "name": "Acme Robotics pilot",
                "amount": 50000,
                "close_date": "1 Dec",
                "company": "Acme Robotics",
                "point_of_contact": "jane@acme-robotics.com",
            },
        ),
    ],
    [call("CreateOpportunityFinalize", {"confirm": True})],
]


def run_converso(crm: CRMBackend) -> tuple[list[ScriptedRequest], list[str]]:
    model = ScriptedChatModel(responses=[])
    ids = (f"form-{n}" for n in itertools.count(1))
    replies = []
    with FormAgentExecutor(
        tools=build_tools(crm), model=model, clock=lambda: NOW, id_factory=lambda: next(ids)
    ) as agent:
        for text, answers in zip(USER_TURNS, CONVERSO_SCRIPT, strict=True):
            model.extend(answers)
            replies.append(agent.send("bench", text).text)
    return model.requests, replies


# -- the flat agent: one plain tool per CRM operation ---------------------------------------------------

FLAT_SYSTEM_PROMPT = (
    "You are a CRM assistant. Use the tools to read and write the CRM. Before you create, change or "
    "delete a record, show the user exactly what you will write and wait for their confirmation. "
    f"Current date and time: {NOW.isoformat()} ({NOW:%A})."
)


class ListArgs(BaseModel):
    filter: str | None = Field(
        None,
        description="Filter, e.g. 'name[ilike]:\"%acme%\"' or 'stage[in]:[NEW,WON]'; comma is AND; "
        "comparators eq neq gt gte lt lte in containsAny is startsWith endsWith like ilike; groups or(...), "
        "and(...), not(...)",
    )
    order_by: str | None = Field(None, description="Sort, e.g. 'createdAt[DescNullsLast],name[ASC]'")
    limit: int | None = Field(None, description="Page size, 1-200 (default 60)")
    starting_after: str | None = Field(None, description="Cursor: the endCursor of the previous page")
    ending_before: str | None = Field(None, description="Cursor: the startCursor of the next page")
    depth: int | None = Field(None, description="0: fields only; 1: embed related records")


class RecordIdArgs(BaseModel):
    record_id: str = Field(description="The record's UUID")


class CompanyArgs(BaseModel):
    company_name: str = Field(description="Company name")
    company_domain: str | None = Field(None, description="Web domain, e.g. acme.com")
    company_address: str | None = Field(None, description="Street address")
    company_employees: int | None = Field(None, description="Number of employees")


class PersonArgs(BaseModel):
    person_first_name: str = Field(description="First name")
    person_last_name: str = Field(description="Last name")
    person_email: str | None = Field(None, description="Primary email address (unique)")
    person_phone: str | None = Field(None, description="Primary phone number")
    person_job_title: str | None = Field(None, description="Job title")
    person_company_id: str | None = Field(None, description="UUID of the company the person works at")


class OpportunityArgs(BaseModel):
    opportunity_name: str = Field(description="Opportunity name")
    opportunity_amount: float | None = Field(None, description="Amount in currency units (not micros)")
    opportunity_currency: str | None = Field(None, description="ISO currency code, default USD")
    opportunity_stage: str | None = Field(None, description="One of NEW, MEETING, PROPOSAL, WON, LOST")
    opportunity_close_date: str | None = Field(None, description="Expected close date, ISO 8601")
    opportunity_company_id: str | None = Field(None, description="UUID of the company")
    opportunity_person_id: str | None = Field(None, description="UUID of the point of contact (a person)")


class NoteArgs(BaseModel):
    note_title: str | None = Field(None, description="Note title")
    note_body: str | None = Field(None, description="Note text")
    note_target_person_id: str | None = Field(None, description="UUID of a person the note is about")
    note_target_company_id: str | None = Field(None, description="UUID of a company the note is about")
    note_target_opportunity_id: str | None = Field(
        None, description="UUID of an opportunity the note is about"
    )


class TaskArgs(BaseModel):
    task_title: str = Field(description="Task title")
    task_body: str | None = Field(None, description="Task details")
    task_due_date: str | None = Field(None, description="Due date, ISO 8601")
    task_assignee_id: str | None = Field(None, description="UUID of the workspace member assigned")
    task_status: str | None = Field(None, description="One of TODO, IN_PROGRESS, DONE")
    task_target_person_id: str | None = Field(None, description="UUID of a person the task is about")
    task_target_company_id: str | None = Field(None, description="UUID of a company the task is about")
    task_target_opportunity_id: str | None = Field(
        None, description="UUID of an opportunity the task is about"
    )


def _with_id(model: type[BaseModel]) -> type[BaseModel]:
    fields = {
        name: (info.annotation | None, Field(None, description=info.description))
        for name, info in model.model_fields.items()
    }
    from pydantic import create_model

    return create_model(f"Update{model.__name__}", record_id=(str, Field(description="UUID")), **fields)


def _payload(object_name: str, args: dict[str, Any]) -> dict[str, Any]:
    a = {k.split("_", 1)[1]: v for k, v in args.items() if v is not None and k != "record_id"}
    if object_name == "company":
        data: dict[str, Any] = {"name": a.get("name")}
        if "domain" in a:
            data["domainName"] = {"primaryLinkUrl": a["domain"]}
        if "address" in a:
            data["address"] = {"addressStreet1": a["address"]}
        if "employees" in a:
            data["employees"] = a["employees"]
    elif object_name == "person":
        data = {"name": {"firstName": a.get("first_name"), "lastName": a.get("last_name")}}
        if "email" in a:
            data["emails"] = {"primaryEmail": a["email"]}
        if "job_title" in a:
            data["jobTitle"] = a["job_title"]
        if "company_id" in a:
            data["companyId"] = a["company_id"]
    else:
        data = {"name": a.get("name")}
        if "amount" in a:
            data["amount"] = {
                "amountMicros": round(a["amount"] * 1e6),
                "currencyCode": a.get("currency", "USD"),
            }
        for key, field in (("stage", "stage"), ("close_date", "closeDate"), ("company_id", "companyId")):
            if key in a:
                data[field] = a[key]
        if "person_id" in a:
            data["pointOfContactId"] = a["person_id"]
    return {k: v for k, v in data.items() if v is not None}


def flat_tools(crm: CRMBackend, tool_class: type[StructuredTool] = StructuredTool) -> list[BaseTool]:
    def raw(action: Callable[[], dict[str, Any]]) -> str:
        try:
            return json.dumps(action(), ensure_ascii=False)
        except CRMError as exc:
            return json.dumps(exc.body())

    tools: list[BaseTool] = []
    for object_name, args in (
        ("company", CompanyArgs),
        ("person", PersonArgs),
        ("opportunity", OpportunityArgs),
    ):
        plural = PLURALS[object_name]
        tools += [
            tool_class.from_function(
                func=lambda _o=object_name, **kw: raw(lambda: crm.create(_o, _payload(_o, kw))),
                name=f"create_{object_name}",
                description=f"Create a {object_name}.",
                args_schema=args,
            ),
            tool_class.from_function(
                func=lambda record_id, _o=object_name, **kw: raw(
                    lambda: crm.update(_o, record_id, _payload(_o, kw))
                ),
                name=f"update_{object_name}",
                description=f"Update fields of a {object_name}; only the given fields change.",
                args_schema=_with_id(args),
            ),
            tool_class.from_function(
                func=lambda record_id, _o=object_name: raw(lambda: crm.delete(_o, record_id)),
                name=f"delete_{object_name}",
                description=f"Delete a {object_name}.",
                args_schema=RecordIdArgs,
            ),
            tool_class.from_function(
                func=lambda _o=object_name, **kw: raw(
                    lambda: crm.list(_o, **{k: v for k, v in kw.items() if v is not None})
                ),
                name=f"list_{plural}",
                description=f"List {plural} with filtering, sorting and cursor paging.",
                args_schema=ListArgs,
            ),
            tool_class.from_function(
                func=lambda record_id, _o=object_name: raw(lambda: crm.get(_o, record_id)),
                name=f"get_{object_name}",
                description=f"Get one {object_name} by id.",
                args_schema=RecordIdArgs,
            ),
        ]
    tools += [
        tool_class.from_function(
            func=lambda **kw: raw(
                lambda: crm.create("note", {"title": kw.get("note_title"), "body": kw.get("note_body")})
            ),
            name="create_note",
            description="Create a note, optionally linked to a person, company or opportunity.",
            args_schema=NoteArgs,
        ),
        tool_class.from_function(
            func=lambda **kw: raw(lambda: crm.list("note", **{k: v for k, v in kw.items() if v is not None})),
            name="list_notes",
            description="List notes with filtering, sorting and cursor paging.",
            args_schema=ListArgs,
        ),
        tool_class.from_function(
            func=lambda **kw: raw(lambda: crm.create("task", {"title": kw.get("task_title")})),
            name="create_task",
            description="Create a task, optionally linked to a person, company or opportunity.",
            args_schema=TaskArgs,
        ),
        tool_class.from_function(
            func=lambda record_id, **kw: raw(lambda: crm.update("task", record_id, {})),
            name="update_task",
            description="Update fields of a task.",
            args_schema=_with_id(TaskArgs),
        ),
        tool_class.from_function(
            func=lambda record_id: raw(lambda: crm.update("task", record_id, {"status": "DONE"})),
            name="complete_task",
            description="Mark a task as DONE.",
            args_schema=RecordIdArgs,
        ),
        tool_class.from_function(
            func=lambda **kw: raw(lambda: crm.list("task", **{k: v for k, v in kw.items() if v is not None})),
            name="list_tasks",
            description="List tasks with filtering, sorting and cursor paging.",
            args_schema=ListArgs,
        ),
    ]
    return tools


FLAT_SCRIPT: list[list[Any]] = [
    [
        "I'll create this company:\n- Name: Acme Robotics\n- Domain: acme-robotics.com\n- Employees: 120\n"
        "Shall I save it?"
    ],
    [
        call(
            "create_company",
            {
                "company_name": "Acme Robotics",
                "company_domain": "acme-robotics.com",
                "company_employees": 120,
            },
        ),
        "Created the company Acme Robotics.",
    ],
    [
        call("list_companies", {"filter": 'name[ilike]:"%acme robotics%"', "limit": 5}),
        "I'll create this person:\n- Name: Jane Doe\n- Job title: CTO\n- Email: jane@acme-robotics.com\n"
        "- Company: Acme Robotics\nShall I save it?",
    ],
    [
        lambda request: call(
            "create_person",
            {
                "person_first_name": "Jane",
                "person_last_name": "Doe",
                "person_job_title": "CTO",
                "person_email": "jane@acme-robotics.com",
                "person_company_id": _company_id_in(request),
            },
        ),
        "Created Jane Doe at Acme Robotics.",
    ],
    [
        call("list_people", {"filter": 'emails.primaryEmail[eq]:"jane@acme-robotics.com"'}),
        "I'll create this opportunity:\n- Name: Acme Robotics pilot\n- Amount: 50,000 USD\n- Stage: NEW\n"
        "- Close date: 2026-12-01\n- Company: Acme Robotics\n- Contact: Jane Doe\nShall I save it?",
    ],
    [
        lambda request: call(
            "create_opportunity",
            {
                "opportunity_name": "Acme Robotics pilot",
                "opportunity_amount": 50000,
                "opportunity_close_date": "2026-12-01",
                "opportunity_company_id": _company_id_in(request),
                "opportunity_person_id": _person_id_in(request),
            },
        ),
        "Created the opportunity Acme Robotics pilot.",
    ],
]


def _company_id_in(request: ScriptedRequest) -> str:
    for message in convert_to_openai_messages(request.messages):
        if message.get("role") == "tool" and '"createCompany"' in message["content"]:
            return json.loads(message["content"])["data"]["createCompany"]["id"]
    raise AssertionError("no created company in the history")


def _person_id_in(request: ScriptedRequest) -> str:
    for message in reversed(convert_to_openai_messages(request.messages)):
        if message.get("role") == "tool" and '"people"' in message["content"]:
            return json.loads(message["content"])["data"]["people"][0]["id"]
    raise AssertionError("no listed person in the history")


def run_flat(crm: CRMBackend, tool_class: type[StructuredTool] = StructuredTool) -> list[ScriptedRequest]:
    model = ScriptedChatModel(responses=[])
    agent = create_react_agent(model, flat_tools(crm, tool_class), prompt=SystemMessage(FLAT_SYSTEM_PROMPT))
    messages: list[Any] = []
    for text, answers in zip(USER_TURNS, FLAT_SCRIPT, strict=True):
        model.extend(answers)
        messages = agent.invoke({"messages": [*messages, HumanMessage(text)]})["messages"]
        assert model.remaining == 0
    return model.requests


# -- report ---------------------------------------------------------------------------------------------


def report(label: str, requests: list[ScriptedRequest]) -> list[CallCost]:
    costs = [cost(request) for request in requests]
    print(f"\n{label}: {len(costs)} LLM calls, {len(USER_TURNS)} user turns")
    print("  call  tools  fixed  total")
    for index, (request, c) in enumerate(zip(requests, costs, strict=True), start=1):
        print(f"  {index:>4}  {len(request.tools):>5}  {c.fixed:>5}  {c.total:>5}")
    print(
        f"  fixed per call: max {max(c.fixed for c in costs)}, mean {sum(c.fixed for c in costs) / len(costs):.0f}; "
        f"total prompt tokens: {sum(c.total for c in costs)}"
    )
    return costs


def check_records(crm: CRMBackend, label: str) -> None:
    people = crm.list("person", depth=1)["data"]["people"]
    deals = crm.list("opportunity", depth=1)["data"]["opportunities"]
    assert len(people) == 1 and people[0]["companyId"], f"{label}: person not linked: {people}"
    assert len(deals) == 1 and deals[0]["pointOfContactId"] == people[0]["id"], f"{label}: deal not linked"


def main() -> None:
    with SqlBackend("sqlite://") as crm:
        converso_requests, replies = run_converso(crm)
        check_records(crm, "converso")
    with SqlBackend("sqlite://") as crm:
        flat_requests = run_flat(crm)
        check_records(crm, "flat")
    # The same flat agent with schemas compacted as converso's are: how much of the saving is the design.
    with SqlBackend("sqlite://") as crm:
        compact_flat_requests = run_flat(crm, CompactTool)
    print("converso replies:")
    for text, reply in zip(USER_TURNS, replies, strict=True):
        print(f"  user: {text}\n  agent: {reply.replace(chr(10), chr(10) + '         ')}")
    ours = report("converso (forms)", converso_requests)
    flat = report("flat create_react_agent", flat_requests)
    ratio = sum(c.total for c in ours) / sum(c.total for c in flat)
    print(
        f"\nmax fixed tokens per call: converso {max(c.fixed for c in ours)} (target <= 1500), "
        f"flat {max(c.fixed for c in flat)}"
    )
    print(f"total prompt tokens: converso/flat = {ratio:.2f} (target <= 0.35)")
    compact_flat = [cost(request) for request in compact_flat_requests]
    print(
        f"flat agent with schemas compacted like converso's: fixed {compact_flat[0].fixed} per call, "
        f"{sum(c.total for c in compact_flat)} in all; converso/that = "
        f"{sum(c.total for c in ours) / sum(c.total for c in compact_flat):.2f}"
    )


if __name__ == "__main__":
    main()
