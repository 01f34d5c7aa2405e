"""Retries and a circuit breaker for a remote model server, independent of HTTP.

A streamed generation may be retried only while nothing of it has reached the caller: once a token is out, a
second attempt would repeat or contradict it. So `stream_with_retries` retries an attempt that fails with
`ServerFailure` (the server refused, answered 5xx or 429, or was silent too long) before its first item, with
exponential backoff, and turns a failure after the first item into `GiveUp("stream_broken")`.

The `CircuitBreaker` counts consecutive failed attempts. After `failures` of them it opens: calls fail at once
(`GiveUp("circuit_open")`) without touching the server, so a dead server costs the users no waiting and the server
no stampede when it comes back. Every `open_s` seconds one call is let through as a probe (half-open); its
success closes the breaker, its failure keeps it open for another `open_s`. A probe whose caller went away never
blocks the breaker: the next probe is due `open_s` later anyway.

The clock is injected (`Clock`), so the policy is tested with a fake clock and without sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

T = TypeVar("T")

GiveUpReason = Literal["circuit_open", "retries_exhausted", "stream_broken"]


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ServerFailure(Exception):
    """An attempt failed in a way another attempt may fix: no connection, 5xx, 429, a timeout, a cut stream.

    The message is for the server log only (it may name the host)."""


class GiveUp(Exception):
    """No (more) attempts: the caller should be told to come back after `retry_after_s`."""

    def __init__(self, reason: GiveUpReason, *, retry_after_s: int, attempts: int) -> None:
        super().__init__(reason)
        self.reason: GiveUpReason = reason
        self.retry_after_s = retry_after_s
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` more attempts after the first, waiting `backoff_s`, then twice as long each time, at most
    `max_backoff_s`."""

    retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 4.0

    def delay(self, failed_attempts: int) -> float | None:
        """Seconds to wait after `failed_attempts` failures (1 = the first attempt failed); None: give up."""
        if failed_attempts > self.retries:
            return None
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (failed_attempts - 1)))


class CircuitBreaker:
    """Closed → (after `failures` consecutive failures) open → (every `open_s`) one probe → closed again."""

    def __init__(self, *, failures: int, open_s: float, clock: Clock) -> None:
        if failures < 1:
            raise ValueError("a circuit breaker needs at least one failure to open")
        self.failures = failures
        self.open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probe_at: float | None = None  # when the last probe was let through (half-open)

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probe_at is not None and self._clock.now() < self._probe_at + self.open_s:
                return "half_open"
            return "open"

    def allow(self) -> bool:
        """May a call go to the server now? While open: once per `open_s` (the probe), else no."""
        with self._lock:
            if self._opened_at is None:
                return True
            now = self._clock.now()
            last = self._probe_at if self._probe_at is not None else self._opened_at
            if now >= last + self.open_s:
                self._probe_at = now
                return True
            return False

    def record_success(self) -> None:
        """The server answered: close."""
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._probe_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            now = self._clock.now()
            if self._opened_at is not None:
                # A failed probe (or a failure that was already under way): wait a whole period again.
                self._opened_at, self._probe_at = now, None
            elif self._consecutive >= self.failures:
                self._opened_at = now

    def retry_after_s(self) -> int:
        """Seconds until the next call may reach the server (at least 1)."""
        with self._lock:
            if self._opened_at is None:
                return 1
            last = self._probe_at if self._probe_at is not None else self._opened_at
            return max(1, math.ceil(last + self.open_s - self._clock.now()))


def stream_with_retries(
    attempt: Callable[[], Iterator[T]],
    *,
    policy: RetryPolicy,
    breaker: CircuitBreaker,
    clock: Clock,
    on_failure: Callable[[int, ServerFailure], None] | None = None,
) -> Iterator[T]:
    """The items of `attempt()`, retried on `ServerFailure` as long as no item has been yielded.

    Raises `GiveUp` when the breaker is open, the retries are used up, or the stream broke after its first
    item; any other exception of `attempt` passes through (and counts as an answer of the server)."""
    failed = 0
    while True:
        if not breaker.allow():
            raise GiveUp("circuit_open", retry_after_s=breaker.retry_after_s(), attempts=failed)
        delivered = False
        try:
            for item in attempt():
                if not delivered:
                    delivered = True
                    breaker.record_success()
                yield item
        except ServerFailure as exc:
            failed += 1
            breaker.record_failure()
            if on_failure is not None:
                on_failure(failed, exc)
            if delivered:
                raise GiveUp("stream_broken", retry_after_s=breaker.retry_after_s(), attempts=failed) from exc
            delay = policy.delay(failed)
            if delay is None:
                retry_after = max(breaker.retry_after_s(), math.ceil(policy.max_backoff_s))
                raise GiveUp("retries_exhausted", retry_after_s=retry_after, attempts=failed) from exc
            if breaker.state != "closed":
                raise GiveUp("circuit_open", retry_after_s=breaker.retry_after_s(), attempts=failed) from exc
            clock.sleep(delay)
            continue
        except GeneratorExit:
            raise  # the caller went away: neither a success nor a failure of the server
        except Exception:
            if not delivered:
                breaker.record_success()  # the server answered, just not usefully (4xx, bad stream)
            raise
        if not delivered:
            breaker.record_success()
        return
