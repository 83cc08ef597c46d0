"""How the graph runs one tool call: under a deadline, between the developer's hooks, and with a line
drawn between the errors the model can fix and the bugs the developer must see.

``dispatch.run_tool_call`` turns every error the model can act on (bad arguments, a rejected value, a
``ToolException``, a ``ValueError``) into a tool message. Whatever else a tool, a form's hook or its
commit raises is a bug: here it is logged at ERROR with its traceback on the ``converso`` logger, and the
model gets a short neutral message, or, with ``strict``, it is raised out of the turn (tests and
``converso replay`` want to fail on it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool

from converso.form_agent.dispatch import called_tool, run_tool_call, start_tool_call
from converso.form_agent.form_tool import FormToolOutcome, TurnContext
from converso.form_agent.state import FormSnapshot

logger = logging.getLogger("converso")

# ``on_tool_start(tool=..., tool_input=...)`` and ``on_tool_end(tool=..., tool_output=...)``, as in the
# original converso: called once per tool call, forms included.
ToolStartHook = Callable[..., Any]
ToolEndHook = Callable[..., Any]


@dataclass(frozen=True)
class ToolRunner:
    """Runs the tool calls of one executor. ``timeout`` (seconds, None for none) bounds each call: the
    call runs on ``pool`` and the turn stops waiting for it when the deadline passes. A call that is
    given up on keeps running in the background (Python cannot stop a thread); its result is dropped."""

    tools: Sequence[BaseTool]
    timeout: float | None = None
    strict: bool = False
    on_tool_start: ToolStartHook | None = None
    on_tool_end: ToolEndHook | None = None
    pool: concurrent.futures.Executor | None = None

    def run(
        self,
        forms: list[FormSnapshot],
        name: str,
        arguments: Any,
        turn: TurnContext,
        config: RunnableConfig | None,
        visible_now: Sequence[BaseTool],
    ) -> FormToolOutcome:
        hooked = self._started(forms, name, arguments, turn, visible_now)
        try:
            if self.timeout is None or self.pool is None:
                outcome = run_tool_call(self.tools, forms, name, arguments, turn, config, offered=visible_now)
            else:
                call = contextvars.copy_context().run
                future = self.pool.submit(
                    call,
                    run_tool_call,
                    self.tools,
                    forms,
                    name,
                    arguments,
                    turn,
                    config,
                    offered=visible_now,
                )
                try:
                    outcome = future.result(timeout=self.timeout)
                except concurrent.futures.TimeoutError:
                    future.cancel()
                    outcome = self._timed_out(forms, name)
        except Exception as exc:
            outcome = self._bug(forms, name, turn, exc)
        self._ended(hooked, outcome, turn)
        return outcome

    async def arun(
        self,
        forms: list[FormSnapshot],
        name: str,
        arguments: Any,
        turn: TurnContext,
        config: RunnableConfig | None,
        visible_now: Sequence[BaseTool],
    ) -> FormToolOutcome:
        """``run`` for an event loop: the loop waits for the call at most ``timeout`` seconds."""
        hooked = self._started(forms, name, arguments, turn, visible_now)
        try:
            # An async tool is awaited in place, a call that may block goes to the pool, a call that only
            # touches the form stack is done before start_tool_call returns: no deadline is set up for
            # it (none could interrupt it).
            work = start_tool_call(
                self.tools, forms, name, arguments, turn, config, offered=visible_now, pool=self.pool
            )
            if isinstance(work, FormToolOutcome):
                outcome = work
            else:
                # asyncio.timeout, not wait_for: no task of its own for an async tool awaited in place.
                async with asyncio.timeout(self.timeout):
                    outcome = await work
        except TimeoutError:
            outcome = self._timed_out(forms, name)
        except Exception as exc:
            outcome = self._bug(forms, name, turn, exc)
        self._ended(hooked, outcome, turn)
        return outcome

    # -- hooks ----------------------------------------------------------------------------------------

    def _started(
        self,
        forms: list[FormSnapshot],
        name: str,
        arguments: Any,
        turn: TurnContext,
        visible_now: Sequence[BaseTool],
    ) -> BaseTool | None:
        if self.on_tool_start is None and self.on_tool_end is None:
            return None
        tool = called_tool(self.tools, forms, name, visible_now)
        if self.on_tool_start is not None:
            self._call_hook("on_tool_start", turn, self.on_tool_start, tool=tool, tool_input=arguments)
        return tool

    def _ended(self, tool: BaseTool | None, outcome: FormToolOutcome, turn: TurnContext) -> None:
        if self.on_tool_end is not None:
            self._call_hook("on_tool_end", turn, self.on_tool_end, tool=tool, tool_output=outcome.message)

    def _call_hook(
        self, hook: str, turn: TurnContext, function: Callable[..., Any], **arguments: Any
    ) -> None:
        try:
            function(**arguments)
        except Exception as exc:
            tool = arguments.get("tool")
            self.report(f"the {hook} hook", getattr(tool, "name", None) or "?", turn.thread_id, exc)

    # -- failures -------------------------------------------------------------------------------------

    def _bug(
        self, forms: list[FormSnapshot], name: str, turn: TurnContext, exc: Exception
    ) -> FormToolOutcome:
        self.report(name, name, turn.thread_id, exc)
        return FormToolOutcome(
            forms=forms,
            message=f"{name} failed because of an internal error (reported to the developers). Tell the user "
            "it cannot be done right now; calling it again will not help.",
            is_error=True,
        )

    def report(self, where: str, tool: str, thread_id: str | None, exc: Exception) -> None:
        """Log a bug at ERROR with its traceback, or raise it when strict."""
        if self.strict:
            raise exc
        logger.error(
            "%s raised %s in thread %s (tool %s)",
            where,
            type(exc).__name__,
            thread_id,
            tool,
            exc_info=exc,
            extra={"thread_id": thread_id, "tool": tool},
        )

    def _timed_out(self, forms: list[FormSnapshot], name: str) -> FormToolOutcome:
        return FormToolOutcome(
            forms=forms,
            message=f"{name} did not finish within the tool timeout of {self.timeout:g} s and was abandoned; "
            "its result is unknown. Tell the user it took too long and that they can try again.",
            is_error=True,
        )
