"""Alias of the original converso's ``form_tool`` module: the FormTool, FormReset and the graph state."""

from langchain_core.tools import BaseTool

from converso.form_agent.form_tool import FormContext, FormTool, FormToolOutcome
from converso.form_agent.reset import FormReset
from converso.form_agent.state import AgentState, FormToolState

__all__ = [
    "AgentState",
    "BaseTool",
    "FormContext",
    "FormReset",
    "FormTool",
    "FormToolOutcome",
    "FormToolState",
]
