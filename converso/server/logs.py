"""Server logs through the standard ``logging`` module: one line per event, as text or as JSON.

Records carry their fields in ``extra`` (``event``, ``thread_id``, ``duration_ms``, ...), so a JSON line is
searchable by field. Message text and keys are never logged at INFO: a turn is logged by its thread, its
outcome and its duration.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, as_json: bool = False) -> None:
    """Send the server's logs (and warnings of the libraries) to stderr, one line per record."""
    if level.upper() not in LEVELS:
        raise ValueError(f"log level {level!r}; accepted: {', '.join(LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if as_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # Ours at the chosen level; the libraries' chatter (websockets logs every handshake) only from WARNING.
    logging.getLogger("converso").setLevel(level.upper())
