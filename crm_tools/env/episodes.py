"""Task episodes: which task a seed gives, the CRM it starts from, and the reward it ends with.

``reset(seed=N)`` picks task ``N mod len(tasks)`` of the bundled tasks in seed order (or the task
named by ``task_id``) and starts from the demo data set of the task's ``crm_seed``. The episode ends
with ``submit_answer`` (terminated) or at the step limit (truncated); either way the reward is the
grader's score of what the episode changed in the CRM (write tasks) or of the answer (answer tasks).
"""

from __future__ import annotations

import dataclasses
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from crm_tools.backends.base import CRMBackend
from crm_tools.env.protocol import FrameError
from crm_tools.errors import NotFoundError

if TYPE_CHECKING:
    from crm_tools.tasks import ChangeSet, Grade, Snapshot, Task

DEFAULT_MAX_STEPS = 50


def deterministic_ids(seed: int) -> Callable[[], str]:
    """Ids for the records an episode creates: the same seed gives the same ids in the same order.

    Seeded from a text so the stream differs from the demo data's (``random.Random(seed)``).
    """
    rng = random.Random(f"crm-env-episode-ids:{seed}")
    return lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))


def seed_order(tasks: Sequence[Task]) -> list[Task]:
    """The order seeds pick tasks in: one task of each category in turn (categories and the tasks in each
    sorted by id), so a few consecutive seeds already cover every category."""
    by_category: dict[str, list[Task]] = {}
    for task in sorted(tasks, key=lambda task: task.id):
        by_category.setdefault(task.category, []).append(task)
    columns = [by_category[category] for category in sorted(by_category)]
    return [
        column[row]
        for row in range(max(map(len, columns), default=0))
        for column in columns
        if row < len(column)
    ]


class TaskCatalog:
    """The tasks a server offers, and the CRM snapshot each data set starts from."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        if not tasks:
            raise ValueError("a task catalog needs at least one task")
        self.tasks: list[Task] = seed_order(tasks)
        self._by_id = {task.id: task for task in sorted(tasks, key=lambda task: task.id)}
        self._baselines: dict[int | None, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def bundled(cls) -> TaskCatalog:
        from crm_tools.tasks import load_tasks

        return cls(load_tasks())

    def pick(self, seed: int | None, task_id: str | None) -> Task:
        if task_id is not None:
            task = self._by_id.get(task_id)
            if task is None:
                shown = ", ".join(list(self._by_id)[:8])
                raise FrameError(
                    "VALIDATION_ERROR",
                    f"Unknown task_id {task_id!r}; this server has {len(self.tasks)} tasks, e.g. {shown}",
                )
            return task
        assert seed is not None, "a task episode needs a seed or a task_id"
        return self.tasks[seed % len(self.tasks)]

    def prepare(self, source: Any) -> None:
        """Open each data set the tasks start from once on ``source`` (a ``CRMSource``) and take its
        baseline, so that no episode waits for either."""
        first_of: dict[int | None, Task] = {}
        for task in self.tasks:
            first_of.setdefault(task.crm_seed, task)
        for task in first_of.values():
            backend = source.open(task.crm_seed)
            try:
                self.baseline(task, backend)
            finally:
                source.release(backend)

    def has_baseline(self, task: Task) -> bool:
        return task.crm_seed in self._baselines

    def baseline(self, task: Task, backend: CRMBackend) -> Any:
        """The snapshot of ``backend`` as a fresh episode of ``task`` finds it.

        The demo data of a seed is always the same, so one snapshot per data set serves every episode
        (read-only, since every episode's grading shares it).
        """
        from crm_tools.tasks import Snapshot, snapshot

        key = task.crm_seed
        found = self._baselines.get(key)
        if found is None:
            taken = snapshot(backend)
            found = Snapshot(
                {name: MappingProxyType(dict(records)) for name, records in taken.records.items()}
            )
            with self._lock:
                found = self._baselines.setdefault(key, found)
        return found


def task_metadata(task: Task, max_steps: int) -> dict[str, Any]:
    """What the first observation tells the agent about its task (the instruction, not the persona)."""
    return {
        "id": task.id,
        "category": task.category,
        "kind": task.kind,
        "instruction": task.instruction,
        "max_steps": max_steps,
    }


@dataclass
class TaskEpisode:
    """The task an episode is graded against and the CRM it started from."""

    task: Task
    baseline: Any
    max_steps: int
    seed: int | None
    shaping: bool = False

    def grade(self, backend: CRMBackend, answer: str | None) -> Grade:
        from crm_tools.tasks import grade

        return grade(self.task, episode_changes(self.baseline, backend), answer)


def episode_changes(baseline: Snapshot, backend: CRMBackend) -> ChangeSet:
    """What the episode changed since ``baseline``: ``changes_between(baseline, snapshot(backend))``.

    A backend that notes its written rows (``written_ids``) is read and compared on those rows only,
    a fraction of a millisecond instead of several for reading and comparing the whole CRM.
    """
    from crm_tools.tasks import Snapshot, changes_between, snapshot

    written_ids = getattr(backend, "written_ids", None)
    if written_ids is None:
        return changes_between(baseline, snapshot(backend))
    before_part: dict[str, dict[str, Any]] = {}
    after_part: dict[str, dict[str, Any]] = {}
    # Objects nothing was written to keep the baseline's mapping; only the written ones are copied.
    after: dict[str, Any] = dict(baseline.records)
    for object_name, ids in written_ids().items():
        old = baseline.of(object_name)
        new = after[object_name] = dict(old)
        before_part[object_name] = {i: old[i] for i in ids if i in old}
        after_part[object_name] = {}
        for record_id in ids:
            try:
                record = next(iter(backend.get(object_name, record_id)["data"].values()))  # type: ignore[arg-type]
            except NotFoundError:
                new.pop(record_id, None)
            else:
                new[record_id] = after_part[object_name][record_id] = record
    changes = changes_between(Snapshot(before_part), Snapshot(after_part))
    # The graders look references up in the whole CRM, before and after.
    return dataclasses.replace(changes, before=baseline, after=Snapshot(after))


def grade_metadata(result: Grade) -> dict[str, Any]:
    return {"score": result.score, "success": result.success, "reasons": list(result.reasons)}
