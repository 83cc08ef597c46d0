"""CRM create, update and delete operations as conversational forms over any CRMBackend."""

from __future__ import annotations

from crm_tools.backends.base import CRMBackend
from crm_tools.forms._base import CrmForm
from crm_tools.forms._create import CreateForm
from crm_tools.forms._update import UpdateForm
from crm_tools.forms.company import CreateCompany, UpdateCompany
from crm_tools.forms.delete import DeleteRecord
from crm_tools.forms.note import CreateNote
from crm_tools.forms.opportunity import CreateOpportunity, UpdateOpportunity
from crm_tools.forms.person import CreatePerson, UpdatePerson
from crm_tools.forms.references import RecordMatch, Resolution, resolve_reference
from crm_tools.forms.task import CreateTask, UpdateTask

FORMS: tuple[type[CrmForm], ...] = (
    CreateCompany,
    CreatePerson,
    CreateOpportunity,
    CreateNote,
    CreateTask,
    UpdateCompany,
    UpdatePerson,
    UpdateOpportunity,
    UpdateTask,
    DeleteRecord,
)


def build_forms(backend: CRMBackend) -> list[CrmForm]:
    """One instance of every CRM form, writing to ``backend``."""
    return [form(backend=backend) for form in FORMS]


__all__ = [
    "FORMS",
    "CreateCompany",
    "CreateForm",
    "CreateNote",
    "CreateOpportunity",
    "CreatePerson",
    "CreateTask",
    "CrmForm",
    "DeleteRecord",
    "RecordMatch",
    "Resolution",
    "UpdateCompany",
    "UpdateForm",
    "UpdateOpportunity",
    "UpdatePerson",
    "UpdateTask",
    "build_forms",
    "resolve_reference",
]
