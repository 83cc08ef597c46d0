"""Create, get, update and delete through the CRMBackend protocol, on every store."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from crm_tools.backends import CRMBackend
from crm_tools.errors import CRMError
from tests.crm.conftest import created

Make = Callable[..., dict[str, Any]]


def test_create_returns_the_record_in_twenty_shape(backend: CRMBackend) -> None:
    body = backend.create(
        "company",
        {
            "name": "Acme",
            "domainName": {"primaryLinkUrl": "https://www.Acme.com/"},
            "annualRecurringRevenue": {"amountMicros": 2_000_000},
        },
    )
    record = body["data"]["createCompany"]
    uuid.UUID(record["id"], version=4)
    assert record["name"] == "Acme"
    assert record["domainName"] == {"primaryLinkUrl": "acme.com"}
    assert record["annualRecurringRevenue"] == {"amountMicros": 2_000_000, "currencyCode": "USD"}
    assert record["address"]["addressCity"] is None
    assert record["createdAt"].endswith("Z") and record["deletedAt"] is None


def test_get_returns_what_create_returned(backend: CRMBackend, make: Make) -> None:
    person = make(
        "person", name={"firstName": "Ana", "lastName": "Silva"}, emails={"primaryEmail": "ana@x.com"}
    )
    assert backend.get("person", person["id"]) == {"data": {"person": person}}


def test_get_of_an_unknown_id_is_a_404(backend: CRMBackend) -> None:
    with pytest.raises(CRMError) as info:
        backend.get("company", str(uuid.uuid4()))
    assert info.value.status_code == 404
    assert info.value.body()["error"] == "NotFoundException"


def test_update_changes_only_the_given_fields(backend: CRMBackend, make: Make) -> None:
    company = make(
        "company", name="Acme", employees=10, address={"addressCity": "Paris", "addressCountry": "France"}
    )
    body = backend.update("company", company["id"], {"employees": 12, "address": {"addressCity": "Lyon"}})
    updated = body["data"]["updateCompany"]
    assert updated["employees"] == 12
    assert updated["address"]["addressCity"] == "Lyon"
    assert updated["address"]["addressCountry"] == "France"
    assert updated["name"] == "Acme"
    assert updated["createdAt"] == company["createdAt"]


def test_update_validates_like_create(backend: CRMBackend, make: Make) -> None:
    deal = make("opportunity", name="Deal")
    with pytest.raises(CRMError, match="'stage' 'SOLD' is not an option"):
        backend.update("opportunity", deal["id"], {"stage": "SOLD"})


def test_update_of_an_unknown_record_is_a_404_even_with_invalid_values(backend: CRMBackend) -> None:
    with pytest.raises(CRMError) as info:
        backend.update("opportunity", str(uuid.uuid4()), {"stage": "SOLD"})
    assert info.value.status_code == 404


def test_update_of_a_deleted_record_is_a_404(backend: CRMBackend, make: Make) -> None:
    company = make("company", name="Acme")
    backend.delete("company", company["id"])
    with pytest.raises(CRMError) as info:
        backend.update("company", company["id"], {"employees": 3})
    assert info.value.status_code == 404


def test_update_returns_what_get_then_shows(backend: CRMBackend, make: Make) -> None:
    company = make("company", name="Acme", idealCustomerProfile=True, employees=5)
    updated = backend.update("company", company["id"], {"employees": 6, "name": " Acme 2 "})
    record = updated["data"]["updateCompany"]
    assert record == backend.get("company", company["id"])["data"]["company"]
    assert (record["name"], record["employees"], record["idealCustomerProfile"]) == ("Acme 2", 6, True)
    assert record["updatedAt"] >= company["updatedAt"]


def test_update_of_a_name_part_keeps_the_other_part_and_needs_one(backend: CRMBackend, make: Make) -> None:
    person = make("person", name={"firstName": "Ana", "lastName": "Silva"})
    body = backend.update("person", person["id"], {"name": {"firstName": "Anna"}})
    assert body["data"]["updatePerson"]["name"] == {"firstName": "Anna", "lastName": "Silva"}
    with pytest.raises(CRMError, match="needs a firstName or a lastName"):
        backend.update("person", person["id"], {"name": {"firstName": None, "lastName": " "}})


def test_update_cannot_change_system_fields(backend: CRMBackend, make: Make) -> None:
    company = make("company", name="Acme")
    with pytest.raises(CRMError, match="'createdAt' cannot be updated"):
        backend.update("company", company["id"], {"createdAt": "2020-01-01"})


def test_delete_returns_the_id_and_hides_the_record(backend: CRMBackend, make: Make) -> None:
    company = make("company", name="Acme")
    assert backend.delete("company", company["id"]) == {"data": {"deleteCompany": {"id": company["id"]}}}
    with pytest.raises(CRMError) as info:
        backend.get("company", company["id"])
    assert info.value.status_code == 404
    assert backend.list("company")["totalCount"] == 0


def test_deleting_twice_is_a_404(backend: CRMBackend, make: Make) -> None:
    company = make("company", name="Acme")
    backend.delete("company", company["id"])
    with pytest.raises(CRMError) as info:
        backend.delete("company", company["id"])
    assert info.value.status_code == 404


def test_soft_deleted_records_are_listed_when_the_filter_names_deleted_at(
    backend: CRMBackend, make: Make
) -> None:
    gone = make("company", name="Gone")
    make("company", name="Here")
    backend.delete("company", gone["id"])
    body = backend.list("company", filter="deletedAt[is]:NOT_NULL")
    assert [c["name"] for c in body["data"]["companies"]] == ["Gone"]
    assert body["data"]["companies"][0]["deletedAt"] is not None


def test_deleting_a_company_clears_its_people_company_id(backend: CRMBackend, make: Make) -> None:
    company = make("company", name="Acme")
    person = make("person", name={"firstName": "Ana"}, companyId=company["id"])
    backend.delete("company", company["id"])
    assert backend.get("person", person["id"])["data"]["person"]["companyId"] is None


def test_deleting_a_record_removes_its_note_and_task_targets(backend: CRMBackend, make: Make) -> None:
    person = make("person", name={"firstName": "Ana"})
    note = make("note", title="Call notes", body="Went well")
    task = make("task", title="Follow up")
    make("noteTarget", noteId=note["id"], personId=person["id"])
    make("taskTarget", taskId=task["id"], personId=person["id"])
    backend.delete("person", person["id"])
    assert (
        backend.list("noteTarget", filter="or(deletedAt[is]:NULL,deletedAt[is]:NOT_NULL)")["totalCount"] == 0
    )
    assert backend.list("taskTarget")["totalCount"] == 0
    assert backend.get("note", note["id"])["data"]["note"]["title"] == "Call notes"


def test_duplicate_email_is_refused_case_insensitively(backend: CRMBackend, make: Make) -> None:
    make("person", name={"firstName": "Ana"}, emails={"primaryEmail": "ana@example.com"})
    with pytest.raises(CRMError) as info:
        backend.create(
            "person", {"name": {"firstName": "Other"}, "emails": {"primaryEmail": "ANA@Example.com"}}
        )
    assert info.value.status_code == 400
    assert "a person with email 'ana@example.com' already exists" in info.value.message


def test_updating_to_another_persons_email_is_refused(backend: CRMBackend, make: Make) -> None:
    make("person", name={"firstName": "Ana"}, emails={"primaryEmail": "ana@example.com"})
    ben = make("person", name={"firstName": "Ben"}, emails={"primaryEmail": "ben@example.com"})
    with pytest.raises(CRMError, match="already exists"):
        backend.update("person", ben["id"], {"emails": {"primaryEmail": "Ana@example.com"}})


def test_a_deleted_persons_email_can_be_reused(backend: CRMBackend, make: Make) -> None:
    ana = make("person", name={"firstName": "Ana"}, emails={"primaryEmail": "ana@example.com"})
    backend.delete("person", ana["id"])
    again = make("person", name={"firstName": "Ana"}, emails={"primaryEmail": "ana@example.com"})
    assert again["id"] != ana["id"]


def test_unknown_company_id_is_refused(backend: CRMBackend) -> None:
    with pytest.raises(CRMError, match="'companyId' invalid: no company with id"):
        backend.create("person", {"name": {"firstName": "Ana"}, "companyId": str(uuid.uuid4())})


def test_create_with_a_given_id_keeps_it_and_refuses_reuse(backend: CRMBackend) -> None:
    wanted = str(uuid.uuid4())
    assert created(backend.create("company", {"id": wanted, "name": "Acme"}))["id"] == wanted
    with pytest.raises(CRMError, match="already exists"):
        backend.create("company", {"id": wanted, "name": "Other"})


def test_idempotent_create_returns_the_first_record_and_writes_once(backend: CRMBackend) -> None:
    first = backend.create("company", {"name": "Acme"}, idempotency_key="turn-1")
    again = backend.create("company", {"name": "Acme (retried)"}, idempotency_key="turn-1")
    assert again == first
    assert backend.list("company")["totalCount"] == 1


def test_idempotency_keys_are_per_object(backend: CRMBackend) -> None:
    company = created(backend.create("company", {"name": "Acme"}, idempotency_key="k"))
    note = created(backend.create("note", {"title": "Hi"}, idempotency_key="k"))
    assert company["id"] != note["id"]


def test_get_with_depth_one_embeds_relations(backend: CRMBackend, make: Make) -> None:
    company = make("company", name="Acme")
    ana = make("person", name={"firstName": "Ana"}, companyId=company["id"])
    deal = make("opportunity", name="Deal", companyId=company["id"], pointOfContactId=ana["id"])
    got = backend.get("company", company["id"], depth=1)["data"]["company"]
    assert [p["id"] for p in got["people"]] == [ana["id"]]
    assert [o["id"] for o in got["opportunities"]] == [deal["id"]]
    embedded = backend.get("opportunity", deal["id"], depth=1)["data"]["opportunity"]
    assert embedded["company"]["name"] == "Acme"
    assert embedded["pointOfContact"]["id"] == ana["id"]


def test_unknown_object_name_is_a_400(backend: CRMBackend) -> None:
    with pytest.raises(CRMError, match="'deal' is not a CRM object"):
        backend.list("deal")  # type: ignore[arg-type]
