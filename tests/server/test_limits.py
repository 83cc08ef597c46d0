"""Admission limits: the per-key message window and the connection counters."""

from __future__ import annotations

from converso.server.limits import ConnectionCounter, Limits, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_messages_within_the_per_minute_budget_are_admitted() -> None:
    limiter = RateLimiter(3, clock=FakeClock())
    assert [limiter.admit("k") for _ in range(3)] == [0.0, 0.0, 0.0]


def test_the_message_over_budget_is_told_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock)
    limiter.admit("k")
    clock.now += 20
    limiter.admit("k")
    clock.now += 10
    assert limiter.admit("k") == 30.0


def test_the_window_slides_so_old_messages_stop_counting() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock)
    limiter.admit("k")
    clock.now += 60
    assert limiter.admit("k") == 0.0


def test_keys_have_separate_budgets() -> None:
    limiter = RateLimiter(1, clock=FakeClock())
    limiter.admit("a")
    assert limiter.admit("b") == 0.0


def test_a_refused_message_does_not_use_up_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock)
    limiter.admit("k")
    for _ in range(5):
        limiter.admit("k")
    clock.now += 60
    assert limiter.admit("k") == 0.0


def test_connections_beyond_the_total_are_refused_until_one_closes() -> None:
    counter = ConnectionCounter(Limits(max_connections=2))
    assert [counter.try_open(), counter.try_open(), counter.try_open()] == [True, True, False]
    counter.close()
    assert counter.try_open()


def test_connections_per_key_are_limited_separately() -> None:
    counter = ConnectionCounter(Limits(max_connections_per_key=1))
    assert counter.try_bind_key("a")
    assert not counter.try_bind_key("a")
    assert counter.try_bind_key("b")
    counter.unbind_key("a")
    assert counter.try_bind_key("a")


def test_windows_of_keys_that_went_quiet_are_dropped() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock)
    for key in ("thread-1", "thread-2", "thread-3"):
        limiter.admit(key)
    assert len(limiter) == 3
    clock.now += 61
    limiter.admit("thread-4")
    assert len(limiter) == 1
    assert limiter.admit("thread-1") == 0.0
