"""The tool list an agent offers: FormReset joins any list with a form, and every offered name is unique."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.tools import BaseTool

from converso.form_agent.form_tool import FORM_FINALIZE, FORM_UPDATE, FormTool
from converso.form_agent.reset import FormReset


def with_form_reset(tools: Sequence[BaseTool]) -> list[BaseTool]:
    """``tools`` plus a FormReset when a form is among them; raises ValueError when two tools would be
    offered to the model under the same name."""
    tools = list(tools)
    if any(isinstance(tool, FormTool) for tool in tools) and not any(isinstance(t, FormReset) for t in tools):
        tools.append(FormReset())
    names: dict[str, BaseTool] = {}
    for tool in tools:
        for name in _offered_names(tool):
            if name in names:
                raise ValueError(
                    f"two tools would be offered to the model as {name!r}; tool names must be unique"
                )
            names[name] = tool
    return tools


def _offered_names(tool: BaseTool) -> list[str]:
    if isinstance(tool, FormTool):
        return [tool.start_name]
    if isinstance(tool, FormReset):
        # FormUpdate and FormFinalize are offered beside it (see dispatch.offered_tools).
        return [tool.name, FORM_UPDATE, FORM_FINALIZE]
    return [tool.name]
