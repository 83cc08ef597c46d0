"""Tasks: the fields of CreateTask, and UpdateTask over them."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from crm_tools.forms._create import CreateForm
from crm_tools.forms._update import UpdateForm, update_schema
from crm_tools.forms.fields import TASK_STATUSES, Crm, Day, TaskStatus, date_field
from crm_tools.forms.note import ABOUT


class TaskFields(BaseModel):
    title: Annotated[str, Crm("title")] = Field(description="What to do")
    body: Annotated[str | None, Crm("body")] = Field(None, description="Details")
    due_date: Annotated[Day | None, date_field("dueAt")] = Field(
        None, description="Due date, as the user said it"
    )
    status: Annotated[TaskStatus, Crm("status")] = Field("TODO", description=" | ".join(TASK_STATUSES))
    about: Annotated[str | None, ABOUT] = Field(
        None, description="Company, person or opportunity it is about"
    )


class CreateTask(CreateForm):
    name: str = "CreateTask"
    description: str = "Create a task"
    args_schema: type[BaseModel] = TaskFields
    object_name: ClassVar[str] = "task"


class UpdateTask(UpdateForm):
    name: str = "UpdateTask"
    description: str = "Change a task"
    args_schema: type[BaseModel] = update_schema("UpdateTask", TaskFields, "task")
    object_name: ClassVar[str] = "task"
