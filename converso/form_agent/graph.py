"""The LangGraph graph: an ``agent`` node (one model call) and a ``tool`` node (the calls it made).

agent → tool when the model calls tools, agent → END when it answers in text; tool → agent to continue,
tool → END when a tool returns directly, tool → give_up after too many failing rounds in a row. The agent
node also opens each run: when the newest message is the user's, it counts the user turn and resets the
per-run fields, and when that message is a structured confirmation of the FILLED form it goes straight to
the tool node with the form's Finalize call, without asking the model. (A separate entry node did this
until it showed up as a quarter of a turn's graph steps.)

Each node names the next one itself (a ``Command``), from what it just produced: a conditional edge would
read the state again, and LangGraph builds that read from a copy of every channel (the whole history
included) with the node's writes applied, twice per round.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableBinding, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph._internal._runnable import RunnableCallable
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from converso.form_agent.dispatch import offered_tools, public_form
from converso.form_agent.form_tool import FormToolOutcome, TurnContext, find_form
from converso.form_agent.history import history_window
from converso.form_agent.model_call import acall_model
from converso.form_agent.model_factory import ModelFactory
from converso.form_agent.prompt_cache import cache_kwargs, with_cache_breakpoints
from converso.form_agent.prompts import build_state_note, build_system_prompt
from converso.form_agent.state import AgentState, FormSnapshot, FormToolState
from converso.form_agent.token_tap import with_token_tap
from converso.form_agent.tool_runner import ToolRunner


class ModelCallError(RuntimeError):
    """The chat model raised (after its own retries); the turn is abandoned."""


class TurnBroken(RuntimeError):
    """A bug outside any tool call (a form's hook failing while the prompt was built) ended the turn; it
    is logged with its traceback, and the executor rolls the turn back."""


class TurnCancelled(Exception):
    """The turn's cancellation was set; the executor rolls the turn back."""


# Where a turn's cancellation (a threading.Event) travels in the run config, for the nodes to check: a
# synchronous caller's way to stop a turn (async callers cancel the turn's task).
CANCEL_KEY = "converso_cancel"


def check_settings(*, history_window: int, max_error_rounds: int, tool_timeout: float | None) -> None:
    """Refuse settings no engine can run with (FormAgentExecutor and make_graph take the same ones)."""
    if history_window <= 0:
        raise ValueError(f"history_window must be at least 1 message, got {history_window}")
    if max_error_rounds <= 0:
        raise ValueError(f"max_error_rounds must be at least 1, got {max_error_rounds}")
    if tool_timeout is not None and tool_timeout <= 0:
        raise ValueError(f"tool_timeout must be a positive number of seconds or None, got {tool_timeout}")


@dataclass(frozen=True)
class Engine:
    """Everything the nodes need besides the state."""

    tools: Sequence[BaseTool]
    models: ModelFactory
    clock: Callable[[], datetime]
    id_factory: Callable[[], str]
    # The base instructions (None: the default ones), or (forms, now, last error or None) -> the whole
    # system prompt of one model call (FormAgentExecutor.build_system_prompt). The state of the call is
    # in the note after the history; a builder that puts it in the system prompt changes the prompt's
    # prefix on every call, and a provider's cache no longer applies.
    system_prompt: str | Callable[[list[FormSnapshot], datetime, str | None], str] | None
    history_window: int
    max_error_rounds: int
    # How tool calls run (deadline, hooks, bugs); None: in the graph's thread, bugs logged.
    runner: ToolRunner | None = None
    format_result: Callable[[BaseTool, Any], str] | None = None

    def prompt(self, forms: list[FormSnapshot], now: datetime, last_error: str | None) -> str:
        if callable(self.system_prompt):
            return self.system_prompt(forms, now, last_error)
        return build_system_prompt(self.system_prompt)


@dataclass(frozen=True)
class _Call:
    id: str
    name: str
    args: Any


def build_graph(engine: Engine, checkpointer: BaseCheckpointSaver | None) -> CompiledStateGraph:
    """The form graph. Its agent and tool nodes each have a sync and an async body: ``invoke``/``stream``
    call the model and the tools synchronously, ``ainvoke``/``astream`` (the executor's path) await them,
    so that cancelling the run closes a model request under way."""
    # The prompt's prefix (tool definitions, system prompt, then the history) is the same on every call,
    # so a provider caches it; what changes per call is the state note at the end.
    offered = offered_tools(engine.tools)
    runner = engine.runner or ToolRunner(engine.tools)

    def model_request(
        state: AgentState, config: RunnableConfig
    ) -> tuple[Any, BaseChatModel, list[Any], dict[str, Any]]:
        _stop_if_cancelled(config)
        forms = state.get("forms") or []
        forced = state.get("forced_tool")
        if forced is not None and all(tool.name != forced for tool in offered):
            forced = None
        thread_id = config.get("configurable", {}).get("thread_id")
        now = engine.clock()
        last_error = state.get("last_error") if state.get("error_rounds") else None
        try:
            prompt = engine.prompt(forms, now, last_error)
            note = build_state_note(engine.tools, forms, now, last_error=last_error)
        except Exception as exc:
            # A form's hook (next field, description) is the developer's code: a bug there is theirs to see.
            runner.report("building the system prompt", forms[-1]["name"] if forms else "-", thread_id, exc)
            raise TurnBroken(f"{type(exc).__name__}: {exc}") from exc
        messages = [SystemMessage(prompt), *history_window(state["messages"], engine.history_window), note]
        bound = engine.models.bind(offered, forced)
        chat_model = engine.models.chat_model()
        # The provider's own prompt-caching hooks: a cache key per thread, cache breakpoints.
        options = cache_kwargs(chat_model, thread_id)
        model, arguments = _unbound(bound, chat_model, options)
        return model, chat_model, with_cache_breakpoints(chat_model, messages), arguments

    def after_model(
        state: AgentState, response: Any, opening: dict[str, Any]
    ) -> Command[Literal["tool", "__end__"]]:
        update = {**opening, "messages": [response], **_changed(state, {"forced_tool": None})}
        return Command(update=update, goto=route_after_agent(response))

    def open_run(state: AgentState) -> tuple[AgentState, dict[str, Any], Command | None]:
        """The state the model call works from, the update that opens the run (empty after a tool round),
        and, for a structured confirmation, the Command that saves the form instead of calling the model."""
        opening = start_of_run(engine.tools, state)
        if not opening:
            return state, opening, None
        confirmation = confirmed_finalize(engine.tools, state) if "turn" in opening else None
        if confirmation is not None:
            # A person confirmed the summary with a button: the form is saved without asking the model.
            return state, opening, Command(update={**opening, "messages": [confirmation]}, goto="tool")
        return {**state, **opening}, opening, None  # type: ignore[typeddict-item]

    def agent(state: AgentState, config: RunnableConfig) -> Command[Literal["tool", "__end__"]]:
        state, opening, confirmed = open_run(state)
        if confirmed is not None:
            return confirmed
        model, _, messages, arguments = model_request(state, config)
        try:
            # The run config carries the executor's callbacks and the thread id (in the metadata).
            response = model.invoke(messages, with_token_tap(config), **arguments)
        except Exception as exc:
            raise ModelCallError(f"{type(exc).__name__}: {exc}") from exc
        return after_model(state, response, opening)

    async def aagent(state: AgentState, config: RunnableConfig) -> Command[Literal["tool", "__end__"]]:
        state, opening, confirmed = open_run(state)
        if confirmed is not None:
            return confirmed
        model, chat_model, messages, arguments = model_request(state, config)
        try:
            response = await acall_model(model, chat_model, messages, config, arguments)
        except Exception as exc:
            raise ModelCallError(f"{type(exc).__name__}: {exc}") from exc
        return after_model(state, response, opening)

    def tool(state: AgentState, config: RunnableConfig) -> Command[Literal["agent", "give_up", "__end__"]]:
        round_ = _ToolRound(engine, state, config)
        for call in round_.calls:
            _stop_if_cancelled(config)
            round_.add(call, runner.run(*round_.arguments(call, offered)))
        return round_.command(route_after_tool)

    async def atool(
        state: AgentState, config: RunnableConfig
    ) -> Command[Literal["agent", "give_up", "__end__"]]:
        round_ = _ToolRound(engine, state, config)
        for call in round_.calls:
            _stop_if_cancelled(config)
            round_.add(call, await runner.arun(*round_.arguments(call, offered)))
        return round_.command(route_after_tool)

    def give_up(state: AgentState) -> dict[str, Any]:
        text = (
            f"Sorry, I could not complete this: my last {state.get('error_rounds', 0)} attempts failed. "
            f"Last error: {state.get('last_error')}"
        )
        return {"messages": [AIMessage(content=text)]}

    def route_after_agent(response: Any) -> Literal["tool", "__end__"]:
        if isinstance(response, AIMessage) and (response.tool_calls or response.invalid_tool_calls):
            return "tool"
        return END

    def route_after_tool(update: dict[str, Any]) -> Literal["agent", "give_up", "__end__"]:
        if update["error_rounds"] >= engine.max_error_rounds:
            return "give_up"
        if update["stop"]:
            return END
        return "agent"

    graph = StateGraph(AgentState)
    # Each node names where it goes (a Command); with two bodies that is said here, not read from a hint.
    graph.add_node("agent", _both(agent, aagent), destinations=("tool", END))
    graph.add_node("tool", _both(tool, atool), destinations=("agent", "give_up", END))
    graph.add_node("give_up", _both(give_up))
    graph.add_edge(START, "agent")
    graph.add_edge("give_up", END)
    return graph.compile(checkpointer=checkpointer)


def _unbound(bound: Any, chat_model: Any, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The runnable to call and the keyword arguments of one model call. A chat model's own binding of its
    tools (``bind_tools``: the model and keyword arguments, nothing else) is called as the model with those
    arguments: the same request, without the binding's merge of the whole run config on every call."""
    if (
        isinstance(bound, RunnableBinding)
        and bound.bound is chat_model
        and not bound.config
        and not bound.config_factories
    ):
        return chat_model, {**bound.kwargs, **options}
    return (bound.bind(**options) if options else bound), {}


def _both(func: Callable[..., Any], afunc: Callable[..., Awaitable[Any]] | None = None) -> RunnableCallable:
    """A node with a sync and an async body. A node that does no I/O gets an async body running the sync
    one in place: LangGraph would otherwise hand a sync node to a thread on the async path."""
    if afunc is None:

        async def afunc(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        functools.update_wrapper(afunc, func)
    return RunnableCallable(func, afunc, name=func.__name__, trace=False)


class _ToolRound:
    """The tool calls of the model's last message, run one after the other against the form stack."""

    def __init__(self, engine: Engine, state: AgentState, config: RunnableConfig) -> None:
        self.engine = engine
        self.state = state
        self.config = config
        self.forms = state.get("forms") or []
        self.calls = _calls(state["messages"][-1])
        self.turn = TurnContext(
            number=state.get("turn", 1),
            now=engine.clock(),
            thread_id=config.get("configurable", {}).get("thread_id"),
            new_id=engine.id_factory,
            format_result=engine.format_result,
        )
        self.results: list[ToolMessage] = []
        self.errors: list[str] = []
        self.forced: str | None = None
        self.direct = True

    def arguments(self, call: _Call, offered: Sequence[BaseTool]) -> tuple[Any, ...]:
        """What ``ToolRunner.run``/``arun`` take for ``call``, against the stack as it is now."""
        return (self.forms, call.name, call.args, self.turn, self.config, offered)

    def add(self, call: _Call, outcome: FormToolOutcome) -> None:
        self.forms = outcome.forms
        self.forced = outcome.force_tool
        self.direct = self.direct and outcome.return_direct and not outcome.is_error
        if outcome.is_error:
            self.errors.append(f"{call.name}: {outcome.message}")
        self.results.append(
            ToolMessage(
                content=outcome.message,
                tool_call_id=call.id,
                name=call.name,
                status="error" if outcome.is_error else "success",
                # A save the person has not been told about yet (a paused form resumed after it).
                artifact={_UNREPORTED: _saved_text(outcome.result)}
                if outcome.committed and not outcome.return_direct
                else None,
            )
        )

    def command(self, route: Callable[[dict[str, Any]], str]) -> Command:
        if self.direct and self.results:
            _report_earlier_saves(self.state["messages"], self.results)
        run_fields = {
            "forced_tool": self.forced,
            "error_rounds": self.state.get("error_rounds", 0) + 1 if self.errors else 0,
            "last_error": " ".join(self.errors) or None,
            "stop": self.direct and bool(self.results),
        }
        update = {
            "messages": self.results,
            "forms": self.forms,
            "form": public_form(self.engine.tools, self.forms),
            **_changed(self.state, run_fields),
        }
        return Command(update=update, goto=route(run_fields))


def start_of_run(tools: Sequence[BaseTool], state: AgentState) -> dict[str, Any]:
    """The update that opens a run, or ``{}`` when the agent node is not at the start of one. A run starts
    when the newest message is the user's (within a run the newest is the model's or a tool's): per-run
    fields start fresh, and a message that was not counted yet opens a new user turn (a run repeated with
    the same message does not). The update carries the public form as the run opens, for a client of the
    "updates" stream (the executor's reply): the same value again, but one write per run costs less than
    reading the whole state back.

    The consent guard relies on the turn, so it is derived here, inside the graph: the plain
    ``{"messages": [...]}`` input of LangGraph's server, of a parent graph or of ``graph.invoke`` is enough.
    """
    messages = state.get("messages") or []
    newest = messages[-1] if messages else None
    if not isinstance(newest, HumanMessage):
        return {}
    update = {**_changed(state, _FRESH_RUN), "form": public_form(tools, state.get("forms"))}
    if newest.id != state.get("turn_message_id"):
        update["turn"] = state.get("turn", 0) + 1
        update["turn_message_id"] = newest.id
    return update


# The per-run fields as a run starts; a channel that holds none of them yet reads as this value.
_FRESH_RUN: dict[str, Any] = {"forced_tool": None, "error_rounds": 0, "last_error": None, "stop": False}


def _changed(state: AgentState, fields: dict[str, Any]) -> dict[str, Any]:
    """The per-run ``fields`` whose value differs from ``state``'s: LangGraph versions and stores every
    channel a step writes, even with the value it holds: the writes left out were 0.9% of a turn's
    instructions (bench_instructions.py)."""
    return {key: value for key, value in fields.items() if state.get(key, _FRESH_RUN[key]) != value}


def confirmation_message(text: str, form_name: str) -> HumanMessage:
    """The user message of a structured confirmation (a Confirm button): ``text`` is what the history
    shows; the form it confirms travels beside it, so the yes cannot be misread."""
    return HumanMessage(text, additional_kwargs={CONFIRM_KEY: form_name})


# Where a structured confirmation names its form, in the user message's additional_kwargs.
CONFIRM_KEY = "converso_confirm"


def confirmed_finalize(tools: Sequence[BaseTool], state: AgentState) -> AIMessage | None:
    """For a new user message that confirms the active, FILLED form by name: the Finalize call that
    saves it. The call still goes through the form, so the consent guard (a summary shown in an earlier
    turn) holds as for any other yes. A confirmation of any other form is an ordinary message."""
    messages = state.get("messages") or []
    newest = messages[-1] if messages else None
    form_name = newest.additional_kwargs.get(CONFIRM_KEY) if isinstance(newest, HumanMessage) else None
    forms = state.get("forms") or []
    if not form_name or not forms or forms[-1]["name"] != form_name:
        return None
    if forms[-1]["state"] != FormToolState.FILLED.value:
        return None
    form = find_form(tools, form_name)
    call = {
        "name": form.finalize_name,
        "args": {"confirm": True},
        "id": f"confirm-{newest.id}",
        "type": "tool_call",
    }
    return AIMessage(content="", tool_calls=[call])


# Marks, in a ToolMessage's artifact, the result of a save that was not the reply of its turn.
_UNREPORTED = "converso_saved"


def _saved_text(result: Any) -> str:
    return result if isinstance(result, str) else str(result)


def _report_earlier_saves(history: Sequence[Any], results: list[ToolMessage]) -> None:
    """A turn ending on a tool's text as it is (a summary) must still say what it saved before it, e.g. the
    company created in a detour before the person's summary comes back: those results lead the reply."""
    start = next((i for i in range(len(history) - 1, -1, -1) if isinstance(history[i], HumanMessage)), 0)
    saved = [
        message.artifact[_UNREPORTED]
        for message in [*history[start:], *results[:-1]]
        if isinstance(message, ToolMessage)
        and isinstance(message.artifact, dict)
        and _UNREPORTED in message.artifact
    ]
    if saved:
        results[-1].content = "\n\n".join([*saved, results[-1].text])


def _stop_if_cancelled(config: RunnableConfig) -> None:
    cancel = config.get("configurable", {}).get(CANCEL_KEY)
    # Under LangGraph Server a client writes the configurable values: anything but the executor's
    # event is not a cancellation.
    if isinstance(cancel, threading.Event) and cancel.is_set():
        raise TurnCancelled


def _calls(message: Any) -> list[_Call]:
    if not isinstance(message, AIMessage):
        return []
    calls = [_Call(call["id"] or "", call["name"], call["args"]) for call in message.tool_calls]
    # Arguments that did not parse stay raw text, so the tool result can say the JSON was malformed.
    calls += [
        _Call(bad.get("id") or "", bad.get("name") or "", bad.get("args") or "")
        for bad in message.invalid_tool_calls
    ]
    return calls
