"""The form engine: FormTool state machine, FormReset, the FormAgentExecutor graph and its model factory."""

from converso.form_agent.checkpoint import open_checkpointer
from converso.form_agent.dispatch import filter_active_tools, offered_tools, public_form, run_tool_call
from converso.form_agent.executor import FormAgentExecutor
from converso.form_agent.form_tool import (
    FormContext,
    FormFieldError,
    FormStateError,
    FormTool,
    FormToolOutcome,
    TurnContext,
)
from converso.form_agent.graph import ModelCallError
from converso.form_agent.history import history_window
from converso.form_agent.model_factory import ModelConfigurationError, ModelFactory
from converso.form_agent.prompts import build_system_prompt
from converso.form_agent.reply import ErrorEvent, Event, FormEvent, Reply, ReplyEvent, TokenEvent, ToolEvent
from converso.form_agent.reset import FormReset
from converso.form_agent.state import AgentState, FormAgentState, FormSnapshot, FormToolState, PublicForm
from converso.form_agent.tool_schema import CompactTool, compact_json_schema

__all__ = [
    "AgentState",
    "CompactTool",
    "ErrorEvent",
    "Event",
    "FormAgentExecutor",
    "FormAgentState",
    "FormContext",
    "FormEvent",
    "FormFieldError",
    "FormReset",
    "FormSnapshot",
    "FormStateError",
    "FormTool",
    "FormToolOutcome",
    "FormToolState",
    "ModelCallError",
    "ModelConfigurationError",
    "ModelFactory",
    "PublicForm",
    "Reply",
    "ReplyEvent",
    "TokenEvent",
    "ToolEvent",
    "TurnContext",
    "build_system_prompt",
    "compact_json_schema",
    "filter_active_tools",
    "history_window",
    "offered_tools",
    "open_checkpointer",
    "public_form",
    "run_tool_call",
]
