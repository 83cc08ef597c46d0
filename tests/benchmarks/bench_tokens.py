"""Prompt tokens of a CRM conversation, raw and as billed under prefix caching: converso's forms against
a flat-tool agent.

The conversation creates a company, a person at it and an opportunity for them, the user confirming each
record (6 user turns); the 12-turn run does it twice, for a second company. Both agents are driven by a
ScriptedChatModel making the choices a capable model would make, and both write to a real in-memory CRM.
The flat agent is a LangGraph ReAct agent with the Construct Labs SDK's 22 tool schemas and its system
prompt. The engine runs on a clock that ticks in real time (from a fixed date, so "closing 1 Dec" always
means the same day): a prompt that carried the time to the microsecond would differ on every call.

Every request is counted as a provider sees it: the tool definitions first, then the messages (OpenAI
format), o200k tokens via bpe_openai. Caching is counted as OpenAI and Anthropic do it: a request reads
from the cache the longest prefix it shares with an earlier request of the same conversation, if that is
at least 1,024 tokens, in steps of 128. Billed input tokens = uncached + cached x the cached price
(0.5, 0.25 and 0.1 of the full price: OpenAI and Gemini, the newest OpenAI models, Anthropic).

Run: python tests/benchmarks/bench_tokens.py        (needs the compat extra for the SDK's schemas)
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import bpe_openai
from langchain_core.messages import HumanMessage, SystemMessage, convert_to_openai_messages
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import create_react_agent

from converso.form_agent import FormAgentExecutor
from converso.testing import ScriptedChatModel, ScriptedRequest
from crm_tools.backends.base import PLURALS, CRMBackend
from crm_tools.backends.sql import SqlBackend
from crm_tools.errors import CRMError
from crm_tools.toolset import build_tools

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ENCODING = bpe_openai.get_encoding("o200k_base")
CACHE_MIN_TOKENS = 1024
CACHE_STEP_TOKENS = 128
CACHED_PRICES = (0.5, 0.25, 0.1)


def real_clock() -> Callable[[], datetime]:
    """START, moving on in real time from the first reading."""
    origin = time.perf_counter()
    return lambda: START + timedelta(seconds=time.perf_counter() - origin)


@dataclass(frozen=True)
class Deal:
    """One round of the conversation: a company, a person at it, an opportunity for them."""

    company: str
    domain: str
    employees: int
    first_name: str
    last_name: str
    job_title: str
    amount: int

    @property
    def email(self) -> str:
        return f"{self.first_name.lower()}@{self.domain}"

    def user_turns(self) -> list[str]:
        return [
            f"Add a company: {self.company}, {self.domain}, about {self.employees} people.",
            "Yes, save it.",
            f"Add {self.first_name} {self.last_name}, {self.job_title} at {self.company}, {self.email}.",
            "Yes.",
            f"Create an opportunity '{self.company} pilot' for {self.amount // 1000}k, closing 1 Dec, with "
            f"{self.first_name} as the contact.",
            "Confirm.",
        ]


DEALS = [
    Deal("Acme Robotics", "acme-robotics.com", 120, "Jane", "Doe", "CTO", 50_000),
    Deal("Bolt Dynamics", "bolt-dynamics.com", 80, "John", "Roe", "CFO", 30_000),
]


def call(name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "args": args or {}}]}


# -- converso -------------------------------------------------------------------------------------------


def converso_script(deal: Deal) -> list[list[Any]]:
    # The Start tool's description names the form's fields, so the values the user gave travel with it.
    company = {"name": deal.company, "domain": deal.domain, "employees": deal.employees}
    person = {
        "first_name": deal.first_name,
        "last_name": deal.last_name,
        "job_title": deal.job_title,
        "email": deal.email,
        "company": deal.company,
    }
    opportunity = {
        "name": f"{deal.company} pilot",
        "amount": deal.amount,
        "close_date": "1 Dec",
        "company": deal.company,
        "point_of_contact": deal.email,
    }
    return [
        [call("CreateCompanyStart", company)],
        [call("FormFinalize", {"confirm": True})],
        [call("CreatePersonStart", person)],
        [call("FormFinalize", {"confirm": True})],
        [call("CreateOpportunityStart", opportunity)],
        [call("FormFinalize", {"confirm": True})],
    ]


def run_converso(crm: CRMBackend, deals: list[Deal]) -> tuple[list[ScriptedRequest], list[tuple[str, str]]]:
    model = ScriptedChatModel(responses=[])
    ids = (f"form-{n}" for n in itertools.count(1))
    replies = []
    with FormAgentExecutor(
        tools=build_tools(crm), model=model, clock=real_clock(), id_factory=lambda: next(ids)
    ) as agent:
        for deal in deals:
            for text, answers in zip(deal.user_turns(), converso_script(deal), strict=True):
                model.extend(answers)
                replies.append((text, agent.send("bench", text).text))
                assert model.remaining == 0
    return model.requests, replies


# -- the flat agent: the Construct Labs SDK's tools and system prompt -------------------------------------


def flat_system_prompt(now: datetime) -> str:
    """The SDK's system prompt, with the date a flat agent needs to read "closing 1 Dec" (to the day, so
    the prompt stays the same all day and takes nothing from the flat agent's caching)."""
    from construct_labs_crm_env.client import CrmAgentEnv

    sdk_prompt = CrmAgentEnv._default_system_prompt(object.__new__(CrmAgentEnv))
    return f"{sdk_prompt}\n\nToday is {now:%Y-%m-%d (%A)}."


