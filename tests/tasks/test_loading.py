"""Task files: a malformed one names the file, the task and the key; unknown categories list the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_tools.tasks import TaskFileError, UnknownCategoryError, load_tasks

GOOD = """
category: demo
tasks:
  - id: add-acme
    goal: You want Acme added.
    instruction: Create a company named Acme.
    expected:
      create:
        - company: {name: Acme}
    reference:
      - user: Add Acme
        calls: [CreateCompanyStart, {FormUpdate: {name: Acme}}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_task_file_loads_with_its_reference_solution(tmp_path: Path) -> None:
    (task,) = load_tasks(write(tmp_path, GOOD))
    assert (task.id, task.category, task.crm_seed, task.kind) == ("add-acme", "demo", None, "write")
    assert task.utterances == ["Add Acme"]
    assert [call.name for call in task.reference[0].calls] == ["CreateCompanyStart", "FormUpdate"]
    assert task.expected.create[0].fields == {"name": "Acme"}


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (
            ("company: {name: Acme}", "company: {name: Acme, colour: red}"),
            "expected.create.0",
            "unknown company field(s) colour",
        ),
        (("company: {name: Acme}", "planet: {name: Acme}"), "expected.create.0", "unknown object 'planet'"),
        (("    goal: You want Acme added.\n", ""), "goal", "this key is required"),
        (("    instruction:", "    colour: red\n    instruction:"), "colour", "unknown key"),
        (
            ("  - id: add-acme\n", "  - id: add-acme\n    crm: {seed: many}\n"),
            "crm",
            "crm is 'empty' or {seed: N}",
        ),
    ],
)
def test_a_malformed_task_names_the_file_the_task_and_the_key(
    tmp_path: Path, change: tuple[str, str], key: str, message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(TaskFileError) as caught:
        load_tasks(path)
    assert caught.value.file == str(path)
    assert caught.value.task == "add-acme"
    assert caught.value.key == key
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}, task 'add-acme', key '{key}': ")


def test_a_file_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="is not valid YAML"):
        load_tasks(write(tmp_path, "category: [unclosed"))


def test_an_unknown_category_lists_the_accepted_ones() -> None:
    with pytest.raises(UnknownCategoryError) as caught:
        load_tasks(category="gardening")
    assert "Accepted: ambiguous_reference, answer, cancel" in str(caught.value)


def test_one_category_can_be_chosen() -> None:
    tasks = load_tasks(category="cancel")
    assert tasks and {task.category for task in tasks} == {"cancel"}
