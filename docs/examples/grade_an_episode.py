"""Grade what an episode wrote: a snapshot before, the writes, a snapshot after, then the task's grader.

Run: python docs/examples/grade_an_episode.py
"""

from crm_tools.backends.sql import SqlBackend
from crm_tools.tasks import changes_between, grade, load_tasks, snapshot

(task,) = [
    task for task in load_tasks(category="create_all_at_once") if task.id == "create-company-acme-robotics"
]
print(task.instruction)

with SqlBackend("sqlite://") as crm:  # an empty in-memory CRM, as the task starts (crm: empty)
    before = snapshot(crm)
    # What an agent might have written: the right company, but 12 employees instead of 120.
    crm.create(
        "company",
        {
            "name": "Acme Robotics",
            "domainName": {"primaryLinkUrl": "https://www.acme-robotics.com/"},
            "employees": 12,
        },
    )
    result = grade(task, changes_between(before, snapshot(crm)), answer=None)

print(f"score {result.score:.2f}, success {result.success}")
for reason in result.reasons:
    print(" -", reason)
assert (result.score, result.success) == (0.75, False)
assert result.reasons == ["company Acme Robotics: employees is 12, expected 120"]