def _sdk_tool_definitions() -> list[dict[str, Any]]:
    from construct_labs_crm_env.tools import DEFAULT_TOOLS

    return [tool["function"] for tool in DEFAULT_TOOLS]


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
    elif object_name == "opportunity":
        data = {"name": a.get("name")}
        if "amount" in a:
            data["amount"] = {"amountMicros": round(a["amount"] * 1e6), "currencyCode": "USD"}
        for key, field in (("stage", "stage"), ("close_date", "closeDate"), ("company_id", "companyId")):
            if key in a:
                data[field] = a[key]
        if "person_id" in a:
            data["pointOfContactId"] = a["person_id"]
    else:
        data = {key: a.get(key) for key in ("title", "body", "status")}
    return {k: v for k, v in data.items() if v is not None}


def _flat_action(crm: CRMBackend, name: str) -> Callable[..., dict[str, Any]]:
    verb, _, noun = name.partition("_")
    singular = {plural: singular for singular, plural in PLURALS.items()}.get(noun, noun)
    paging = ("filter", "order_by", "limit", "starting_after", "ending_before", "depth")
    actions: dict[str, Callable[..., dict[str, Any]]] = {
        "list": lambda **kw: crm.list(
            singular, **{k: v for k, v in kw.items() if k in paging and v is not None}
        ),
        "get": lambda record_id, **_: crm.get(singular, record_id),
        "create": lambda **kw: crm.create(singular, _payload(singular, kw)),
        "update": lambda record_id, **kw: crm.update(singular, record_id, _payload(singular, kw)),
        "delete": lambda record_id, **_: crm.delete(singular, record_id),
        "complete": lambda record_id, **_: crm.update("task", record_id, {"status": "DONE"}),
        "submit": lambda **kw: {"answer": kw.get("answer")},
    }
    return actions[verb]


def flat_tools(crm: CRMBackend) -> list[BaseTool]:
    """The SDK's 22 tools, each shown to the model exactly as the SDK defines it, run against ``crm``."""

    def run(action: Callable[..., dict[str, Any]]) -> Callable[..., str]:
        def tool(**kwargs: Any) -> str:
            try:
                return json.dumps(action(**kwargs), ensure_ascii=False)
            except CRMError as exc:
                return json.dumps(exc.body())

        return tool

    return [
        StructuredTool.from_function(
            func=run(_flat_action(crm, definition["name"])),
            name=definition["name"],
            description=definition["description"],
            args_schema=definition["parameters"],
        )
        for definition in _sdk_tool_definitions()
    ]


