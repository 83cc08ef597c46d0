"""The FormTool state machine: INACTIVE → ACTIVE → FILLED → committed, as plain Python.

Nothing here calls a model, a graph or a database. Each transition takes the conversation's form
stack (a list of :class:`FormSnapshot`), the call's arguments and a :class:`TurnContext`, and returns a
:class:`FormToolOutcome` holding the new stack and the text the model receives as the tool result.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError, create_model
from pydantic_core import to_jsonable_python

from converso.form_agent.hook_styles import hook_styles
from converso.form_agent.state import (
    FieldDisplay,
    FormDisplay,
    FormSnapshot,
    FormToolState,
    PublicForm,
    active_form,
    new_snapshot,
)
from converso.form_agent.tool_schema import CompactTool
from converso.form_agent.validation import merge_and_validate, missing_required

# What a tool, a commit or a hook raises to tell the model that a value or a request was wrong: the model
# gets the message and can act on it. ``ToolException`` is LangChain's (a CRM rejection is one), a
# ``ValueError`` is what validators raise. Any other exception is a bug, for the developer to see.
MODEL_FIXABLE_ERRORS: tuple[type[Exception], ...] = (ToolException, ValueError)

# The tools that act on whichever form is active. Every form shares them, so the tool list the model is
# offered stays the same in every state of every conversation, and a provider can cache the prompt's prefix.
FORM_UPDATE = "FormUpdate"
FORM_FINALIZE = "FormFinalize"


class FormFieldError(ValueError):
    """Raised by ``resolve_field`` / ``prepare_values`` to reject one field's value with a message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TurnContext:
    """What the engine knows about the current call: the user turn number, the clock, the thread."""

    number: int = 1
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    thread_id: str | None = None
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    # How a result becomes the text the model reads (FormAgentExecutor's format_tool_result).
    format_result: Callable[[BaseTool, Any], str] | None = None

    def render(self, tool: BaseTool, result: Any) -> str:
        return self.format_result(tool, result) if self.format_result is not None else _render(result)


@dataclass(frozen=True)
class FormContext:
    """Given to a FormTool's hooks, its schema validators (as pydantic's validation ``context``) and its
    commit. ``form_id`` is stable for the life of the form and is the commit's idempotency key;
    ``values`` are the form's values before the current call."""

    form_id: str
    now: datetime
    values: Mapping[str, Any] = field(default_factory=dict)
    thread_id: str | None = None


@dataclass
class FormToolOutcome:
    """The result of one tool call against the form stack."""

    forms: list[FormSnapshot]
    message: str
    is_error: bool = False
    # The tool the next model call must use (after Start: the form's Update).
    force_tool: str | None = None
    # The active form left the stack (committed or reset): an interrupted form may resume.
    popped: bool = False
    committed: bool = False
    result: Any = None
    return_direct: bool = False


class _AnyFields(BaseModel):
    # The Start tool takes the values the user already gave, by field name; its description names the
    # fields and validation runs on the form's own schema, as for an Update.
    model_config = ConfigDict(extra="allow")


class _FinalizeArguments(BaseModel):
    # Undescribed: the prompt says when to send true, and false (reopen the form) is rarely needed now
    # that a FILLED form takes Update calls; every description here is paid on each call at FILLED.
    confirm: bool


