"""converso: a conversational form engine on LangGraph."""

from converso.conversation import Conversation
from converso.form_agent import (
    AgentState,
    ErrorEvent,
    Event,
    FormAgentExecutor,
    FormContext,
    FormEvent,
    FormFieldError,
    FormReset,
    FormSnapshot,
    FormStateError,
    FormTool,
    FormToolOutcome,
    FormToolState,
    ModelFactory,
    PublicForm,
    Reply,
    ReplyEvent,
    TokenEvent,
    ToolEvent,
    TurnContext,
    filter_active_tools,
)

__version__ = "0.1.0"

__all__ = [
    "AgentState",
    "Conversation",
    "ErrorEvent",
    "Event",
    "FormAgentExecutor",
    "FormContext",
    "FormEvent",
    "FormFieldError",
    "FormReset",
    "FormSnapshot",
    "FormStateError",
    "FormTool",
    "FormToolOutcome",
    "FormToolState",
    "ModelFactory",
    "PublicForm",
    "Reply",
    "ReplyEvent",
    "TokenEvent",
    "ToolEvent",
    "TurnContext",
    "__version__",
    "filter_active_tools",
]
