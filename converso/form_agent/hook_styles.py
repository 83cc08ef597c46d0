"""Which API a FormTool subclass is written against, read once per class from its method signatures.

The original converso (the seed) called ``_run_when_complete(**fields)`` and hooks that take no values
and read ``self.form`` instead; today's API passes the :class:`FormContext` positionally to the commit
and the values to the hooks. Both work: the engine asks this module how to call each method, and never
guesses per call.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class HookStyles:
    """How the engine calls one FormTool class's overridable methods."""

    # ``_run_when_complete(self, context, /, **fields)``: the context comes first, positionally.
    commit_takes_context_first: bool = True
    # The field names the commit accepts as keywords; None when it takes ``**kwargs`` (every field).
    commit_fields: frozenset[str] | None = None
    # A seed-style commit that declares a ``context`` keyword receives the FormContext through it.
    commit_takes_context_keyword: bool = False
    # ``get_next_field_to_collect(self)`` / ``is_form_filled(self)``: read ``self.form`` (seed style).
    next_field_reads_form: bool = False
    filled_reads_form: bool = False
    # ``get_tool_start_message(self, values)`` (today's style): its text is the Start call's result.
    start_message_takes_values: bool = False


@functools.cache
def hook_styles(form_class: type, base: type) -> HookStyles:
    """The styles of ``form_class``'s methods; ``base`` is FormTool, whose own methods take today's
    arguments."""
    commit = _parameters(form_class._run_when_complete)
    first = commit[0] if commit else None
    context_first = first is not None and (
        first.kind is inspect.Parameter.POSITIONAL_ONLY
        or (first.kind in _POSITIONAL and first.name == "context")
    )
    takes_all = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in commit)
    named = frozenset(
        parameter.name
        for parameter in commit
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    return HookStyles(
        commit_takes_context_first=context_first,
        commit_fields=None if takes_all else named - {"context"},
        commit_takes_context_keyword=not context_first and "context" in named,
        next_field_reads_form=_reads_form(form_class, base, "get_next_field_to_collect"),
        filled_reads_form=_reads_form(form_class, base, "is_form_filled"),
        start_message_takes_values=_takes_values(form_class, base, "get_tool_start_message"),
    )


def _parameters(method: Any) -> list[inspect.Parameter]:
    """The parameters after ``self``."""
    return list(inspect.signature(method).parameters.values())[1:]


def _overridden(form_class: type, base: type, name: str) -> bool:
    return getattr(form_class, name) is not getattr(base, name)


def _reads_form(form_class: type, base: type, name: str) -> bool:
    # Today's hooks take the values as a required first argument; the seed's take nothing required.
    if not _overridden(form_class, base, name):
        return False
    required = [
        parameter
        for parameter in _parameters(getattr(form_class, name))
        if parameter.kind in _POSITIONAL and parameter.default is inspect.Parameter.empty
    ]
    return not required


def _takes_values(form_class: type, base: type, name: str) -> bool:
    # Both styles take one argument; the seed's is the call's input (``input``), today's the values.
    if not _overridden(form_class, base, name):
        return False
    parameters = _parameters(getattr(form_class, name))
    return bool(parameters) and parameters[0].name == "values"