def flat_script(deal: Deal) -> list[list[Any]]:
    return [
        [
            f"I'll create this company:\n- Name: {deal.company}\n- Domain: {deal.domain}\n"
            f"- Employees: {deal.employees}\nShall I save it?"
        ],
        [
            call(
                "create_company",
                {
                    "company_name": deal.company,
                    "company_domain": deal.domain,
                    "company_employees": deal.employees,
                },
            ),
            f"Created the company {deal.company}.",
        ],
        [
            call("list_companies", {"filter": f'name[ilike]:"%{deal.company.lower()}%"', "limit": 5}),
            f"I'll create this person:\n- Name: {deal.first_name} {deal.last_name}\n- Job title: "
            f"{deal.job_title}\n- Email: {deal.email}\n- Company: {deal.company}\nShall I save it?",
        ],
        [
            lambda request: call(
                "create_person",
                {
                    "person_first_name": deal.first_name,
                    "person_last_name": deal.last_name,
                    "person_job_title": deal.job_title,
                    "person_email": deal.email,
                    "person_company_id": _created_id_in(request, "createCompany"),
                },
            ),
            f"Created {deal.first_name} {deal.last_name} at {deal.company}.",
        ],
        [
            call("list_people", {"filter": f'emails.primaryEmail[eq]:"{deal.email}"'}),
            f"I'll create this opportunity:\n- Name: {deal.company} pilot\n- Amount: {deal.amount:,} USD\n"
            f"- Stage: NEW\n- Close date: 2026-12-01\n- Company: {deal.company}\n- Contact: "
            f"{deal.first_name} {deal.last_name}\nShall I save it?",
        ],
        [
            lambda request: call(
                "create_opportunity",
                {
                    "opportunity_name": f"{deal.company} pilot",
                    "opportunity_amount": deal.amount,
                    "opportunity_close_date": "2026-12-01",
                    "opportunity_company_id": _created_id_in(request, "createCompany"),
                    "opportunity_person_id": _created_id_in(request, "createPerson"),
                },
            ),
            f"Created the opportunity {deal.company} pilot.",
        ],
    ]


def _created_id_in(request: ScriptedRequest, key: str) -> str:
    for message in reversed(convert_to_openai_messages(request.messages)):
        if message.get("role") == "tool" and f'"{key}"' in message["content"]:
            return json.loads(message["content"])["data"][key]["id"]
    raise AssertionError(f"no {key} in the history")


def run_flat(crm: CRMBackend, deals: list[Deal]) -> list[ScriptedRequest]:
    model = ScriptedChatModel(responses=[])
    agent = create_react_agent(model, flat_tools(crm), prompt=SystemMessage(flat_system_prompt(START)))
    messages: list[Any] = []
    for deal in deals:
        for text, answers in zip(deal.user_turns(), flat_script(deal), strict=True):
            model.extend(answers)
            messages = agent.invoke({"messages": [*messages, HumanMessage(text)]})["messages"]
            assert model.remaining == 0
    return model.requests


# -- what a provider bills ------------------------------------------------------------------------------


def request_tokens(request: ScriptedRequest) -> list[int]:
    """The request's tokens in the order a provider reads them: tool definitions, then the messages."""
    pieces = [*request.tool_schemas, *convert_to_openai_messages(request.messages)]
    return [token for piece in pieces for token in ENCODING.encode(json.dumps(piece, ensure_ascii=False))]


def _shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass
class CallCost:
    tools: int
    raw: int
    cached: int


def costs(requests: list[ScriptedRequest]) -> list[CallCost]:
    seen: list[list[int]] = []
    result = []
    for request in requests:
        tokens = request_tokens(request)
        shared = max((_shared_prefix(tokens, earlier) for earlier in seen), default=0)
        cached = shared // CACHE_STEP_TOKENS * CACHE_STEP_TOKENS if shared >= CACHE_MIN_TOKENS else 0
        result.append(CallCost(tools=len(request.tools), raw=len(tokens), cached=cached))
        seen.append(tokens)
    return result


