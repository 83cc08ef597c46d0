"""A deterministic demo data set: the same seed gives the same records, ids and dates in any store."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from crm_tools.backends.base import CRMBackend
from crm_tools.models import format_datetime

_PREFIXES = [
    "Acme",
    "Apex",
    "Blue",
    "Bright",
    "Cedar",
    "Cobalt",
    "Delta",
    "Ever",
    "Falcon",
    "Granite",
    "Harbor",
    "Iron",
    "Juniper",
    "Keystone",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orbit",
    "Pioneer",
    "Quartz",
    "River",
    "Summit",
    "Terra",
    "Union",
    "Vector",
    "Willow",
    "Zenith",
    "Northwind",
    "Silver",
    "Atlas",
]
_SUFFIXES = [
    "Labs",
    "Systems",
    "Logistics",
    "Analytics",
    "Foods",
    "Health",
    "Robotics",
    "Energy",
    "Capital",
    "Software",
    "Media",
    "Motors",
    "Biotech",
    "Networks",
    "Studios",
    "Partners",
    "Retail",
    "Cloud",
]
_CITIES = [
    ("Berlin", "Germany"),
    ("Paris", "France"),
    ("London", "United Kingdom"),
    ("New York", "United States"),
    ("San Francisco", "United States"),
    ("Toronto", "Canada"),
    ("Madrid", "Spain"),
    ("Amsterdam", "Netherlands"),
    ("Stockholm", "Sweden"),
    ("Austin", "United States"),
    ("Lisbon", "Portugal"),
    ("Zurich", "Switzerland"),
]
_FIRST = [
    "Ana",
    "Ben",
    "Chloé",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Yara",
    "Zoe",
    "John",
    "Joanna",
    "Marta",
    "Lucas",
    "Priya",
]
_LAST = [
    "Smith",
    "Garcia",
    "Müller",
    "Dubois",
    "Rossi",
    "Nakamura",
    "Okafor",
    "Kowalski",
    "Silva",
    "Johansson",
    "Novak",
    "Haddad",
    "Chen",
    "Patel",
    "O'Brien",
    "Fischer",
    "Moreau",
    "Costa",
    "Jensen",
    "Ivanova",
]
_TITLES = ["CEO", "CTO", "Head of Sales", "Account Executive", "Engineer", "Product Manager", "CFO", "Buyer"]
_DEALS = ["Pilot", "Annual licence", "Expansion", "Renewal", "Onboarding package", "Enterprise plan"]
_NOTES = [
    ("Intro call", "Discussed their current tooling and pain points; follow up next week."),
    ("Pricing questions", "They asked for volume pricing and an annual discount."),
    ("Security review", "Sent the security questionnaire; waiting for their IT team."),
    ("Demo feedback", "Liked the reporting; asked about SSO and the API."),
]
_TASKS = [
    "Send proposal",
    "Schedule demo",
    "Follow up on pricing",
    "Prepare contract",
    "Check in after trial",
]
_STAGES = ["NEW", "MEETING", "PROPOSAL", "WON", "LOST"]
_STATUSES = ["TODO", "IN_PROGRESS", "DONE"]
_EPOCH = datetime(2025, 1, 6, 9, 0, 0)


def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _when(rng: random.Random, days: int = 365) -> str:
    return format_datetime(_EPOCH + timedelta(minutes=rng.randrange(days * 24 * 60)))  # type: ignore[return-value]


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _created(backend: CRMBackend, object_name: str, data: dict[str, Any]) -> str:
    body = backend.create(object_name, data)  # type: ignore[arg-type]
    return next(iter(body["data"].values()))["id"]


def seed_demo_data(
    backend: CRMBackend,
    seed: int,
    *,
    companies: int = 50,
    people: int = 200,
    opportunities: int = 100,
    notes: int = 60,
    tasks: int = 60,
) -> dict[str, int]:
    """Fill ``backend`` with a demo CRM for ``seed``; returns how many records of each kind were made."""
    rng = random.Random(seed)
    company_ids: list[str] = []
    domains: list[str] = []
    names = rng.sample([f"{p} {s}" for p in _PREFIXES for s in _SUFFIXES], companies)
    for name in names:
        city, country = rng.choice(_CITIES)
        domain = f"{_slug(name)}.com"
        company_ids.append(
            _created(
                backend,
                "company",
                {
                    "id": _id(rng),
                    "createdAt": _when(rng),
                    "name": name,
                    "domainName": {"primaryLinkUrl": domain},
                    "address": {"addressCity": city, "addressCountry": country},
                    "employees": rng.choice(
                        [None, rng.randrange(2, 20), rng.randrange(20, 500), rng.randrange(500, 20000)]
                    ),
                    "annualRecurringRevenue": {
                        "amountMicros": rng.randrange(0, 5_000_000) * 1_000_000,
                        "currencyCode": "USD",
                    },
                    "idealCustomerProfile": rng.random() < 0.3,
                },
            )
        )
        domains.append(domain)
    person_ids: list[str] = []
    used: set[str] = set()
    for n in range(people):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        at = rng.randrange(companies)
        email = f"{_slug(first)}.{_slug(last)}@{domains[at]}"
        if email in used:
            email = f"{_slug(first)}.{_slug(last)}{n}@{domains[at]}"
        used.add(email)
        city, _ = rng.choice(_CITIES)
        person_ids.append(
            _created(
                backend,
                "person",
                {
                    "id": _id(rng),
                    "createdAt": _when(rng),
                    "name": {"firstName": first, "lastName": last},
                    "emails": {"primaryEmail": email},
                    "phones": {
                        "primaryPhoneNumber": f"+1 555 {rng.randrange(10000):04d}",
                        "primaryPhoneCountryCode": "US",
                    },
                    "jobTitle": rng.choice(_TITLES),
                    "city": city,
                    "companyId": company_ids[at] if rng.random() < 0.95 else None,
                },
            )
        )
    opportunity_ids: list[str] = []
    for _ in range(opportunities):
        at = rng.randrange(companies)
        opportunity_ids.append(
            _created(
                backend,
                "opportunity",
                {
                    "id": _id(rng),
                    "createdAt": _when(rng),
                    "name": f"{names[at]} – {rng.choice(_DEALS)}",
                    "amount": {"amountMicros": rng.randrange(1, 500) * 1_000_000_000, "currencyCode": "USD"},
                    "closeDate": _when(rng, 540),
                    "stage": rng.choice(_STAGES),
                    "companyId": company_ids[at],
                    "pointOfContactId": rng.choice(person_ids) if rng.random() < 0.8 else None,
                },
            )
        )
    targets = [("companyId", company_ids), ("personId", person_ids), ("opportunityId", opportunity_ids)]
    for _ in range(notes):
        title, body = rng.choice(_NOTES)
        note_id = _created(
            backend, "note", {"id": _id(rng), "createdAt": _when(rng), "title": title, "body": body}
        )
        column, pool = rng.choice(targets)
        _created(
            backend,
            "noteTarget",
            {"id": _id(rng), "createdAt": _when(rng), "noteId": note_id, column: rng.choice(pool)},
        )
    for _ in range(tasks):
        task_id = _created(
            backend,
            "task",
            {
                "id": _id(rng),
                "createdAt": _when(rng),
                "title": rng.choice(_TASKS),
                "dueAt": _when(rng, 540),
                "status": rng.choice(_STATUSES),
            },
        )
        column, pool = rng.choice(targets)
        _created(
            backend,
            "taskTarget",
            {"id": _id(rng), "createdAt": _when(rng), "taskId": task_id, column: rng.choice(pool)},
        )
    return {
        "companies": companies,
        "people": people,
        "opportunities": opportunities,
        "notes": notes,
        "tasks": tasks,
    }
