"""One bounded queue in front of the model: generations run one at a time (or `slots` at a time), in the order
they asked.

A local model serves one generation at a time; more requests wait here, first come first served. An
OpenAI-compatible server that batches (vLLM) is given `slots` > 1 (`KB_LLM__CONCURRENCY`): that many generations
reach it at once. At most
`llm.max_queue` requests may wait; one more fails at once with `LLMBusy` (HTTP 429 with `Retry-After`, estimated
from the recent generation times). A waiting request can be shown its position (`Ticket.position`,
`Ticket.wait_turn`); a consumer that goes away (the generation's iterator is closed) gives up its place, or stops
its running generation — the backend's own iterator is closed, which cancels it in the worker.

`LLMQueue` is itself an `LLM`: code that just generates uses it like the model (a place per generation). A route
that must refuse before it starts a response (SSE) reserves a `Ticket` first and generates through `ticket.llm`:
all of that request's generations (a follow-up's rewrite, then its answer) run in the one place, which holds the
model from its first generation until the route releases it (service/queued_answers.py).

Every generation passes here, so this is where an optional `QueueObserver` (the composition root's metrics) hears
the queue length and each finished generation's statistics.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from service.llm import LLM, Generation, GenerationStats, LLMBusy, LLMError, Message

# Before any generation has finished, a wait is estimated at this many seconds per request ahead.
INITIAL_ESTIMATE_S = 10.0


class QueueObserver(Protocol):
    def queue_length(self, waiting: int) -> None: ...

    def generation_finished(self, stats: GenerationStats) -> None: ...


@dataclass(frozen=True)
class QueueStatus:
    """What a chat page may show: whether the model is busy and how many requests wait."""

    running: bool
    waiting: int
    max_queue: int


class Ticket:
    """A place in the queue. Waits for its turn, then holds the model until `release`."""

    def __init__(self, queue: LLMQueue) -> None:
        self._queue = queue
        self.asking = False
        self.holding = False
        self.released = False
        self.llm: LLM = _TicketLLM(self)

    def position(self) -> int:
        """Generations before this one: 0 while it generates (or is next with the model free)."""
        return self._queue._position(self)

    def wait_turn(self, heartbeat_s: float = 1.0) -> Iterator[int]:
        """Wait until this ticket holds the model; yields the position when it changes and every `heartbeat_s`
        while waiting (so a caller can report progress or notice that its client left)."""
        yield from self._queue._wait_turn(self, heartbeat_s)

    def release(self) -> None:
        """Give up the place or the model (idempotent)."""
        self._queue._release(self)


class LLMQueue:
    """An `LLM` that lets `slots` generations at a time reach `inner` (one by default), the others wait in
    order (bounded)."""

    def __init__(
        self,
        inner: LLM,
        *,
        max_queue: int,
        owned: bool = True,
        observer: QueueObserver | None = None,
        slots: int = 1,
    ) -> None:
        if slots < 1:
            raise ValueError("an LLM queue needs at least one slot")
        self.slots = slots
        self.inner = inner
        self.observer = observer
        self.name = inner.name
        self.max_queue = max_queue
        self._owned = owned
        self._cond = threading.Condition()
        self._waiting: deque[Ticket] = deque()
        self._running: dict[Ticket, float] = {}  # ticket → when it got the model (monotonic)
        self._mean_s = INITIAL_ESTIMATE_S
        self._finished = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def generate(
        self, messages: Sequence[Message], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        stats = GenerationStats()

        def run() -> Iterator[str]:
            # The place is taken when the generation is first iterated, so an unused one leaks nothing.
            ticket = self.reserve()
            yield from _generate_holding(ticket, messages, schema, max_tokens, stats)

        return Generation(run(), stats)

    def reserve(self) -> Ticket:
        """A place at the end of the queue; `LLMBusy` when `max_queue` requests already wait."""
        with self._cond:
            if len(self._waiting) >= self.max_queue and (self._full() or self._waiting):
                raise LLMBusy(
                    f"the language model is busy: {len(self._waiting)} requests are waiting; try again later",
                    retry_after_s=self._retry_after_s(),
                )
            ticket = Ticket(self)
            self._waiting.append(ticket)
            self._observe_length()
            return ticket

    def status(self) -> QueueStatus:
        with self._cond:
            return QueueStatus(bool(self._running), len(self._waiting), self.max_queue)

    def close(self) -> None:
        """Close the model if this queue owns it (the composition root's shutdown)."""
        close = getattr(self.inner, "close", None)
        if self._owned and callable(close):
            close()

    # -- used by Ticket ---------------------------------------------------------------------------------
    def _position(self, ticket: Ticket) -> int:
        with self._cond:
            if ticket in self._running or ticket.released:
                return 0
            ahead = self._waiting.index(ticket) if ticket in self._waiting else 0
            return ahead + (1 if self._full() else 0)

    def _wait_turn(self, ticket: Ticket, heartbeat_s: float) -> Iterator[int]:
        with self._cond:
            if ticket.released:
                raise LLMError("this place in the model's queue was already given up")
            if ticket.holding:
                return
            ticket.asking = True
        last: int | None = None
        while True:
            with self._cond:
                if self._take(ticket):
                    return
                position = self._position(ticket)
                if position == last:
                    self._cond.wait(heartbeat_s)
                    if self._take(ticket):
                        return
                    position = self._position(ticket)
            last = position
            # Yielded outside the lock: the consumer may take its time (send an SSE event).
            yield position

    def _take(self, ticket: Ticket) -> bool:
        """Give the model to `ticket` if it is free and no ticket that asked earlier waits. Lock held.

        A ticket reserved but not yet asking (its request still retrieves) does not hold up later ones."""
        if self._full():
            return False
        first = next((t for t in self._waiting if t.asking), None)
        if first is not ticket:
            return False
        self._waiting.remove(ticket)
        self._observe_length()
        self._running[ticket] = time.monotonic()
        ticket.holding = True
        return True

    def _full(self) -> bool:
        """Every slot holds a generation. Lock held."""
        return len(self._running) >= self.slots

    def _release(self, ticket: Ticket) -> None:
        with self._cond:
            if ticket.released:
                return
            ticket.released = True
            if ticket in self._running:
                elapsed = time.monotonic() - self._running.pop(ticket)
                self._finished += 1
                # A running mean over the last ~10 generations.
                weight = max(1.0 / self._finished, 0.1)
                self._mean_s = (1 - weight) * self._mean_s + weight * elapsed
            elif ticket in self._waiting:
                self._waiting.remove(ticket)
                self._observe_length()
            ticket.holding = False
            self._cond.notify_all()

    def _observe_length(self) -> None:
        """Lock held."""
        if self.observer is not None:
            self.observer.queue_length(len(self._waiting))

    def _generation_finished(self, stats: GenerationStats) -> None:
        if self.observer is not None:
            self.observer.generation_finished(stats)

    def _retry_after_s(self) -> int:
        ahead = len(self._waiting) + (1 if self._full() else 0)
        return max(1, math.ceil(self._mean_s * ahead / self.slots))


class _TicketLLM:
    """The model as seen by one ticket: its generation runs in the ticket's place."""

    def __init__(self, ticket: Ticket) -> None:
        self._ticket = ticket
        self.name = ticket._queue.name

    def count_tokens(self, text: str) -> int:
        return self._ticket._queue.count_tokens(text)

    def generate(
        self, messages: Sequence[Message], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        stats = GenerationStats()
        deltas = _generate_holding(self._ticket, messages, schema, max_tokens, stats, release=False)
        return Generation(deltas, stats)


def _generate_holding(
    ticket: Ticket,
    messages: Sequence[Message],
    schema: dict[str, Any] | None,
    max_tokens: int,
    stats: GenerationStats,
    *,
    release: bool = True,
) -> Iterator[str]:
    """Wait for the ticket's turn, stream the inner generation; release the place whatever happens — or, with
    `release=False`, leave that to the ticket's owner (it may generate again in the same place)."""
    try:
        for _ in ticket.wait_turn():
            pass
        inner = ticket._queue.inner.generate(messages, schema=schema, max_tokens=max_tokens)
        deltas = iter(inner)
        try:
            for delta in deltas:
                yield delta
                _copy_stats(inner.stats, stats)
        finally:
            close = getattr(deltas, "close", None)
            if callable(close):
                close()  # stops the backend's generation when our consumer went away
            _copy_stats(inner.stats, stats)
            ticket._queue._generation_finished(stats)
    finally:
        if release:
            ticket.release()


def _copy_stats(source: GenerationStats, target: GenerationStats) -> None:
    target.prompt_tokens = source.prompt_tokens
    target.completion_tokens = source.completion_tokens
    target.first_token_s = source.first_token_s
    target.total_s = source.total_s
    target.finish_reason = source.finish_reason
