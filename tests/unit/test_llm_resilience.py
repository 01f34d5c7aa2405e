"""Retry policy and circuit breaker of the remote model server, driven by a fake clock (no sleeping)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from service.llm_resilience import CircuitBreaker, GiveUp, RetryPolicy, ServerFailure, stream_with_retries


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


class Server:
    """A scripted remote edge: each attempt either fails (before or after some items) or streams items."""

    def __init__(self, *script: str) -> None:
        # "down": fails before any item; "ok": streams a, b, c; "cut": streams a, then fails; "bad": a 4xx.
        self.script = list(script)
        self.attempts = 0

    def attempt(self) -> Iterator[str]:
        step = self.script[min(self.attempts, len(self.script) - 1)]
        self.attempts += 1
        if step == "down":
            raise ServerFailure("connection refused")
        if step == "bad":
            raise ValueError("400 bad request")
        yield "a"
        if step == "cut":
            raise ServerFailure("connection reset")
        yield "b"
        yield "c"


def _run(
    server: Server, breaker: CircuitBreaker, clock: FakeClock, policy: RetryPolicy | None = None
) -> list[str]:
    out: list[str] = []
    for item in stream_with_retries(
        server.attempt, policy=policy or RetryPolicy(2, 0.5, 4.0), breaker=breaker, clock=clock
    ):
        out.append(item)
    return out


def _breaker(clock: FakeClock, failures: int = 3, open_s: float = 30.0) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, open_s=open_s, clock=clock)


def test_backoff_doubles_up_to_the_cap_and_ends_after_the_retries() -> None:
    policy = RetryPolicy(retries=4, backoff_s=0.5, max_backoff_s=1.5)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 1.5, 1.5, None]
    assert RetryPolicy(retries=0).delay(1) is None


def test_failures_before_the_first_item_are_retried_with_backoff_and_then_answered() -> None:
    clock = FakeClock()
    server = Server("down", "down", "ok")
    assert _run(server, _breaker(clock), clock) == ["a", "b", "c"]
    assert server.attempts == 3 and clock.slept == [0.5, 1.0]


def test_retries_used_up_give_up_with_a_retry_after() -> None:
    clock = FakeClock()
    server = Server("down")
    with pytest.raises(GiveUp) as caught:
        _run(server, _breaker(clock, failures=10), clock)
    assert caught.value.reason == "retries_exhausted" and caught.value.attempts == 3
    assert server.attempts == 3 and caught.value.retry_after_s == 4  # the longest backoff, rounded up


def test_a_stream_cut_after_the_first_item_is_never_retried() -> None:
    clock = FakeClock()
    server = Server("cut", "ok")
    out: list[str] = []
    with pytest.raises(GiveUp) as caught:
        for item in stream_with_retries(
            server.attempt, policy=RetryPolicy(5, 0.5, 4.0), breaker=_breaker(clock), clock=clock
        ):
            out.append(item)
    assert caught.value.reason == "stream_broken"
    assert out == ["a"] and server.attempts == 1 and clock.slept == []


def test_an_answer_that_is_not_a_server_failure_passes_through_unretried() -> None:
    clock = FakeClock()
    server = Server("bad")
    breaker = _breaker(clock, failures=1)
    with pytest.raises(ValueError, match="400"):
        _run(server, breaker, clock)
    assert server.attempts == 1 and breaker.state == "closed"


def test_the_breaker_opens_after_n_consecutive_failures_and_then_fails_fast_without_calling() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, failures=3, open_s=30.0)
    server = Server("down")
    no_retry = RetryPolicy(retries=0)
    for _ in range(3):
        with pytest.raises(GiveUp) as caught:
            _run(server, breaker, clock, no_retry)
        assert caught.value.reason == "retries_exhausted"
    assert breaker.state == "open" and server.attempts == 3
    clock.t += 10
    with pytest.raises(GiveUp) as caught:
        _run(server, breaker, clock, no_retry)
    assert caught.value.reason == "circuit_open" and caught.value.retry_after_s == 20
    assert server.attempts == 3  # the server was not touched


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, failures=2)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open"


def test_retrying_stops_as_soon_as_the_breaker_opens() -> None:
    clock = FakeClock()
    server = Server("down")
    with pytest.raises(GiveUp) as caught:
        _run(server, _breaker(clock, failures=2), clock, RetryPolicy(retries=5))
    assert caught.value.reason == "circuit_open" and server.attempts == 2 and clock.slept == [0.5]


def test_after_the_open_period_one_probe_goes_through_and_its_success_closes_the_breaker() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, failures=1, open_s=30.0)
    breaker.record_failure()
    assert not breaker.allow()
    clock.t += 30
    assert breaker.allow()  # the probe
    assert breaker.state == "half_open"
    assert not breaker.allow()  # others still fail fast while the probe runs
    server = Server("ok")
    breaker.record_success()
    assert breaker.state == "closed" and _run(server, breaker, clock) == ["a", "b", "c"]


def test_a_failed_probe_keeps_the_breaker_open_for_another_period() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, failures=1, open_s=30.0)
    breaker.record_failure()
    clock.t += 31
    server = Server("down", "ok")
    with pytest.raises(GiveUp) as caught:
        _run(server, breaker, clock)
    assert caught.value.reason == "circuit_open" and server.attempts == 1  # probe failed, no retry
    assert breaker.state == "open" and breaker.retry_after_s() == 30
    clock.t += 30
    assert _run(server, breaker, clock) == ["a", "b", "c"] and breaker.state == "closed"


def test_a_probe_whose_caller_went_away_does_not_block_the_breaker() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, failures=1, open_s=30.0)
    breaker.record_failure()
    clock.t += 30
    gate: Callable[[], Iterator[str]] = Server("ok").attempt
    abandoned = stream_with_retries(gate, policy=RetryPolicy(), breaker=breaker, clock=clock)
    assert next(abandoned) == "a"  # the first item closed the breaker already
    abandoned.close()
    assert breaker.state == "closed"
    breaker.record_failure()  # open again; a probe that never reached the server…
    clock.t += 30
    assert breaker.allow()
    clock.t += 30  # …is followed by the next one a period later
    assert breaker.allow()
