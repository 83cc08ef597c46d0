"""FormAgentExecutor: the thread-level API over the form graph (send a message, get the reply)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.errors import GraphRecursionError

from converso.form_agent.checkpoint import CheckpointerSpec, open_checkpointer
from converso.form_agent.dispatch import public_form
from converso.form_agent.display import (
    HistoryEntry,
    activity_phrase,
    display_may_block,
    form_display,
    visible_history,
)
from converso.form_agent.form_tool import render_result
from converso.form_agent.graph import (
    CANCEL_KEY,
    Engine,
    ModelCallError,
    TurnBroken,
    TurnCancelled,
    build_graph,
    check_settings,
    confirmation_message,
)
from converso.form_agent.model_factory import ModelFactory
from converso.form_agent.prompts import DEFAULT_SYSTEM_PROMPT, build_system_prompt
from converso.form_agent.reply import ErrorEvent, Event, FormEvent, Reply, ReplyEvent, TokenEvent, ToolEvent
from converso.form_agent.state import FormDisplay, FormSnapshot, PublicForm
from converso.form_agent.token_tap import TOKEN_SINK_KEY
from converso.form_agent.tool_runner import ToolEndHook, ToolRunner, ToolStartHook
from converso.form_agent.toolset import with_form_reset
from converso.form_agent.turn_loop import TurnLoop, block_signals

DEFAULT_HISTORY_WINDOW = 40
DEFAULT_TOOL_TIMEOUT = 30.0

T = TypeVar("T")


class FormAgentExecutor:
    """Conversations that fill forms, one per thread id, persisted by a LangGraph checkpointer.

    A convenience over the compiled form graph (``converso.langgraph.make_graph``), which enforces every
    invariant by itself: this class adds a ``Reply`` per message, events while a turn runs, per-thread
    serialization in this process and the roll back of a failed or cancelled turn.

    ``model``: a chat model, a :class:`ModelFactory`, or a model string (see ModelFactory).
    ``checkpointer``: None (in memory), a LangGraph saver, a SQLite path / ``sqlite:///`` URL / connection,
    or a ``postgresql://`` URL / psycopg connection or pool.
    ``clock`` is "now" for prompts and FormTools; ``id_factory`` makes form ids (the commits' idempotency
    keys). Fixing both makes a replayed conversation deterministic.

    ``callbacks``: LangChain callback handlers given to every turn's run config, so they see each model
    call and each tool call (form calls included, each with its own run), with ``thread_id`` in the run
    metadata. ``executor.callbacks`` is a list: a handler appended later sees the turns after that.

    ``on_tool_start(tool=..., tool_input=...)`` and ``on_tool_end(tool=..., tool_output=...)`` are called
    once per tool call, forms included (as in the original converso): ``tool`` is the tool called (for a
    form, its copy for the conversation, with ``state`` and ``form``; None for a tool the model made up),
    ``tool_output`` the text the model receives.

    ``tool_timeout`` (seconds, None for none) bounds each tool call: a call still running then becomes an
    error tool message naming the timeout, and the turn goes on. ``format_tool_result(tool, result)``
    turns what a tool or a commit returned into the text the model reads (a subclass may override the
    method instead). ``strict`` raises a bug in a tool, a form's hook or a commit out of the turn instead
    of logging it (the errors the model can fix still go to the model).

    ``system_prompt``, given here or set as a class attribute of a subclass, replaces the base
    instructions; override ``build_system_prompt`` to change the whole prompt.

    A turn is atomic: its state is written once, when it ends (``durability="exit"``), and a turn that
    fails or is cancelled is rolled back to the checkpoint it started from. Turns of one thread are
    serialized within this process.

    Turns run on LangGraph's async path, as tasks of one event loop the executor keeps on a background
    thread: a turn waiting for the model holds no thread, and cancelling one closes its model request.
    ``astream``/``asend`` hand the events over to the caller's loop; ``send``/``stream`` (and the other
    sync methods) block the calling thread until the loop has the answer. ``max_concurrent_turns``
    bounds the turns running at once (a back-pressure limit: the others wait for a slot); None: no bound.
    Synchronous tool calls, which cannot be awaited, run on a pool of ``max_workers`` threads.
    """

    system_prompt: str = DEFAULT_SYSTEM_PROMPT

    def __init__(
        self,
        tools: Sequence[BaseTool],
        model: BaseChatModel | ModelFactory | str | None = None,
        checkpointer: CheckpointerSpec = None,
        *,
        clock: Callable[[], datetime] | None = None,
        id_factory: Callable[[], str] | None = None,
        system_prompt: str | None = None,
        history_window: int = DEFAULT_HISTORY_WINDOW,
        max_error_rounds: int = 3,
        recursion_limit: int = 50,
        max_concurrent_turns: int | None = None,
        max_workers: int = 16,
        callbacks: Sequence[BaseCallbackHandler] | None = None,
        on_tool_start: ToolStartHook | None = None,
        on_tool_end: ToolEndHook | None = None,
        tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT,
        format_tool_result: Callable[[BaseTool, Any], str] | None = None,
        strict: bool = False,
    ) -> None:
        self.tools = with_form_reset(tools)
        self.callbacks: list[BaseCallbackHandler] = list(callbacks or [])
        self.models = model if isinstance(model, ModelFactory) else ModelFactory(model)
        check_settings(
            history_window=history_window, max_error_rounds=max_error_rounds, tool_timeout=tool_timeout
        )
        if max_concurrent_turns is not None and max_concurrent_turns <= 0:
            raise ValueError(f"max_concurrent_turns must be at least 1 (or None), got {max_concurrent_turns}")
        # A wrong provider, a missing package or a missing key is reported now, not at the first message.
        self.models.check()
        if system_prompt is not None:
            self.system_prompt = system_prompt
        if format_tool_result is not None:
            self.format_tool_result = format_tool_result  # type: ignore[method-assign]
        self.strict = strict
        self._tool_pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="converso-tool", initializer=block_signals
        )
        engine = Engine(
            tools=self.tools,
            models=self.models,
            clock=clock or _utc_now,
            id_factory=id_factory or _new_id,
            system_prompt=self.build_system_prompt,
            history_window=history_window,
            max_error_rounds=max_error_rounds,
            runner=ToolRunner(
                self.tools,
                timeout=tool_timeout,
                strict=strict,
                on_tool_start=on_tool_start,
                on_tool_end=on_tool_end,
                pool=self._tool_pool,
            ),
            format_result=self.format_tool_result,
        )
        self._turns = TurnLoop()
        try:
            # Async savers belong to the loop they are made in: the turns' loop.
            self._checkpointer = self._turns.run(open_checkpointer(checkpointer))
        except BaseException:
            self._turns.close()
            raise
        self.graph = build_graph(engine, self._checkpointer.saver)
        self.recursion_limit = recursion_limit
        self.max_concurrent_turns = max_concurrent_turns
        # Used on the turns' loop only.
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}
        self._slots = asyncio.Semaphore(max_concurrent_turns) if max_concurrent_turns else None
        self._running: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- turns ----------------------------------------------------------------------------------------

    def send(self, thread_id: str, text: str) -> Reply:
        reply: Reply | None = None
        for event in self.stream(thread_id, text, tokens=False):
            if isinstance(event, ReplyEvent):
                reply = event.reply
        assert reply is not None  # every turn ends with a ReplyEvent
        return reply

    async def asend(self, thread_id: str, text: str) -> Reply:
        reply: Reply | None = None
        async for event in self._astream(thread_id, text, if_abandoned="finish", tokens=False, confirm=None):
            if isinstance(event, ReplyEvent):
                reply = event.reply
        assert reply is not None
        return reply

    def astream(
        self,
        thread_id: str,
        text: str,
        *,
        if_abandoned: Literal["finish", "undo"] = "finish",
        confirm: str | None = None,
    ) -> AsyncIterator[Event]:
        """Events of one turn as they happen: tokens, tool calls, form changes, errors, then the reply.

        ``confirm``: the name of the form a person confirmed with a button; ``text`` is the message the
        history shows for it. If that form is the active one and FILLED it is saved without a model call
        (the consent guard still applies); otherwise the message is an ordinary one.

        ``if_abandoned`` says what happens to a turn whose consumer stops before the reply (cancelled, or
        the stream closed): ``"finish"`` lets it run to its end and keeps it (a dropped client loses
        nothing); ``"undo"`` (a user pressing Ctrl-C) cancels it at once, closing a model request under
        way, and leaves the thread exactly as before it. The caller is released at once; the next turn of
        the thread waits for the undo. A synchronous tool call under way (a commit) cannot be stopped
        midway: the undo waits for it. A commit that already reached the backend stays there, and its form
        comes back FILLED with the same form id, so confirming it again returns the first result instead
        of writing twice.
        """
        return self._astream(thread_id, text, if_abandoned=if_abandoned, tokens=True, confirm=confirm)

    async def _astream(
        self,
        thread_id: str,
        text: str,
        *,
        if_abandoned: Literal["finish", "undo"],
        tokens: bool,
        confirm: str | None,
    ) -> AsyncIterator[Event]:
        consumer = asyncio.get_running_loop()
        events: asyncio.Queue[Any] = asyncio.Queue()
        on_loop = consumer is self._turns.loop

        def put(item: Any) -> None:
            if on_loop and self._turns.on_loop_thread():
                events.put_nowait(item)
                return
            # If the consumer's loop is gone the turn still completes; its events have nowhere to go.
            with contextlib.suppress(RuntimeError):
                consumer.call_soon_threadsafe(events.put_nowait, item)

        turn = _Turn(thread_id, text, put, undoable=if_abandoned == "undo", tokens=tokens, confirm=confirm)
        running = self._start(turn)
        ended = False
        try:
            while (item := await events.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                if isinstance(item, ReplyEvent):
                    turn.settle(self._turns.loop)
                yield item
            ended = True
        finally:
            if not ended:
                if turn.undoable and not turn.settled_by_consumer:
                    running.cancel()  # the turn rolls itself back; the consumer does not wait for it
                else:
                    await asyncio.shield(asyncio.wrap_future(running))

    def stream(
        self,
        thread_id: str,
        text: str,
        *,
        tokens: bool = True,
        cancel: threading.Event | None = None,
        on_token: Callable[[TokenEvent], None] | None = None,
        confirm: str | None = None,
    ) -> Iterator[Event]:
        """The synchronous event stream of one turn (it runs on the executor's loop; this thread waits).

        ``tokens=True`` yields the model's text as TokenEvents while it arrives. ``on_token`` instead
        receives those events as they arrive, on the executor's loop thread (give one or the other).

        ``cancel``, set from another thread, stops the turn within a few milliseconds (a model request
        under way is closed) and rolls it back: the stream then ends with an error and a reply saying
        nothing was kept. Set after the reply was yielded, before the consumer asks for more, it still
        undoes the turn."""
        if tokens and on_token is not None:
            raise ValueError(
                "tokens=True yields TokenEvents in the stream and on_token= receives them instead; pass one"
            )
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        turn = _Turn(
            thread_id,
            text,
            events.put,
            undoable=cancel is not None,
            tokens=tokens,
            on_token=on_token,
            cancel=cancel,
            confirm=confirm,
        )
        running = self._start(turn)
        # How often a waiting consumer looks at ``cancel``.
        poll = _CANCEL_POLL if cancel is not None else None
        ended = False
        try:
            while True:
                try:
                    item = events.get(timeout=poll)
                except queue.Empty:
                    item = None
                stopping = cancel is not None and cancel.is_set()
                if stopping:
                    running.cancel()
                if item is None or (stopping and isinstance(item, TokenEvent | ToolEvent | FormEvent)):
                    continue  # what a stopped turn did is not kept, nor shown
                if item is _END:
                    break
                if isinstance(item, _Failure):
                    raise item.error
                yield item
                if isinstance(item, ReplyEvent) and cancel is not None:
                    # The consumer asked for more: it has the reply, unless it cancelled meanwhile.
                    if cancel.is_set():
                        running.cancel()
                    else:
                        turn.settle(self._turns.loop)
            ended = True
        finally:
            if not ended:
                turn.settle(self._turns.loop)
                with contextlib.suppress(concurrent.futures.CancelledError):
                    running.result()

    def _start(self, turn: _Turn) -> concurrent.futures.Future[None] | asyncio.Task[None]:
        if self._closed:
            raise RuntimeError("this FormAgentExecutor is closed")
        if self._turns.on_loop_thread():
            return asyncio.ensure_future(self._run(turn))  # a caller on the turns' loop: no hand-over
        return self._turns.submit(self._run(turn))

    async def _run(self, turn: _Turn) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            async with self._slot(), self._lock_for(turn.thread_id):
                await self._turn(turn)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                turn.put(_Failure(exc))
            raise
        finally:
            self._running.discard(task)
            turn.put(_END)

    async def _turn(self, turn: _Turn) -> None:
        thread_id = turn.thread_id
        config = self._run_config(thread_id, turn)
        # The turn's checkpoint carries this mark, so a roll back can tell whether the turn left one.
        turn_mark = uuid.uuid4().hex
        config["metadata"] = {_TURN_MARK: turn_mark}
        # What the turn ends with, folded from the nodes' updates: a "values" stream would read every
        # channel after every step: 1.9% of a turn's instructions (bench_instructions.py).
        outcome = _TurnOutcome()
        calls: dict[str, tuple[str, Any]] = {}
        try:
            # Closed before any roll back, so the graph's own write at exit cannot come after it.
            async with contextlib.aclosing(
                self.graph.astream(
                    _turn_input(turn.text, turn.confirm), config, stream_mode="updates", durability="exit"
                )
            ) as chunks:
                async for data in chunks:
                    if turn.cancelled():
                        raise TurnCancelled
                    for node, update in (data or {}).items():
                        outcome.add(node, update)
                        if node == "agent":
                            calls.update(_tool_calls(update["messages"][-1]))
                        elif node == "tool":
                            for event in self._tool_events(update, calls):
                                turn.put(event)
            if turn.cancelled():
                raise TurnCancelled
        except (
            ModelCallError,
            GraphRecursionError,
            TurnCancelled,
            TurnBroken,
            asyncio.CancelledError,
        ) as exc:
            forms_before = await self._roll_back(thread_id, turn_mark)
            message = _failure_text(exc)
            turn.put(ErrorEvent(message))
            turn.put(
                ReplyEvent(Reply(text=message, form=public_form(self.tools, forms_before), error=message))
            )
            return
        except BaseException:
            await self._roll_back(thread_id, turn_mark)
            raise
        gave_up = outcome.gave_up
        reply = Reply(
            text=_reply_text(outcome.messages),
            form=outcome.form,
            error=outcome.last_error if gave_up else None,
        )
        if gave_up:
            turn.put(ErrorEvent(reply.text))
        turn.put(ReplyEvent(reply))
        if turn.undoable:
            # Until the consumer has the reply, the turn can still be undone (it goes away, or cancels).
            try:
                await asyncio.wait_for(turn.settled.wait(), _SETTLE_TIMEOUT)
            except TimeoutError:
                pass
            except asyncio.CancelledError:
                await self._roll_back(thread_id, turn_mark)
                return
            if turn.cancelled():
                await self._roll_back(thread_id, turn_mark)

    # -- hooks a subclass may override -----------------------------------------------------------------

    def build_system_prompt(self, forms: list[FormSnapshot], now: datetime, last_error: str | None) -> str:
        """The system prompt of one model call: ``system_prompt`` and how forms work, the same on every
        call (the clock and the form stack's state are in a note after the history, so the prompt's
        prefix stays cacheable; an override that uses them gives that up)."""
        return build_system_prompt(self.system_prompt)

    def format_tool_result(self, tool: BaseTool, result: Any) -> str:
        """The text the model reads for what ``tool`` returned (a form: what its commit returned)."""
        return render_result(result)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the turns run on. Code running there (``run_on_loop``) calls ``astream`` and the
        other async methods without handing anything to another thread."""
        return self._turns.loop

    def run_on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the turns' loop and wait for its result (from any other thread):
        ``converso serve`` runs its WebSocket server there, so each turn's events reach the connection
        without crossing threads."""
        return self._turns.run(coroutine)

    async def asettled(self, thread_id: str) -> None:
        """Return once no turn of ``thread_id`` runs or waits in this executor: an undone turn has been
        rolled back by then (a server holding a cross-process lock of the thread waits for this)."""

        async def idle() -> None:
            async with self._lock_for(thread_id):
                pass

        await self._on_loop(idle())

    # -- thread state ---------------------------------------------------------------------------------

    def get_form(self, thread_id: str) -> PublicForm | None:
        """The active form of the thread, or None."""
        return self._turns.run(self.aget_form(thread_id))

    async def aget_form(self, thread_id: str) -> PublicForm | None:
        return await self._on_loop(self._get_form(thread_id))

    async def _get_form(self, thread_id: str) -> PublicForm | None:
        state = await self.graph.aget_state(self._config(thread_id))
        return public_form(self.tools, state.values.get("forms"))

    def reset_form(self, thread_id: str) -> PublicForm | None:
        """Drop the active form without saving it (an interrupted form resumes); returns the dropped form."""
        return self._turns.run(self.areset_form(thread_id))

    async def areset_form(self, thread_id: str) -> PublicForm | None:
        return await self._on_loop(self._reset_form(thread_id))

    async def _reset_form(self, thread_id: str) -> PublicForm | None:
        config = self._config(thread_id)
        async with self._lock_for(thread_id):
            forms = (await self.graph.aget_state(config)).values.get("forms") or []
            if not forms:
                return None
            dropped = public_form(self.tools, forms)
            # As if the agent node wrote it: the graph then has nothing pending for this thread.
            remaining = forms[:-1]
            await self.graph.aupdate_state(
                config, {"forms": remaining, "form": public_form(self.tools, remaining)}, as_node="agent"
            )
            return dropped

    def messages(self, thread_id: str) -> list[AnyMessage]:
        return self._turns.run(self.amessages(thread_id))

    async def amessages(self, thread_id: str) -> list[AnyMessage]:
        return await self._on_loop(self._messages(thread_id))

    async def _messages(self, thread_id: str) -> list[AnyMessage]:
        return list((await self.graph.aget_state(self._config(thread_id))).values.get("messages", []))

    def history(self, thread_id: str, limit: int = 20) -> list[HistoryEntry]:
        """The last ``limit`` messages the person saw: what they wrote and each turn's reply."""
        return visible_history(self.messages(thread_id), limit)

    async def ahistory(self, thread_id: str, limit: int = 20) -> list[HistoryEntry]:
        return visible_history(await self.amessages(thread_id), limit)

    def form_display(self, form: PublicForm | None) -> FormDisplay | None:
        """``form`` as a person sees it: the form's title, field labels, values by name."""
        return form_display(self.tools, form)

    async def aform_display(self, form: PublicForm | None) -> FormDisplay | None:
        """``form_display`` for an event loop: on a thread when the form's hooks may block (a linked
        record's name read from a database), else in place."""
        if display_may_block(self.tools, form):
            return await asyncio.to_thread(form_display, self.tools, form)
        return form_display(self.tools, form)

    def activity(self, tool_name: str, form_name: str | None = None) -> str:
        """A short phrase for a tool call of the model, for surfaces that show activity; ``form_name``: the
        active form, which FormUpdate and FormFinalize act on."""
        return activity_phrase(self.tools, tool_name, form_name)

    def close(self) -> None:
        """Wait for the turns under way to end, then close the checkpointer and stop the loop."""
        if self._closed:
            return
        self._closed = True
        self._turns.run(self._close())
        self._turns.close()
        # A tool call abandoned at its timeout may still run: it is not waited for.
        self._tool_pool.shutdown(wait=False, cancel_futures=True)

    async def _close(self) -> None:
        while self._running:
            await asyncio.wait(list(self._running))
        await self._checkpointer.close()
        await self.models.aclose_loop()

    def __enter__(self) -> FormAgentExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------

    async def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if asyncio.get_running_loop() is self._turns.loop:
            return await coroutine
        return await asyncio.wrap_future(self._turns.submit(coroutine))

    def _config(self, thread_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id}, "recursion_limit": self.recursion_limit}

    def _run_config(self, thread_id: str, turn: _Turn) -> RunnableConfig:
        config = self._config(thread_id)
        if turn.cancel is not None:
            config["configurable"][CANCEL_KEY] = turn.cancel
        on_token = turn.on_token or (turn.put if turn.tokens else None)
        if on_token is not None:
            config["configurable"][TOKEN_SINK_KEY] = on_token
        if self.callbacks:
            config["callbacks"] = list(self.callbacks)
        return config

    def _slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._slots if self._slots is not None else contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def _lock_for(self, thread_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(thread_id, asyncio.Lock())
        self._lock_users[thread_id] = self._lock_users.get(thread_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[thread_id] -= 1
            if not self._lock_users[thread_id]:
                del self._lock_users[thread_id], self._locks[thread_id]

    async def _roll_back(self, thread_id: str, turn_mark: str) -> list[FormSnapshot] | None:
        """Undo the turn marked ``turn_mark``; returns the thread's forms as they are afterwards.

        A turn writes one checkpoint, when it ends, even when it fails or is cancelled, and that
        checkpoint's parent is the one the turn started from. Finding the start this way, rather than
        reading it before every turn, saves each turn a read of the whole state. A turn that failed before
        writing left nothing to undo."""
        latest = await self.graph.aget_state(self._config(thread_id))
        if (latest.metadata or {}).get(_TURN_MARK) != turn_mark:
            return latest.values.get("forms")
        if latest.parent_config is None:
            await self._checkpointer.saver.adelete_thread(thread_id)
            return None
        # A copy of the turn's starting checkpoint becomes the latest one.
        await self.graph.aupdate_state(latest.parent_config, None, as_node="__copy__")
        return (await self.graph.aget_state(latest.parent_config)).values.get("forms")

    def _tool_events(self, update: dict[str, Any], calls: dict[str, tuple[str, Any]]) -> Iterator[Event]:
        for message in update["messages"]:
            name, args = calls.get(message.tool_call_id, (message.name or "", None))
            yield ToolEvent(name=name, args=args, result=message.text, is_error=message.status == "error")
        yield FormEvent(update["form"])


class _TurnOutcome:
    """What a turn ends with, from its nodes' updates in order: the last message written, the public
    form and the last error as last written (the agent node writes the form as every run opens; a per-run
    field is written only when it changes, and the turn starts with none), and whether it gave up."""

    def __init__(self) -> None:
        self.messages: list[AnyMessage] = []
        self.form: PublicForm | None = None
        self.last_error: str | None = None
        self.gave_up = False

    def add(self, node: str, update: Any) -> None:
        if not isinstance(update, dict):
            return  # a node that wrote nothing, or LangGraph's own entries (an interrupt's tuple)
        if update.get("messages"):
            self.messages = update["messages"]
        if "form" in update:
            self.form = update["form"]
        if "last_error" in update:
            self.last_error = update["last_error"]
        if node == "give_up":
            self.gave_up = True


class _Turn:
    """One turn's request, and how its events reach its consumer (any thread, any loop)."""

    def __init__(
        self,
        thread_id: str,
        text: str,
        put: Callable[[Any], None],
        *,
        undoable: bool,
        tokens: bool,
        on_token: Callable[[TokenEvent], None] | None = None,
        cancel: threading.Event | None = None,
        confirm: str | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.text = text
        self.confirm = confirm
        self.put = put
        self.undoable = undoable
        self.tokens = tokens
        self.on_token = on_token
        self.cancel = cancel
        # Set on the turns' loop once the consumer has the reply.
        self.settled = asyncio.Event()
        self.settled_by_consumer = False

    def settle(self, loop: asyncio.AbstractEventLoop) -> None:
        self.settled_by_consumer = True
        if _running_loop() is loop:
            self.settled.set()
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self.settled.set)

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# The checkpoint metadata key marking the checkpoint a turn wrote (see FormAgentExecutor._roll_back).
_TURN_MARK = "converso_turn"

# How long a finished turn that may still be undone waits for its consumer to take the reply.
_SETTLE_TIMEOUT = 30.0

# How often a synchronous consumer with a ``cancel`` event looks at it while it waits for events.
_CANCEL_POLL = 0.02


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def _turn_input(text: str, confirm: str | None = None) -> dict[str, Any]:
    # Only the message: the graph counts the turn and resets the per-run fields itself.
    return {"messages": [confirmation_message(text, confirm) if confirm else HumanMessage(text)]}


def _tool_calls(message: Any) -> dict[str, tuple[str, Any]]:
    if not isinstance(message, AIMessage):
        return {}
    calls = {call["id"] or "": (call["name"], call["args"]) for call in message.tool_calls}
    calls.update(
        {bad.get("id") or "": (bad.get("name") or "", bad.get("args")) for bad in message.invalid_tool_calls}
    )
    return calls


def _reply_text(messages: list[AnyMessage]) -> str:
    last = messages[-1] if messages else None
    if isinstance(last, AIMessage | ToolMessage):
        return last.text
    return ""


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, TurnCancelled | asyncio.CancelledError):
        return "Stopped; nothing from this message was kept."
    if isinstance(exc, TurnBroken):
        return "Sorry, something went wrong on our side (it has been logged). Nothing from this message was kept."
    if isinstance(exc, GraphRecursionError):
        return "Sorry, this took too many steps and was stopped. Nothing from this message was kept."
    return f"Sorry, the language model failed ({exc}). Nothing from this message was kept; please try again."


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return uuid.uuid4().hex
