"""Reading task files: one YAML file per category, ``{category, crm?, now?, tasks: [...]}``.

A file that does not fit says which file, which task and which key, and what is accepted.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from crm_tools.tasks.model import Task

TASK_SUFFIXES = (".yaml", ".yml")
_FILE_KEYS = {"category", "crm", "now", "tasks"}


class TaskFileError(ValueError):
    """A task file that cannot be used; the message names the file, the task and the key."""

    def __init__(self, file: str | Path, message: str, *, task: str | None = None, key: str | None = None):
        self.file, self.task, self.key = str(file), task, key
        where = [str(file)]
        if task is not None:
            where.append(f"task {task!r}")
        if key is not None:
            where.append(f"key {key!r}")
        super().__init__(f"{', '.join(where)}: {message}")


def bundled_tasks_dir() -> Path:
    return Path(str(files("crm_tools.tasks") / "bundled"))


def task_files(source: str | Path | None = None) -> list[Path]:
    path = bundled_tasks_dir() if source is None else Path(source)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix in TASK_SUFFIXES)
        if not found:
            raise TaskFileError(path, "no task files (*.yaml) in this folder")
        return found
    if not path.exists():
        raise TaskFileError(path, "no such file or folder")
    return [path]


def load_tasks(source: str | Path | None = None, *, category: str | None = None) -> list[Task]:
    """The tasks of ``source`` (a file or a folder of them; None: the bundled suite), sorted by id,
    optionally only one ``category`` (an unknown one is an error listing those there are)."""
    tasks: list[Task] = []
    seen: dict[str, Path] = {}
    for path in task_files(source):
        for task in load_task_file(path):
            if task.id in seen:
                raise TaskFileError(
                    path, f"the id is already used in {seen[task.id]}", task=task.id, key="id"
                )
            seen[task.id] = path
            tasks.append(task)
    if category is not None:
        categories = sorted({task.category for task in tasks})
        if category not in categories:
            raise UnknownCategoryError(category, categories)
        tasks = [task for task in tasks if task.category == category]
    return sorted(tasks, key=lambda task: task.id)


class UnknownCategoryError(ValueError):
    def __init__(self, category: str, accepted: list[str]) -> None:
        self.category, self.accepted = category, accepted
        super().__init__(f"Unknown category {category!r}. Accepted: {', '.join(accepted)}.")


def load_task_file(path: str | Path) -> list[Task]:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFileError(path, f"cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise TaskFileError(path, f"is not valid YAML ({exc})") from None
    if not isinstance(document, dict):
        raise TaskFileError(path, "must be a mapping with 'category' and 'tasks'")
    unknown = sorted(set(document) - _FILE_KEYS)
    if unknown:
        raise TaskFileError(
            path, f"unknown key(s); accepted: {', '.join(sorted(_FILE_KEYS))}", key=unknown[0]
        )
    category = document.get("category")
    if not isinstance(category, str) or not category:
        raise TaskFileError(path, "a file names its category (a non-empty string)", key="category")
    entries = document.get("tasks")
    if not isinstance(entries, list) or not entries:
        raise TaskFileError(path, "a non-empty list of tasks is needed", key="tasks")
    defaults = {key: document[key] for key in ("crm", "now") if key in document}
    return [_task(path, category, index, entry, defaults) for index, entry in enumerate(entries, start=1)]


def _task(path: Path, category: str, index: int, entry: Any, defaults: dict[str, Any]) -> Task:
    name = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else f"#{index}"
    if not isinstance(entry, dict):
        raise TaskFileError(path, "a task is a mapping", task=name)
    data = {**defaults, **entry, "category": category, "source": str(path)}
    try:
        data["crm_seed"] = _seed(data.pop("crm", "empty"))
    except ValueError as exc:
        raise TaskFileError(path, str(exc), task=name, key="crm") from None
    try:
        return Task.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-")) or None
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "this key is required"
        raise TaskFileError(path, message, task=name, key=key) from None


def _seed(value: Any) -> int | None:
    if value in (None, "empty"):
        return None
    if isinstance(value, dict) and set(value) == {"seed"} and isinstance(value["seed"], int):
        return value["seed"]
    raise ValueError(f"crm is 'empty' or {{seed: N}} with N an integer, got {value!r}")
