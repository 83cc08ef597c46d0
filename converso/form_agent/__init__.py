"""The form engine: FormTool state machine, FormReset, the FormAgentExecutor graph and its model factory."""

from converso.form_agent.dispatch import filter_active_tools, public_form, run_tool_call
from converso.form_agent.form_tool import (
    FormContext,
    FormFieldError,
    FormStateError,
    FormTool,
    FormToolOutcome,
    TurnContext,
)
from converso.form_agent.reset import FormReset
from converso.form_agent.state import AgentState, FormSnapshot, FormToolState, PublicForm

__all__ = [
    "AgentState",
    "FormContext",
    "FormFieldError",
    "FormReset",
    "FormSnapshot",
    "FormStateError",
    "FormTool",
    "FormToolOutcome",
    "FormToolState",
    "PublicForm",
    "TurnContext",
    "filter_active_tools",
    "public_form",
    "run_tool_call",
]
