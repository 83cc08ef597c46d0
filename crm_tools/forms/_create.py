"""Create forms: collect a record's fields, then create it in one write keyed by the form id."""

from __future__ import annotations

from typing import Any

from converso.form_agent import FormContext
from crm_tools.forms._base import CrmForm


class CreateForm(CrmForm):
    verb = "Create"

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
        body = self.backend.create(self.object_name, self.payload(fields), idempotency_key=context.form_id)
        record, text = self.written(body, "Created")
        self.link_targets(record["id"], fields.get("about"), context, replace=False)
        return text
