"""Which tools the model sees in a given form state, and running one tool call against the form stack.

This is the seam between the pure FormTool state machine and the graph: no model, no checkpointer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import json
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_callback_manager_for_config
from langchain_core.tools import BaseTool, StructuredTool, Tool
from pydantic import ValidationError

from converso.form_agent.form_tool import (
    MODEL_FIXABLE_ERRORS,
    FormTool,
    FormToolOutcome,
    TurnContext,
    find_form,
)
from converso.form_agent.reset import FormReset
from converso.form_agent.state import FormSnapshot, FormToolState, PublicForm, active_form


def filter_active_tools(tools: Sequence[BaseTool], forms: list[FormSnapshot]) -> list[BaseTool]:
    """The tools the model may call now: each form as its Start, Update or Finalize and Update variants,
    FormReset only while a form is open, and every other tool unchanged (side questions work mid-form).
    Forms that are open but interrupted are hidden until they resume."""
    top = active_form(forms)
    open_names = {snapshot["name"] for snapshot in forms}
    visible: list[BaseTool] = []
    for tool in tools:
        if isinstance(tool, FormTool):
            if top is not None and tool.name == top["name"]:
                visible.extend(tool.variants(FormToolState(top["state"])))
            elif tool.name not in open_names:
                visible.append(tool.variant(FormToolState.INACTIVE))
        elif isinstance(tool, FormReset):
            if top is not None:
                visible.append(tool)
        else:
            visible.append(tool)
    return visible


class VisibleTools:
    """``filter_active_tools`` for one tool list, remembered per shape of the form stack (which forms are
    open, and the state of the active one): every model call and every tool call asks, and a conversation
    goes through the same few shapes again and again."""

    _MAX_SHAPES = 256

    def __init__(self, tools: Sequence[BaseTool]) -> None:
        self.tools = tools
        self._shapes: dict[tuple[str | None, ...], list[BaseTool]] = {}

    def __call__(self, forms: list[FormSnapshot]) -> list[BaseTool]:
        """The visible tools (a shared list: do not change it)."""
        shape = (*(snapshot["name"] for snapshot in forms), forms[-1]["state"] if forms else None)
        visible = self._shapes.get(shape)
        if visible is None:
            if len(self._shapes) >= self._MAX_SHAPES:
                self._shapes.clear()
            visible = self._shapes[shape] = filter_active_tools(self.tools, forms)
        return visible


def public_form(tools: Sequence[BaseTool], forms: list[FormSnapshot] | None) -> PublicForm | None:
    top = active_form(forms)
    if top is None:
        return None
    return find_form(tools, top["name"]).public_view(top)


def run_tool_call(
    tools: Sequence[BaseTool],
    forms: list[FormSnapshot],
    name: str,
    arguments: Any,
    turn: TurnContext,
    config: RunnableConfig | None = None,
    *,
    visible_now: Sequence[BaseTool] | None = None,
) -> FormToolOutcome:
    """Run one call of the model against the stack. Every failure the model can fix comes back as an
    error outcome whose message tells it what was wrong and what is accepted; any other exception (a bug in
    a tool or a form's hook) propagates, for ``ToolRunner`` to log or raise. ``visible_now``: the tools
    visible for ``forms``, when the caller already has them (``filter_active_tools`` otherwise).

    Each call is one tool run for the callbacks of ``config``: a plain tool reports its own run; a form
    call, FormReset and a refused call are reported here, each with its own duration."""
    if visible_now is None:
        visible_now = filter_active_tools(tools, forms)
    visible = {tool.name: tool for tool in visible_now}
    tool = visible.get(name)
    if tool is not None and isinstance(arguments, dict) and _is_plain(tools, tool):
        return _invoke(tool, forms, arguments, turn, config)
    run = _start_run(config, name, tool, arguments)
    try:
        outcome = _run_form_call(tools, visible, forms, name, arguments, turn)
    except Exception as exc:
        if run is not None:
            run.on_tool_error(exc)
        raise
    if run is not None:
        if outcome.is_error:
            run.on_tool_error(ToolCallRefused(outcome.message))
        else:
            run.on_tool_end(outcome.message)
    return outcome


async def arun_tool_call(
    tools: Sequence[BaseTool],
    forms: list[FormSnapshot],
    name: str,
    arguments: Any,
    turn: TurnContext,
    config: RunnableConfig | None = None,
    *,
    visible_now: Sequence[BaseTool] | None = None,
    pool: concurrent.futures.Executor | None = None,
) -> FormToolOutcome:
    """``run_tool_call`` for a turn running on an event loop.

    An async tool is awaited on the loop, so cancelling the turn cancels it. A call that may block runs
    on ``pool`` (the loop's default executor if None): a synchronous tool, and a form's Update and
    Finalize, which may look records up and commit. A sync call cannot be stopped midway: a turn cancelled
    meanwhile stops waiting for it, and it finishes in the background (a commit it makes stays; the form
    id it carries makes confirming again return it). A form's Start, FormReset and refused calls only
    touch the form stack: in place."""
    if visible_now is None:
        visible_now = filter_active_tools(tools, forms)
    tool = next((candidate for candidate in visible_now if candidate.name == name), None)
    if tool is None or isinstance(tool, FormReset) or not isinstance(arguments, dict):
        return run_tool_call(tools, forms, name, arguments, turn, config, visible_now=visible_now)
    owner = _owner(tools, tool.name)
    if owner is None and _is_async(tool):
        return await _ainvoke(tool, forms, arguments, turn, config)
    if owner is not None and tool.name == owner.start_name:
        return run_tool_call(tools, forms, name, arguments, turn, config, visible_now=visible_now)
    call = functools.partial(
        contextvars.copy_context().run,
        run_tool_call,
        tools,
        forms,
        name,
        arguments,
        turn,
        config,
        visible_now=visible_now,
    )
    return await asyncio.get_running_loop().run_in_executor(pool, call)


def _is_async(tool: BaseTool) -> bool:
    if isinstance(tool, StructuredTool | Tool):
        return tool.coroutine is not None
    return type(tool)._arun is not BaseTool._arun


class ToolCallRefused(Exception):
    """How a refused call (unknown tool, bad arguments, a rejected value) reaches the callbacks."""


def _run_form_call(
    tools: Sequence[BaseTool],
    visible: dict[str, BaseTool],
    forms: list[FormSnapshot],
    name: str,
    arguments: Any,
    turn: TurnContext,
) -> FormToolOutcome:
    if name not in visible:
        return FormToolOutcome(
            forms=forms,
            message=f"Unknown tool {name!r}. Tools available now: {', '.join(visible) or 'none'}.",
            is_error=True,
        )
    if isinstance(arguments, str):
        # Arguments that did not parse as JSON arrive as their raw text.
        return FormToolOutcome(
            forms=forms,
            message=f"The arguments of {name} were not valid JSON ({arguments!r}). Send a JSON object with "
            f"the fields: {', '.join(_argument_names(visible[name])) or 'none'}.",
            is_error=True,
        )
    if not isinstance(arguments, dict):
        return FormToolOutcome(
            forms=forms, message=f"The arguments of {name} must be a JSON object.", is_error=True
        )
    outcome = _run_visible(tools, visible[name], forms, arguments, turn)
    if outcome.popped and outcome.forms:
        outcome.message = f"{outcome.message} {_resume_note(tools, outcome.forms[-1])}"
    return outcome


def _run_visible(
    tools: Sequence[BaseTool],
    tool: BaseTool,
    forms: list[FormSnapshot],
    arguments: dict[str, Any],
    turn: TurnContext,
) -> FormToolOutcome:
    if isinstance(tool, FormReset):
        return tool.reset(forms)
    form = _owner(tools, tool.name)
    assert form is not None  # plain tools are invoked before this
    if tool.name == form.start_name:
        return form.start(forms, turn)
    if tool.name == form.update_name:
        return form.update(forms, arguments, turn)
    return form.finalize(forms, arguments, turn)


def _is_plain(tools: Sequence[BaseTool], tool: BaseTool) -> bool:
    return not isinstance(tool, FormReset) and _owner(tools, tool.name) is None


def _start_run(
    config: RunnableConfig | None, name: str, tool: BaseTool | None, arguments: Any
) -> CallbackManagerForToolRun | None:
    if config is None or not config.get("callbacks"):
        return None
    return get_callback_manager_for_config(config).on_tool_start(
        {"name": name, "description": tool.description if tool is not None else ""},
        arguments if isinstance(arguments, str) else str(arguments),
        name=name,
        inputs=arguments if isinstance(arguments, dict) else None,
    )


def called_tool(
    tools: Sequence[BaseTool], forms: list[FormSnapshot], name: str, visible_now: Sequence[BaseTool]
) -> BaseTool | None:
    """The tool a call named ``name`` is addressed to, as the developer's hooks see it: a plain tool or
    FormReset as given, a form as its copy for this conversation (``state`` and ``form`` before the call),
    None for a name the model made up."""
    tool = next((candidate for candidate in visible_now if candidate.name == name), None)
    if tool is None:
        return None
    form = _owner(tools, name)
    if form is None:
        return tool
    top = active_form(forms)
    if top is not None and top["name"] == form.name:
        return form.for_conversation(top["values"], FormToolState(top["state"]))
    return form.for_conversation(None, FormToolState.INACTIVE)


def _invoke(
    tool: BaseTool,
    forms: list[FormSnapshot],
    arguments: dict[str, Any],
    turn: TurnContext,
    config: RunnableConfig | None,
) -> FormToolOutcome:
    try:
        result = tool.invoke(arguments, config)
    except ValidationError as exc:
        return _invalid_arguments(tool, forms, exc)
    except MODEL_FIXABLE_ERRORS as exc:
        return FormToolOutcome(forms=forms, message=f"{tool.name} failed: {exc}", is_error=True)
    return _tool_result(tool, forms, turn, result)


async def _ainvoke(
    tool: BaseTool,
    forms: list[FormSnapshot],
    arguments: dict[str, Any],
    turn: TurnContext,
    config: RunnableConfig | None,
) -> FormToolOutcome:
    try:
        result = await tool.ainvoke(arguments, config)
    except ValidationError as exc:
        return _invalid_arguments(tool, forms, exc)
    except MODEL_FIXABLE_ERRORS as exc:
        return FormToolOutcome(forms=forms, message=f"{tool.name} failed: {exc}", is_error=True)
    return _tool_result(tool, forms, turn, result)


def _tool_result(
    tool: BaseTool, forms: list[FormSnapshot], turn: TurnContext, result: Any
) -> FormToolOutcome:
    return FormToolOutcome(
        forms=forms,
        message=turn.render(tool, result),
        result=result,
        return_direct=bool(tool.return_direct),
    )


def _invalid_arguments(tool: BaseTool, forms: list[FormSnapshot], exc: ValidationError) -> FormToolOutcome:
    problems = "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'arguments'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )
    return FormToolOutcome(
        forms=forms, message=f"Invalid arguments for {tool.name}: {problems}", is_error=True
    )


def _resume_note(tools: Sequence[BaseTool], snapshot: FormSnapshot) -> str:
    form = find_form(tools, snapshot["name"])
    values = json.dumps(snapshot["values"], ensure_ascii=False)
    if snapshot["state"] == FormToolState.FILLED.value:
        then = f"it is filled; ask the user to confirm it and call {form.finalize_name}."
    else:
        then = form.next_field(snapshot["values"])
        then = f"next field to ask: {then}." if then else f"call {form.update_name} to finish it."
    return f"The interrupted form {form.name} is active again with values {values}; {then}"


def _owner(tools: Sequence[BaseTool], variant_name: str) -> FormTool | None:
    for tool in tools:
        if isinstance(tool, FormTool) and variant_name in (
            tool.start_name,
            tool.update_name,
            tool.finalize_name,
        ):
            return tool
    return None


def _argument_names(tool: BaseTool) -> list[str]:
    return list(tool.get_input_schema().model_json_schema().get("properties", {}))
