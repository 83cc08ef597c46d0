"""Admission limits of the chat server: message rates per key, per connection and per thread, and
concurrent connections.

A public widget shares one key among all its visitors, so the per-key rate is the whole site's budget;
the per-connection and per-thread rates keep one busy visitor from spending it for everyone."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_frame_bytes: int = 16_384
    messages_per_minute: int = 30
    """Per client key (the whole site, for a widget sharing one key)."""
    messages_per_minute_per_connection: int = 10
    messages_per_minute_per_thread: int = 10
    max_connections: int = 1_000
    max_connections_per_key: int = 200
    auth_timeout: float = 10.0


class RateLimiter:
    """A sliding one-minute window of accepted messages per key (per server process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._accepted: dict[str, deque[float]] = {}

    def admit(self, key: str) -> float:
        """0.0 when the message is admitted (and counted), else the seconds until it would be."""
        wait = self.wait(key)
        if not wait:
            self.count(key)
        return wait

    def wait(self, key: str) -> float:
        """The seconds until a message under ``key`` would be admitted (0.0: now); counts nothing."""
        now = self._clock()
        window = self._accepted.get(key)
        if window is None:
            return 0.0
        while window and window[0] <= now - 60.0:
            window.popleft()
        if not window:
            del self._accepted[key]
            return 0.0
        if len(window) >= self._per_minute:
            return max(0.001, window[0] + 60.0 - now)
        return 0.0

    def count(self, key: str) -> None:
        self._accepted.setdefault(key, deque()).append(self._clock())

    def forget(self, key: str) -> None:
        """Drop a key's window (a closed connection will not send again)."""
        self._accepted.pop(key, None)


def retry_after_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


class ConnectionCounter:
    """Open connections in total and per key, for the concurrent-connection limits."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self.total = 0
        self._per_key: dict[str, int] = {}

    def try_open(self) -> bool:
        if self.total >= self._limits.max_connections:
            return False
        self.total += 1
        return True

    def close(self) -> None:
        self.total -= 1

    def try_bind_key(self, owner: str) -> bool:
        if self._per_key.get(owner, 0) >= self._limits.max_connections_per_key:
            return False
        self._per_key[owner] = self._per_key.get(owner, 0) + 1
        return True

    def unbind_key(self, owner: str) -> None:
        self._per_key[owner] -= 1
        if not self._per_key[owner]:
            del self._per_key[owner]
