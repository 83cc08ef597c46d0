"""A fresh in-memory CRM per test, and helpers to put records in it in CRM payload form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crm_tools.backends.sql import SqlBackend


@pytest.fixture
def crm() -> Iterator[SqlBackend]:
    backend = SqlBackend("sqlite://")
    yield backend
    backend.close()


def add_company(crm: SqlBackend, name: str, domain: str | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, **extra}
    if domain:
        data["domainName"] = {"primaryLinkUrl": domain}
    return crm.create("company", data)["data"]["createCompany"]


def add_person(
    crm: SqlBackend,
    first: str,
    last: str,
    email: str | None = None,
    company_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {"name": {"firstName": first, "lastName": last}, **extra}
    if email:
        data["emails"] = {"primaryEmail": email}
    if company_id:
        data["companyId"] = company_id
    return crm.create("person", data)["data"]["createPerson"]


def add_opportunity(crm: SqlBackend, name: str, **extra: Any) -> dict[str, Any]:
    return crm.create("opportunity", {"name": name, **extra})["data"]["createOpportunity"]
