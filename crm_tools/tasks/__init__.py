"""The CRM task suite: tasks with an expected outcome as data, and the deterministic graders that score an
episode's CRM changes and final answer against it. The bundled tasks are YAML files in ``bundled/``
(format: docs/evaluation.md)."""

from crm_tools.tasks.changes import ChangeSet, Snapshot, Update, changes_between, snapshot
from crm_tools.tasks.grading import Grade, find_records, grade
from crm_tools.tasks.loading import TaskFileError, UnknownCategoryError, bundled_tasks_dir, load_tasks
from crm_tools.tasks.model import (
    DeleteSpec,
    Expected,
    RecordSpec,
    ReferenceTurn,
    Task,
    ToolCallSpec,
    UpdateSpec,
)
from crm_tools.tasks.vocabulary import ABOUT_KEYS, FIELDS, MATCH_KEYS

__all__ = [
    "ABOUT_KEYS",
    "FIELDS",
    "MATCH_KEYS",
    "ChangeSet",
    "DeleteSpec",
    "Expected",
    "Grade",
    "RecordSpec",
    "ReferenceTurn",
    "Snapshot",
    "Task",
    "TaskFileError",
    "ToolCallSpec",
    "UnknownCategoryError",
    "Update",
    "UpdateSpec",
    "bundled_tasks_dir",
    "changes_between",
    "find_records",
    "grade",
    "load_tasks",
    "snapshot",
]
