"""converso: a conversational form engine on LangGraph."""

from converso.form_agent import (
    AgentState,
    FormContext,
    FormFieldError,
    FormReset,
    FormSnapshot,
    FormStateError,
    FormTool,
    FormToolOutcome,
    FormToolState,
    PublicForm,
    TurnContext,
    filter_active_tools,
)

__version__ = "0.1.0"

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
    "__version__",
    "filter_active_tools",
]
