"""The tools the model is offered, and running one tool call against the form stack.

This is the seam between the pure FormTool state machine and the graph: no model, no checkpointer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import json
from collections.abc import Awaitable, Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackManager, CallbackManagerForToolRun
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_callback_manager_for_config
from langchain_core.tools import BaseTool, StructuredTool, Tool
from pydantic import ValidationError

from converso.form_agent.active_form import FormFinalize, FormUpdate
from converso.form_agent.form_tool import (
    FORM_FINALIZE,
    FORM_UPDATE,
    MODEL_FIXABLE_ERRORS,
    FormTool,
    FormToolOutcome,
    TurnContext,
    find_form,
)
from converso.form_agent.reset import FormReset
from converso.form_agent.state import FormSnapshot, FormToolState, PublicForm, active_form


def offered_tools(tools: Sequence[BaseTool]) -> list[BaseTool]:
    """The tools the model is offered, the same in every state: each form as its Start tool, FormUpdate and
    FormFinalize (which act on the active form), FormReset, and every other tool, in the order given.
    A call that does not fit the state (FormFinalize with nothing filled, a Start of a form already open)
    is refused with a message saying what to do instead. Unchanging definitions in an unchanging order
    keep the prompt's prefix byte-identical from call to call, so a provider can cache it."""
    offered: list[BaseTool] = []
    for tool in tools:
        if isinstance(tool, FormTool):
            offered.append(tool.variant(FormToolState.INACTIVE))
        elif isinstance(tool, FormReset):
            offered.extend(ACTIVE_FORM_TOOLS)
            offered.append(tool)
        else:
            offered.append(tool)
    return offered


ACTIVE_FORM_TOOLS: tuple[BaseTool, ...] = (FormUpdate(), FormFinalize())


def filter_active_tools(tools: Sequence[BaseTool], forms: list[FormSnapshot]) -> list[BaseTool]:
    """The original converso's name: the tools the model is offered, now the same in every state of
    ``forms`` (``offered_tools``)."""
    return offered_tools(tools)


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
    offered: Sequence[BaseTool] | None = None,
) -> FormToolOutcome:
    """Run one call of the model against the stack. Every failure the model can fix comes back as an
    error outcome whose message tells it what was wrong and what is accepted; any other exception (a bug in
    a tool or a form's hook) propagates, for ``ToolRunner`` to log or raise. ``offered``:
    ``offered_tools(tools)``, when the caller already has it.

    Each call is one tool run for the callbacks of ``config``: a plain tool reports its own run; a form
    call, FormReset and a refused call are reported here, each with its own duration."""
    if offered is None:
        offered = offered_tools(tools)
    visible = {tool.name: tool for tool in offered}
    name = shared_name(forms, name)
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


def start_tool_call(
    tools: Sequence[BaseTool],
    forms: list[FormSnapshot],
    name: str,
    arguments: Any,
    turn: TurnContext,
    config: RunnableConfig | None = None,
    *,
    offered: Sequence[BaseTool] | None = None,
    pool: concurrent.futures.Executor | None = None,
) -> FormToolOutcome | Awaitable[FormToolOutcome]:
    """``run_tool_call`` for a turn running on an event loop: the outcome of a call done in place, else
    the awaitable that gives it.

    An async tool is awaited on the loop, so cancelling the turn cancels it. A call that may block runs
    on ``pool`` (the loop's default executor if None): a synchronous tool, and a form's Update and
    Finalize, which may look records up and commit. A sync call cannot be stopped midway: a turn cancelled
    meanwhile stops waiting for it, and it finishes in the background (a commit it makes stays; the form
    id it carries makes confirming again return it). A form's Start without values, FormReset, refused
    calls and the Updates of a form whose ``hooks_may_block()`` is False only touch the form stack: they
    are done in place, before this returns."""
    if offered is None:
        offered = offered_tools(tools)
    tool = next((candidate for candidate in offered if candidate.name == shared_name(forms, name)), None)
    if tool is None or isinstance(tool, FormReset) or not isinstance(arguments, dict):
        return run_tool_call(tools, forms, name, arguments, turn, config, offered=offered)
    owner = _owner(tools, tool.name)
    if owner is None and _is_async(tool):
        return _ainvoke(tool, forms, arguments, turn, config)
    if _stays_on_the_loop(tools, forms, tool, owner, arguments):
        return run_tool_call(tools, forms, name, arguments, turn, config, offered=offered)
    call = functools.partial(
        contextvars.copy_context().run,
        run_tool_call,
        tools,
        forms,
        name,
        arguments,
        turn,
        config,
        offered=offered,
    )
    return asyncio.get_running_loop().run_in_executor(pool, call)


def _stays_on_the_loop(
    tools: Sequence[BaseTool],
    forms: list[FormSnapshot],
    tool: BaseTool,
    owner: FormTool | None,
    arguments: dict[str, Any],
) -> bool:
    """Whether a form call only computes: a Start without values, or an Update (a Start with values is
    one) of a form whose hooks do not block and that does not commit in its Update."""
    if owner is not None:
        return not arguments or _only_computes(owner)
    if tool.name != FORM_UPDATE:
        return False  # FormFinalize commits; a plain tool is the developer's
    return active_form(forms) is None or _only_computes(_active(tools, forms))  # nothing active: refused