@dataclass
class Totals:
    calls: int
    raw: int
    cached: int

    def billed(self, cached_price: float) -> float:
        return self.raw - self.cached + self.cached * cached_price


def totals(call_costs: list[CallCost]) -> Totals:
    return Totals(len(call_costs), sum(c.raw for c in call_costs), sum(c.cached for c in call_costs))


# -- report ---------------------------------------------------------------------------------------------


def print_calls(label: str, call_costs: list[CallCost]) -> None:
    print(f"\n{label}: per call")
    print("  call  tools    raw  cached")
    for index, c in enumerate(call_costs, start=1):
        print(f"  {index:>4}  {c.tools:>5}  {c.raw:>5}  {c.cached:>6}")


def print_table(rows: list[tuple[int, Totals, Totals]]) -> None:
    prices = "  ".join(f"billed@{p:<4}" for p in CACHED_PRICES)
    print(f"\nturns  agent      calls  calls/turn    raw  cached  {prices}")
    for turns, ours, flat in rows:
        for label, t in (("converso", ours), ("flat", flat)):
            billed = "  ".join(f"{t.billed(p):>11.0f}" for p in CACHED_PRICES)
            print(
                f"{turns:>5}  {label:<9}  {t.calls:>5}  {t.calls / turns:>10.2f}  {t.raw:>5}  {t.cached:>6}  {billed}"
            )
        ratios = "  ".join(f"{ours.billed(p) / flat.billed(p):>10.2f}x" for p in CACHED_PRICES)
        print(f"{turns:>5}  {'ratio':<9}  {'':>5}  {'':>10}  {ours.raw / flat.raw:>4.2f}x  {'':>6}  {ratios}")
    print("\nconverso vs the flat agent (target: raw <= 0.27x, billed <= 0.35x at every cached price)")
    print(
        "| user turns | raw tokens vs flat | "
        + " | ".join(f"billed at cached price {p}" for p in CACHED_PRICES)
        + " | round trips per user turn |"
    )
    print("|---|---|" + "---|" * len(CACHED_PRICES) + "---|")
    for turns, ours, flat in rows:
        billed = " | ".join(f"{ours.billed(p) / flat.billed(p):.2f}x" for p in CACHED_PRICES)
        print(
            f"| {turns} | {ours.raw / flat.raw:.2f}x | {billed} | {ours.calls / turns:.2f} ({ours.calls} calls) |"
        )


def check_records(crm: CRMBackend, label: str, deals: int) -> None:
    people = crm.list("person", depth=1)["data"]["people"]
    opportunities = crm.list("opportunity", depth=1)["data"]["opportunities"]
    assert len(people) == deals and all(p["companyId"] for p in people), f"{label}: people not linked"
    contacts = {p["id"] for p in people}
    assert len(opportunities) == deals, f"{label}: {len(opportunities)} opportunities"
    assert {o["pointOfContactId"] for o in opportunities} == contacts, f"{label}: opportunities not linked"


def main() -> None:
    rows = []
    for rounds in (1, 2):
        deals = DEALS[:rounds]
        with SqlBackend("sqlite://") as crm:
            converso_requests, replies = run_converso(crm, deals)
            check_records(crm, "converso", rounds)
        with SqlBackend("sqlite://") as crm:
            flat_requests = run_flat(crm, deals)
            check_records(crm, "flat", rounds)
        ours, flat = costs(converso_requests), costs(flat_requests)
        if rounds == 1:
            print("converso replies:")
            for text, reply in replies:
                print(f"  user: {text}\n  agent: {reply.replace(chr(10), chr(10) + '         ')}")
        turns = 6 * rounds
        print_calls(f"converso, {turns} user turns", ours)
        print_calls(f"flat agent, {turns} user turns", flat)
        rows.append((turns, totals(ours), totals(flat)))
    print_table(rows)


if __name__ == "__main__":
    main()
