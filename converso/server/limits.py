"""Admission limits of the chat server: message rates per key, per connection and per thread, and
concurrent connections.

A public widget shares one key among all its visitors, so the per-key rate is the whole site's budget;
the per-connection and per-thread rates keep one busy visitor from spending it for everyone."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    max_frame_bytes: int = 16_384
    messages_per_minute: int = 30
    """Per client key (the whole site, for a widget sharing one key)."""
    messages_per_minute_per_connection: int = 10
    messages_per_minute_per_thread: int = 10
    max_connections: int = 1_000
    max_connections_per_key: int = 200
    auth_timeout: float = 3.0
    """Seconds a new connection has to send its auth frame (a browser sends it at once)."""
    max_unauthenticated: int = 32
    """Connections still waiting to authenticate, within ``max_connections``."""


class RateLimiter:
    """A sliding one-minute window of accepted messages per key (per server process)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._accepted: dict[str, deque[float]] = {}
        self._next_purge = clock() + 60.0

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
        now = self._clock()
        self._accepted.setdefault(key, deque()).append(now)
        if now >= self._next_purge:
            # Keys seen once (a visitor's thread, a closed connection) must not stay forever: once a
            # minute, drop the windows whose newest message is older than the window.
            self._accepted = {k: w for k, w in self._accepted.items() if w and w[-1] > now - 60.0}
            self._next_purge = now + 60.0

    def __len__(self) -> int:
        """How many keys have a window (for tests of the purge)."""
        return len(self._accepted)

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


class WaitingRoom:
    """Connections that have not authenticated yet, oldest first, with a quota of their own.

    Idle sockets cost an attacker nothing, so they must not hold the slots clients need: when a
    newcomer finds no room, the connection that has waited longest gives up its place.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._waiting: OrderedDict[int, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    @property
    def full(self) -> bool:
        return len(self._waiting) >= self.capacity

    def enter(self, key: int, connection: Any) -> None:
        self._waiting[key] = connection

    def leave(self, key: int) -> bool:
        """False when the connection had been evicted meanwhile (its slot went to a newcomer)."""
        return self._waiting.pop(key, None) is not None

    def evict_oldest(self) -> Any:
        """The connection that waited longest, now out of the room; None when the room is empty."""
        if not self._waiting:
            return None
        return self._waiting.popitem(last=False)[1]
