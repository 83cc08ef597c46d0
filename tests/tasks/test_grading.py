"""The graders: the expected outcome earns full marks, doing nothing or too much does not, and each point
lost is explained."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from crm_tools.backends.sql import SqlBackend
from crm_tools.tasks import Task, changes_between, grade, load_tasks, snapshot
from crm_tools.tasks.apply import apply_expected

TASKS = load_tasks()
CrmFor = Callable[[int | None], SqlBackend]


def by_id(task_id: str) -> Task:
    return next(task for task in TASKS if task.id == task_id)


def test_the_bundled_suite_has_at_least_60_tasks_in_8_categories() -> None:
    assert len(TASKS) >= 60
    assert len({task.category for task in TASKS}) >= 8
    assert [task.id for task in TASKS] == sorted(task.id for task in TASKS)


@pytest.mark.parametrize("task", TASKS, ids=lambda task: task.id)
def test_the_expected_outcome_earns_full_marks(task: Task, crm_for: CrmFor) -> None:
    crm = crm_for(task.crm_seed)
    before = snapshot(crm)
    answer = apply_expected(task, crm)
    result = grade(task, changes_between(before, snapshot(crm)), answer)
    assert result.reasons == []
    assert (result.score, result.success) == (1.0, True)


def test_doing_nothing_fails_every_task_that_expects_something(crm_for: CrmFor) -> None:
    crm = crm_for(None)
    nothing = changes_between(snapshot(crm), snapshot(crm))
    for task in TASKS:
        expects_something = bool(
            task.expected.create or task.expected.update or task.expected.delete or task.expected.answer
        )
        result = grade(task, nothing, "I cannot help with that.")
        assert result.success is not expects_something, task.id
        if expects_something:
            assert result.score < 1 and result.reasons


def test_a_wrong_field_loses_its_point_and_says_why(crm_for: CrmFor) -> None:
    task = by_id("create-company-acme-robotics")
    crm = crm_for(None)
    before = snapshot(crm)
    crm.create(
        "company",
        {
            "name": "acme  ROBOTICS",
            "domainName": {"primaryLinkUrl": "https://www.Acme-Robotics.com/"},
            "employees": 12,
        },
    )
    result = grade(task, changes_between(before, snapshot(crm)), None)
    assert result.success is False
    assert result.score == pytest.approx(3 / 4)
    assert result.reasons == ["company Acme Robotics: employees is 12, expected 120"]


def test_a_duplicate_record_is_a_failure(crm_for: CrmFor) -> None:
    task = by_id("create-company-acme-robotics")
    crm = crm_for(None)
    before = snapshot(crm)
    apply_expected(task, crm)
    apply_expected(task, crm)
    result = grade(task, changes_between(before, snapshot(crm)), None)
    assert result.success is False
    assert result.score == pytest.approx(4 / 5)
    assert result.reasons == ["unexpected company Acme Robotics created"]


def test_a_write_in_a_cancel_task_is_a_failure(crm_for: CrmFor) -> None:
    task = by_id("cancel-update-at-summary")
    crm = crm_for(7)
    before = snapshot(crm)
    (orbit,) = crm.list("company", filter='name[eq]:"Orbit Labs"')["data"]["companies"]
    crm.update("company", orbit["id"], {"employees": 10})
    result = grade(task, changes_between(before, snapshot(crm)), None)
    assert (result.score, result.success) == (0.0, False)
    assert result.reasons == ["unexpected change of company Orbit Labs: employees"]


def test_an_update_that_also_changes_another_field_is_a_failure(crm_for: CrmFor) -> None:
    task = by_id("update-company-employees")
    crm = crm_for(7)
    before = snapshot(crm)
    (orbit,) = crm.list("company", filter='name[eq]:"Orbit Labs"')["data"]["companies"]
    crm.update("company", orbit["id"], {"employees": 18000, "domainName": {"primaryLinkUrl": "orbit.io"}})
    result = grade(task, changes_between(before, snapshot(crm)), None)
    assert result.success is False
    assert result.reasons == ["unexpected change of company Orbit Labs: domainName.primaryLinkUrl"]


def test_a_reference_to_the_wrong_record_loses_that_field(crm_for: CrmFor) -> None:
    task = by_id("ambiguous-orbit-person")
    crm = crm_for(7)
    before = snapshot(crm)
    (labs,) = crm.list("company", filter='name[eq]:"Orbit Labs"')["data"]["companies"]
    crm.create(
        "person",
        {
            "name": {"firstName": "Nora", "lastName": "Quist"},
            "emails": {"primaryEmail": "nora@orbitsoftware.com"},
            "companyId": labs["id"],
        },
    )
    result = grade(task, changes_between(before, snapshot(crm)), None)
    assert result.success is False
    assert result.reasons == ["person Nora Quist: company is 'Orbit Labs', expected 'Orbit Software'"]


@pytest.mark.parametrize(
    ("answer", "success"),
    [
        ("Orbit Labs has 17,309 employees.", True),
        ("They employ 17309 people", True),
        ("About 17.3k employees", False),
        ("17 309 people work there", True),
        ("Orbit Labs has 17,310 employees.", False),
        (None, False),
    ],
)
def test_numbers_in_answers_are_read_with_their_separators(
    answer: str | None, success: bool, crm_for: CrmFor
) -> None:
    task = by_id("answer-employees")
    crm = crm_for(None)
    nothing = changes_between(snapshot(crm), snapshot(crm))
    assert grade(task, nothing, answer).success is success


def test_names_in_answers_ignore_case_spacing_and_dash_style(crm_for: CrmFor) -> None:
    task = by_id("answer-deal-stage-amount")
    crm = crm_for(None)
    nothing = changes_between(snapshot(crm), snapshot(crm))
    assert grade(task, nothing, "It is in the new stage, $449k.").success is True
    partial = grade(task, nothing, "It is worth 449,000 USD.")
    assert (partial.score, partial.reasons) == (0.5, ["the answer does not say 'NEW'"])


def test_the_same_seed_gives_the_same_records() -> None:
    from crm_tools.seed import seed_demo_data

    with SqlBackend("sqlite://") as first, SqlBackend("sqlite://") as second:
        seed_demo_data(first, 7, companies=10, people=20, opportunities=10, notes=5, tasks=5)
        seed_demo_data(second, 7, companies=10, people=20, opportunities=10, notes=5, tasks=5)
        assert snapshot(first) == snapshot(second)


def test_references_cleared_by_an_expected_deletion_are_not_stray_writes(crm_for: CrmFor) -> None:
    task = Task.model_validate(
        {
            "id": "delete-orbit-labs",
            "category": "demo",
            "crm_seed": 7,
            "goal": "Delete Orbit Labs.",
            "instruction": "Delete the company Orbit Labs.",
            "expected": {"delete": [{"company": {"name": "Orbit Labs"}}]},
            "reference": [{"user": "Delete Orbit Labs"}],
        }
    )
    crm = crm_for(7)
    before = snapshot(crm)
    apply_expected(task, crm)
    changes = changes_between(before, snapshot(crm))
    # Its people lose their companyId, and notes/tasks about it lose their links: consequences of the delete.
    assert changes.updated["person"] and all(u.fields == ("companyId",) for u in changes.updated["person"])
    result = grade(task, changes, None)
    assert (result.score, result.success, result.reasons) == (1.0, True, [])
