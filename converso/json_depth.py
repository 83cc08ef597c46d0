"""JSON read with a bound on how deep it nests, for frames that come from the network.

A 5,000-deep array fits in a 10 kB frame. Parsed, it is a recursion bomb for whatever walks it
next: the parser itself, validation, the ``repr`` in an error message. Both WebSocket servers
refuse such frames as invalid JSON instead, and keep the connection.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 32
"""How deeply a frame's arrays and objects may nest; every frame of both protocols needs 3 or fewer."""


class JsonTooDeepError(ValueError):
    """The text is JSON (or might be) but nests deeper than allowed."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"arrays and objects nest deeper than {max_depth} levels")
        self.max_depth = max_depth


def loads_bounded(raw: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(raw)``, refusing JSON nested deeper than ``max_depth`` with ``JsonTooDeepError``
    (syntax errors stay ``json.JSONDecodeError``)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeepError(max_depth) from None
    check_depth(raw, value, max_depth)
    return value


def check_depth(raw: str, value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``JsonTooDeepError`` when ``value`` (parsed from ``raw``) nests deeper than ``max_depth``."""
    # The opening brackets bound the depth from above (strings may hold some too), and counting them
    # runs at C speed: almost every frame stops here.
    if raw.count("[") + raw.count("{") <= max_depth or not isinstance(value, dict | list):
        return
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > max_depth:
            raise JsonTooDeepError(max_depth)
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
