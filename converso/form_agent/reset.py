"""FormReset: the tool that abandons the active form without saving it."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel

from converso.form_agent.form_tool import FormToolOutcome
from converso.form_agent.state import FormSnapshot


class _NoArguments(BaseModel):
    pass


class FormReset(BaseTool):
    """Visible to the model while a form is open; a call drops the active form (nothing is saved) and
    resumes the form it interrupted, if any."""

    name: str = "FormReset"
    description: str = "Abandon the active form without saving anything (when the user cancels it)."
    args_schema: type[BaseModel] = _NoArguments

    def reset(self, forms: list[FormSnapshot]) -> FormToolOutcome:
        if not forms:
            return FormToolOutcome(forms=forms, message="No form is active; nothing to reset.", is_error=True)
        dropped = forms[-1]
        return FormToolOutcome(
            forms=forms[:-1], message=f"{dropped['name']} abandoned; nothing was saved.", popped=True
        )

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("FormReset is run by FormAgentExecutor against a conversation's form stack")