class _SeedStyleFields(type(StructuredTool)):  # type: ignore[misc]
    """Lets a subclass override an inherited field without a type annotation (``name = "CreateUser"``), as
    FormTools of the original converso do: pydantic 2 refuses that, pydantic 1 under LangChain did not.
    The override gets the inherited field's annotation."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> type:
        annotations = namespace.setdefault("__annotations__", {})
        inherited: dict[str, Any] = {}
        for base in reversed(bases):
            inherited.update(getattr(base, "model_fields", {}))
        for key, value in namespace.items():
            if key in inherited and key not in annotations and not _is_method_like(value):
                annotations[key] = inherited[key].annotation
        return super().__new__(mcs, name, bases, namespace, **kwargs)


def _is_method_like(value: Any) -> bool:
    return callable(value) or isinstance(value, property | classmethod | staticmethod)


class FormTool(StructuredTool, metaclass=_SeedStyleFields):
    """A form: a pydantic ``args_schema`` whose fields are collected over a conversation, then committed.

    Subclass it and declare ``name``, ``description``, ``args_schema`` (fields with defaults are optional)
    and ``_run_when_complete``::

        class CreateCompany(FormTool):
            name: str = "CreateCompany"
            description: str = "Create a company in the CRM"
            args_schema: type[BaseModel] = CompanyFields

            def _run_when_complete(self, context: FormContext, /, **fields: Any) -> str:
                return backend.create(fields, idempotency_key=context.form_id)

    The commit receives the :class:`FormContext` positionally (so it never collides with a field name)
    and the validated fields as keyword arguments (python values: dates as ``date`` objects). Stored
    values are JSON-safe; an explicit ``null`` in an Update call clears a field (a required one becomes
    missing again). A retried commit gets the same ``context.form_id``, so
    a backend that stores it can return the first result instead of writing twice.

    The original converso's ``def _run_when_complete(self, **kwargs)`` works as well: it receives the
    fields only, runs on the conversation's copy of the tool (``self.form`` holds the values), and gets
    the FormContext too if it declares a ``context`` keyword. Each class's style is read once from its
    signatures (see ``hook_styles``).

    A commit or hook that raises ``ToolException`` or ``ValueError`` tells the model what was wrong;
    any other exception is a bug, which FormAgentExecutor logs with its traceback (or raises, if strict).

    Hooks a subclass may override:

    - ``resolve_field(name, value, context)``: turn one given value into the stored one (a company name
      into its id, "next friday" into a date against ``context.now``); raise ``FormFieldError`` or
      ``ValueError`` to reject it.
    - ``prepare_values(changes, context)``: transform all fields given in one Update call together;
      raise ``FormFieldError(field, message)`` to reject one of them (the hook then runs again without it).
    - ``summary(values)``: the text shown to the user at FILLED (e.g. old → new for an update form).
    - ``get_next_field_to_collect(values)``, ``is_form_filled(values)``; or, as in the original converso,
      ``get_next_field_to_collect()`` and ``is_form_filled()`` reading ``self.form``.
    - ``get_tool_start_message(input)``: the line to show a person when a call of this form starts (an
      ``on_tool_start`` hook calls it with the call's arguments; ``self.state`` and ``self.form`` are the
      conversation's). Overridden as ``get_tool_start_message(values)``, its text is the Start result.
    - ``variant_description(state)``, ``variant_schema(state)``: the description and the arguments the
      model sees for the form's Start, Update or Finalize tool (shown as compact JSON schemas; validation
      always uses ``args_schema``).
    - ``hooks_may_block()``: whether the hooks that run while the form is filled in (``resolve_field``,
      ``prepare_values``, ``summary``, the display of its values) may wait on I/O, such as a lookup in a
      database. True unless a form says otherwise; see the method.
    - ``skip_confirm``: commit in the Update call that fills the form, with no summary and no
      confirmation (for forms that need no consent, such as a search form).
    - ``summary_is_reply``: the summary the Update that fills the form produces is the turn's reply as it
      is; the model is not called again in that turn.
    - ``return_direct``: the result of a confirmed commit is the turn's reply as it is, unless a paused
      form resumes (then the model is called, to pick that form up).

    The instance is a stateless definition shared by all conversations; each conversation's progress is a
    :class:`FormSnapshot` in the graph state. ``form`` and ``state`` are set only on the per-conversation
    copies the engine makes for seed-style methods and hooks (``for_conversation``).
    """

    description: str = ""
    skip_confirm: bool = False
    summary_is_reply: bool = False
    # The conversation's values as an ``args_schema`` instance (unset fields None), on a copy only.
    form: Any = Field(default=None, exclude=True)
    state: FormToolState | None = Field(default=None, exclude=True)
    _variants: dict[str, BaseTool] = PrivateAttr(default_factory=dict)

    # -- names the model sees -------------------------------------------------------------------------

    @property
    def start_name(self) -> str:
        return f"{self.name}Start"

    @property
    def update_name(self) -> str:
        """The tool that sets this form's fields while it is active (shared by all forms)."""
        return FORM_UPDATE

    @property
    def finalize_name(self) -> str:
        """The tool that saves this form once the user agreed (shared by all forms)."""
        return FORM_FINALIZE

    @property
    def schema(self) -> type[BaseModel]:
        if not (isinstance(self.args_schema, type) and issubclass(self.args_schema, BaseModel)):
            raise TypeError(f"{type(self).__name__}.args_schema must be a pydantic model class")
        return self.args_schema

    # -- hooks ----------------------------------------------------------------------------------------

    def resolve_field(self, name: str, value: Any, context: FormContext) -> Any:
        """Turn a value given by the model into the value to validate and store. Default: unchanged."""
        return value

    def prepare_values(self, changes: dict[str, Any], context: FormContext) -> dict[str, Any]:
        """Transform the fields of one Update call (after ``resolve_field``). Default: unchanged."""
        return changes

    def missing_fields(self, values: Mapping[str, Any]) -> list[str]:
        return missing_required(self.schema, dict(values))

    def get_next_field_to_collect(self, values: Mapping[str, Any] | None = None, **_: Any) -> str | None:
        """The field to ask for next, or None. Called without values (seed style), it reads ``self.form``."""
        missing = self.missing_fields(self._values_or_form(values))
        return missing[0] if missing else None

    def is_form_filled(self, values: Mapping[str, Any] | None = None) -> bool:
        """Whether the form can be summarised. Called without values (seed style), it reads ``self.form``."""
        return self.next_field(self._values_or_form(values)) is None

    def describe_field(self, name: str) -> str:
        info = self.schema.model_fields[name]
        return info.description or info.title or name.replace("_", " ")

    def summary(self, values: Mapping[str, Any]) -> str:
        lines = [f"{self.name}:"]
        for name in self.schema.model_fields:
            if name in values:
                lines.append(f"- {name}: {_render(values[name])}")
        return "\n".join(lines)

    def get_tool_start_message(self, input: Any = None) -> str:
        """What to show a person when a call of this form starts, by the conversation's ``self.state``."""
        if self.state is FormToolState.FILLED:
            return f"Completed {self.name}"
        if self.state is FormToolState.ACTIVE:
            return f"Updating form for {self.name}"
        return f"Starting {self.name}"

    def _run_when_complete(self, context: FormContext, /, **fields: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must implement _run_when_complete(**fields) or "
            "_run_when_complete(context, /, **fields)"
        )

    # -- the hooks as the engine calls them, whichever style the subclass uses ---------------------------

    def next_field(self, values: Mapping[str, Any]) -> str | None:
        if hook_styles(type(self), FormTool).next_field_reads_form:
            return self.for_conversation(values, FormToolState.ACTIVE).get_next_field_to_collect()
        return self.get_next_field_to_collect(values)

    def is_complete(self, values: Mapping[str, Any]) -> bool:
        if hook_styles(type(self), FormTool).filled_reads_form:
            return self.for_conversation(values, FormToolState.ACTIVE).is_form_filled()
        return self.is_form_filled(values)

    def start_message(self, values: Mapping[str, Any]) -> str:
        """The Start call's result: what the model is told to do next."""
        if hook_styles(type(self), FormTool).start_message_takes_values:
            return self.get_tool_start_message(values)
        return (
            f"Started form {self.name}. Call {self.update_name} with every field value the user already "
            f"gave. {self._next_field_hint(values)}"
        )

    def commit(self, context: FormContext, fields: dict[str, Any]) -> Any:
        """Call ``_run_when_complete`` in the subclass's style."""
        style = hook_styles(type(self), FormTool)
        if style.commit_takes_context_first:
            return self._run_when_complete(context, **fields)
        given = (
            fields
            if style.commit_fields is None
            else {name: value for name, value in fields.items() if name in style.commit_fields}
        )
        if style.commit_takes_context_keyword and "context" not in given:
            given = {**given, "context": context}
        copy = self.for_conversation(context.values, FormToolState.FILLED)
        return copy._run_when_complete(**given)

    def for_conversation(self, values: Mapping[str, Any] | None, state: FormToolState) -> FormTool:
        """A copy of this definition for one conversation: ``form`` holds ``values`` as an ``args_schema``
        instance (None when the form is not started), ``state`` the form's state."""
        form = None if values is None else self.form_model(values)
        return self.model_copy(update={"form": form, "state": state})

    def form_model(self, values: Mapping[str, Any]) -> BaseModel:
        """``values`` as an ``args_schema`` instance, unset fields None, not validated as a whole (the
        form may be incomplete): each value is converted to its field's python type (dates, enums)."""
        adapters = _field_adapters(self.schema)
        typed: dict[str, Any] = dict.fromkeys(self.schema.model_fields)
        for name, value in values.items():
            if name in adapters:
                try:
                    typed[name] = adapters[name].validate_python(value)
                except ValidationError:
                    typed[name] = value
        return self.schema.model_construct(**typed)

    def _values_or_form(self, values: Mapping[str, Any] | None) -> Mapping[str, Any]:
        if values is not None:
            return values
        if self.form is None:
            return {}
        return self.form.model_dump(mode="json", exclude_none=True)

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"{self.name} is a form: it is driven by FormAgentExecutor through {self.start_name}, "
            f"{self.update_name} and {self.finalize_name}, not invoked directly"
        )

    # -- transitions ----------------------------------------------------------------------------------

    def start(self, forms: list[FormSnapshot], turn: TurnContext) -> FormToolOutcome:
        if any(snapshot["name"] == self.name for snapshot in forms):
            return FormToolOutcome(
                forms=forms,
                message=f"{self.name} is already open. Finish or reset it before starting it again.",
                is_error=True,
            )
        snapshot = new_snapshot(turn.new_id(), self.name)
        stack = [*forms, snapshot]
        message = self.start_message(snapshot["values"])
        if forms:
            message = f"{forms[-1]['name']} is paused and resumes after {self.name}. {message}"
        return FormToolOutcome(forms=stack, message=message, force_tool=self.update_name)

    def update(self, forms: list[FormSnapshot], arguments: Any, turn: TurnContext) -> FormToolOutcome:
        """Merge and validate fields, in ACTIVE or FILLED (a change after the summary). The form is FILLED
        afterwards only if it is complete with nothing rejected, and then its summary is new: a commit
        needs a user message after it."""
        snapshot = self._own_active(forms, FormToolState.ACTIVE, FormToolState.FILLED)
        if not isinstance(arguments, dict):
            return self._refuse(forms, f"Arguments of {self.update_name} must be a JSON object of fields.")
        context = self.context_for(snapshot, turn)
        fields = self.schema.model_fields
        changes: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, value in arguments.items():
            if name not in fields:
                errors[name] = f"unknown field; accepted fields: {', '.join(fields)}"
            elif value is None:
                changes[name] = None
            else:
                try:
                    changes[name] = self.resolve_field(name, value, context)
                except ValueError as exc:
                    errors[name] = exc.message if isinstance(exc, FormFieldError) else str(exc)
        changes = self._prepared(changes, errors, context)
        result = merge_and_validate(self.schema, snapshot["values"], changes, errors, context)
        updated = FormSnapshot(
            **{
                **snapshot,
                "values": result.values,
                "errors": result.errors,
                "state": FormToolState.ACTIVE.value,
                "summary_turn": None,
            }
        )
        complete = result.model is not None and self.is_complete(result.values)
        parts = []
        if result.accepted:
            parts.append(f"Stored: {', '.join(result.accepted)}.")
        if result.errors:
            rejected = "; ".join(f"{name}: {message}" for name, message in result.errors.items())
            parts.append(f"Rejected (previous value kept): {rejected}. Ask the user for a valid value.")
        if result.errors and complete:
            # A summary now would silently leave out what the user asked for; it comes once they fixed
            # the value or chose to go without it.
            parts.append(
                f"Nothing required is missing; once the user has given a valid value or dropped the field, call "
                f"{self.update_name} again (with no arguments to go without it)."
            )
        elif complete:
            updated["state"] = FormToolState.FILLED.value
            updated["summary_turn"] = turn.number
            if self.skip_confirm:
                # As in the original converso: a form that needs no consent commits as soon as it is filled.
                return self._commit([*forms[:-1], updated], updated, turn)
            if self.summary_is_reply:
                return FormToolOutcome(
                    forms=[*forms[:-1], updated], message=self.summary(result.values), return_direct=True
                )
            parts.append(
                f"All required fields are filled. Show the user this summary and ask them to confirm; "
                f"call {self.finalize_name} only after they answer.\n{self.summary(result.values)}"
            )
        else:
            parts.append(self._next_field_hint(result.values))
        return FormToolOutcome(
            forms=[*forms[:-1], updated], message=" ".join(parts), is_error=bool(result.errors)
        )

    def finalize(self, forms: list[FormSnapshot], arguments: Any, turn: TurnContext) -> FormToolOutcome:
        snapshot = self._own_active(forms, FormToolState.FILLED)
        confirm = arguments.get("confirm") if isinstance(arguments, dict) else None
        if not isinstance(confirm, bool):
            return self._refuse(
                forms, f'{self.finalize_name} needs {{"confirm": true}} or {{"confirm": false}}.'
            )
        if not confirm:
            reopened = FormSnapshot(**{**snapshot, "state": FormToolState.ACTIVE.value, "summary_turn": None})
            return FormToolOutcome(
                forms=[*forms[:-1], reopened],
                message=f"{self.name} is open for changes. Ask the user what to change, then call {self.update_name}.",
            )
        summary_turn = snapshot["summary_turn"]
        if not self.skip_confirm and summary_turn is not None and turn.number <= summary_turn:
            return self._refuse(
                forms,
                f"Not saved: the user has not answered the summary yet. Show the summary, ask the user to "
                f"confirm, and call {self.finalize_name} with confirm=true only after they agree.",
            )
        return self._commit(forms, snapshot, turn)

    def _commit(
        self, forms: list[FormSnapshot], snapshot: FormSnapshot, turn: TurnContext
    ) -> FormToolOutcome:
        """Run the commit of ``snapshot`` (the top of ``forms``). An error the model can fix keeps the form
        as it was; any other exception propagates: it is a bug, not something to tell the model."""
        context = self.context_for(snapshot, turn)
        model = self.schema.model_validate(snapshot["values"], context=context)
        fields = {name: getattr(model, name) for name in self.schema.model_fields}
        try:
            result = self.commit(context, fields)
        except MODEL_FIXABLE_ERRORS as exc:
            return self._refuse(
                forms,
                f"{self.name} was not saved: {exc}. The form keeps its values; tell the user, and to change "
                f"a value call {self.update_name}.",
            )
        # A paused form that resumes needs the model, so the turn cannot end on the result.
        direct = self.return_direct and not forms[:-1]
        rendered = turn.render(self, result)
        return FormToolOutcome(
            forms=forms[:-1],
            message=rendered if direct else f"{self.name} saved. Result: {rendered}",
            popped=True,
            committed=True,
            result=result,
            return_direct=direct,
        )

    def _prepared(
        self, changes: dict[str, Any], errors: dict[str, str], context: FormContext
    ) -> dict[str, Any]:
        # A rejected field is dropped and the hook runs again, so the other fields still get prepared.
        while True:
            try:
                return self.prepare_values(dict(changes), context)
            except FormFieldError as exc:
                errors[exc.field] = exc.message
                if exc.field not in changes:
                    return {}
                del changes[exc.field]

    # -- views ----------------------------------------------------------------------------------------

    def context_for(self, snapshot: FormSnapshot, turn: TurnContext) -> FormContext:
        return FormContext(
            form_id=snapshot["form_id"],
            now=turn.now,
            values=dict(snapshot["values"]),
            thread_id=turn.thread_id,
        )

    def public_view(self, snapshot: FormSnapshot) -> PublicForm:
        values = dict(snapshot["values"])
        return PublicForm(
            name=self.name, state=snapshot["state"], values=values, missing=self.missing_fields(values)
        )

    # -- what a person sees (chat page, widget): labels from the declarations --------------------------

    def display_title(self) -> str:
        """The form's name for a person; default: its description ("Create a company")."""
        return self.description or self.name

    def field_label(self, name: str) -> str:
        """A field's label: its ``title``, else its name in words ("first_name" becomes "First name")."""
        info = self.schema.model_fields[name]
        return info.title or name.replace("_", " ").strip().capitalize()

    def display_value(self, name: str, value: Any) -> str:
        """A stored value as a person reads it (a subclass shows a linked record by its name)."""
        return _render(value)

    def display_view(self, form: PublicForm) -> FormDisplay:
        values, missing = form["values"], set(form["missing"])
        fields: list[FieldDisplay] = []
        for name, info in self.schema.model_fields.items():
            if name not in values and name not in missing:
                continue
            label = self.field_label(name)
            hint = info.description if info.description and info.description != label else None
            value = values.get(name)
            fields.append(
                FieldDisplay(
                    name=name,
                    label=label,
                    hint=hint,
                    value=None if value is None else self.display_value(name, value),
                    required=info.is_required(),
                )
            )
        return FormDisplay(
            name=self.name,
            title=self.display_title(),
            state=form["state"],
            fields=fields,
            next=form["missing"][0] if form["missing"] else None,
            can_confirm=form["state"] == FormToolState.FILLED.value,
        )

    def variant(self, state: FormToolState) -> BaseTool:
        """The tool the model sees for this form in ``state`` (built once per FormTool)."""
        if state.value not in self._variants:
            self._variants[state.value] = self._build_variant(state)
        return self._variants[state.value]

    def hooks_may_block(self) -> bool:
        """Whether the hooks that run while this form is filled in (``resolve_field``, ``prepare_values``,
        ``summary``, ``display_view``) may wait on I/O: a record looked up by name, a remote check. On an
        event loop, an Update of such a form, and the display of its values, run on a thread, so a slow
        lookup never stalls the other conversations; that is the default, as the engine cannot tell what a
        hook does. A form whose hooks only compute (validation, parsing, formatting) returns False: they
        then run in place on the loop, without the hand-over to a thread and back, which costs more than
        they do. (Every Finalize, and an Update that commits with ``skip_confirm``, run on a thread.)"""
        return True

    def update_fields(self) -> dict[str, Any]:
        """The fields the model may give this form's Update, as the compact JSON schema properties of
        ``variant_schema(ACTIVE)``: shown in the state note while the form is active."""
        return self.variant(FormToolState.ACTIVE).tool_call_schema.get("properties", {})

    def update_fields_json(self) -> str:
        """``update_fields()`` as the JSON text the state note shows, made once: the note is built for
        every model call while a form is active, and the schema never changes."""
        return self._update_fields_text

    # Kept in the instance's __dict__ (a copy made for a conversation keeps it): a private attribute
    # would be read through pydantic's __getattr__, a third of the note's cost.
    @functools.cached_property
    def _update_fields_text(self) -> str:
        return json.dumps(self.update_fields(), ensure_ascii=False)

    def variant_description(self, state: FormToolState) -> str:
        """The description of the tool the model sees for this form in ``state``."""
        if state is FormToolState.INACTIVE:
            return f"Start the form: {self.description}"
        if state is FormToolState.ACTIVE:
            return f"Set one or more fields of {self.name} (null clears an optional field)."
        return "Save the form once the user agreed to its summary (confirm=false reopens it)."

    def variant_schema(self, state: FormToolState) -> type[BaseModel]:
        """The arguments of the tool the model sees in ``state``: none to start, every field as optional
        to update, ``confirm`` to finalize. The engine shows it as a compact JSON schema."""
        if state is FormToolState.INACTIVE:
            return _AnyFields
        if state is FormToolState.ACTIVE:
            return self._partial_schema()
        return _FinalizeArguments

    def _build_variant(self, state: FormToolState) -> BaseTool:
        name = {
            FormToolState.INACTIVE: self.start_name,
            FormToolState.ACTIVE: self.update_name,
            FormToolState.FILLED: self.finalize_name,
        }[state]
        description = self.variant_description(state)
        schema = self.variant_schema(state)
        if state is FormToolState.INACTIVE and schema is _AnyFields:
            description = f"{description} Optional arguments: {', '.join(self.update_fields())}."
        return CompactTool(name=name, description=description, args_schema=schema, func=_not_executable)

    def _partial_schema(self) -> type[BaseModel]:
        # Only the model sees this schema; validation always uses the full args_schema.
        fields: dict[str, Any] = {
            name: (info.annotation | None, Field(default=None, description=info.description))
            for name, info in self.schema.model_fields.items()
        }
        return create_model(self.update_name, **fields)

    def _next_field_hint(self, values: Mapping[str, Any]) -> str:
        next_field = self.next_field(values)
        if next_field is None:
            return f"Nothing required is missing; call {self.update_name} to finish."
        return f"Next field to ask the user: {next_field} ({self.describe_field(next_field)})."

    def _own_active(self, forms: list[FormSnapshot], *states: FormToolState) -> FormSnapshot:
        snapshot = active_form(forms)
        if snapshot is None or snapshot["name"] != self.name or snapshot["state"] not in states:
            wanted = " or ".join(state.value for state in states)
            raise FormStateError(f"{self.name} is not the active form in state {wanted}")
        return snapshot

    def _refuse(self, forms: list[FormSnapshot], message: str) -> FormToolOutcome:
        return FormToolOutcome(forms=forms, message=message, is_error=True)


class FormStateError(RuntimeError):
    """A transition was asked for a form that is not in the state it needs (a bug in the caller)."""


def find_form(tools: Sequence[BaseTool], name: str) -> FormTool:
    for tool in tools:
        if isinstance(tool, FormTool) and tool.name == name:
            return tool
    raise LookupError(f"the conversation has an open form {name!r} but no FormTool of that name was given")


def _not_executable(**_: Any) -> Any:
    raise RuntimeError("form tool variants describe the schema the model sees; FormAgentExecutor runs them")


def render_result(value: Any) -> str:
    """A tool's or a commit's result as text for the model: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(to_jsonable_python(value), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


_render = render_result


@functools.cache
def _field_adapters(schema: type[BaseModel]) -> dict[str, TypeAdapter[Any]]:
    # Built once per schema: a TypeAdapter compiles a validator.
    return {name: TypeAdapter(info.annotation) for name, info in schema.model_fields.items()}
