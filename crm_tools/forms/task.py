"""Tasks: the fields of CreateTask, and UpdateTask over them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from crm_tools.forms.fields import TASK_STATUSES, Crm, Day, TaskStatus, day_from_crm, day_to_crm
from crm_tools.forms.note import ABOUT


class TaskFields(BaseModel):
    title: Annotated[str, Crm("title")] = Field(description="What to do")
    body: Annotated[str | None, Crm("body")] = Field(None, description="Details")
    due_date: Annotated[Day | None, Crm("dueAt", day_to_crm, day_from_crm)] = Field(
        None, description="Due date, as the user said it"
    )
    status: Annotated[TaskStatus, Crm("status")] = Field("TODO", description=" | ".join(TASK_STATUSES))
    about: Annotated[str | None, ABOUT] = Field(None, description="Company, person or opportunity it is about")