def _only_computes(form: FormTool) -> bool:
    return not form.skip_confirm and not form.hooks_may_block()


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
            f"the fields: {', '.join(_argument_names(tools, forms, visible[name])) or 'none'}.",
            is_error=True,
        )
    if not isinstance(arguments, dict):
        return FormToolOutcome(
            forms=forms, message=f"The arguments of {name} must be a JSON object.", is_error=True
        )
    refusal = _misfit(tools, forms, name)
    if refusal is not None:
        return FormToolOutcome(forms=forms, message=refusal, is_error=True)
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
    if tool.name == FORM_UPDATE:
        return _active(tools, forms).update(forms, arguments, turn)
    if tool.name == FORM_FINALIZE:
        return _active(tools, forms).finalize(forms, arguments, turn)
    form = _owner(tools, tool.name)
    assert form is not None  # plain tools are invoked before this
    started = form.start(forms, turn)
    if started.is_error or not arguments:
        return started
    # Values given with the Start are an Update in the same call: one model round trip instead of two.
    outcome = form.update(started.forms, arguments, turn)
    if not outcome.return_direct:
        paused = f"{forms[-1]['name']} is paused and resumes after {form.name}. " if forms else ""
        outcome.message = f"{paused}Started form {form.name}. {outcome.message}"
    return outcome


def shared_name(forms: list[FormSnapshot], name: str) -> str:
    """``name``, or FormUpdate / FormFinalize for ``{Name}Update`` / ``{Name}Finalize`` of the active form:
    the names each form's own tools had before all forms shared them, still accepted so existing
    cassettes and scripted models keep working (the model is offered only the shared names)."""
    top = active_form(forms)
    if top is not None and name in (f"{top['name']}Update", f"{top['name']}Finalize"):
        return FORM_UPDATE if name.endswith("Update") else FORM_FINALIZE
    return name


def _misfit(tools: Sequence[BaseTool], forms: list[FormSnapshot], name: str) -> str | None:
    """Why a call to a form tool does not fit the state of the stack, or None if it does."""
    if name not in (FORM_UPDATE, FORM_FINALIZE):
        return None
    top = active_form(forms)
    if top is None:
        return f"No form is active, so there is nothing for {name}. To create or change a record, call its ...Start tool first."
    if name == FORM_FINALIZE and top["state"] != FormToolState.FILLED.value:
        form = find_form(tools, top["name"])
        missing = form.get_next_field_to_collect(top["values"])
        then = f"ask the user for {missing}" if missing else f"call {FORM_UPDATE} to get the summary"
        return f"{form.name} is not filled yet, so it cannot be saved: {then}."
    return None


def _active(tools: Sequence[BaseTool], forms: list[FormSnapshot]) -> FormTool:
    top = active_form(forms)
    assert top is not None  # _misfit refused the call
    return find_form(tools, top["name"])


def _is_plain(tools: Sequence[BaseTool], tool: BaseTool) -> bool:
    return not isinstance(tool, FormReset | FormUpdate | FormFinalize) and _owner(tools, tool.name) is None


def _start_run(
    config: RunnableConfig | None, name: str, tool: BaseTool | None, arguments: Any
) -> CallbackManagerForToolRun | None:
    callbacks = config.get("callbacks") if config is not None else None
    # Inside a graph node the config always holds a callback manager, most often with no handler in it;
    # a tool run started there would set up LangChain's run bookkeeping for no one.
    if not callbacks or (isinstance(callbacks, BaseCallbackManager) and not callbacks.handlers):
        return None
    return get_callback_manager_for_config(config).on_tool_start(
        {"name": name, "description": tool.description if tool is not None else ""},
        arguments if isinstance(arguments, str) else str(arguments),
        name=name,
        inputs=arguments if isinstance(arguments, dict) else None,
    )


def called_tool(
    tools: Sequence[BaseTool], forms: list[FormSnapshot], name: str, offered: Sequence[BaseTool]
) -> BaseTool | None:
    """The tool a call named ``name`` is addressed to, as the developer's hooks see it: a plain tool or
    FormReset as given, a form (FormUpdate and FormFinalize: the active one) as its copy for this
    conversation (``state`` and ``form`` before the call), None for a name the model made up."""
    name = shared_name(forms, name)
    tool = next((candidate for candidate in offered if candidate.name == name), None)
    if tool is None:
        return None
    form = _owner(tools, name)
    top = active_form(forms)
    if form is None and name in (FORM_UPDATE, FORM_FINALIZE) and top is not None:
        form = find_form(tools, top["name"])
    if form is None:
        return tool
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
        if isinstance(tool, FormTool) and variant_name == tool.start_name:
            return tool
    return None


def _argument_names(tools: Sequence[BaseTool], forms: list[FormSnapshot], tool: BaseTool) -> list[str]:
    top = active_form(forms)
    if tool.name == FORM_UPDATE and top is not None:
        return list(find_form(tools, top["name"]).update_fields())
    return list(tool.get_input_schema().model_json_schema().get("properties", {}))
