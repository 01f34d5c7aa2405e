"""Answers whose generations wait in the model's queue, with `queue` events while they wait.

The streaming routes (`/v1/answers`, `/v1/chat/answers`, `/v1/chat/completions`) share this one mechanism:
`open_queued` reserves a place before the response begins (a full queue is a 429 `llm_busy` with `Retry-After`,
not a broken stream), the answer's generations run in that place (`Ticket.llm`), and `queued` puts `queue`
events (data: the position) into the event stream while the request waits for the model — at once when the
first step needs the model (a follow-up's rewrite), else after the `sources` event that offers passages (the
sources are on the page before the wait). The place is given up with `done` (the model's part is over), or when
the stream ends for any other reason: the client went away, an error, or a response never started.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator

from service.answering import AnswerEvent
from service.llm import LLM
from service.llm_queue import LLMQueue, Ticket

QUEUE_EVENT = "queue"


def open_queued(
    queue: LLMQueue, start: Callable[[LLM], Iterator[AnswerEvent]], *, wait_first: bool = False
) -> Iterator[AnswerEvent]:
    """Reserve a place (`LLMBusy` when the queue is full) and the events of `start(model)` generated in it."""
    ticket = queue.reserve()
    try:
        events = start(ticket.llm)
    except BaseException:
        ticket.release()
        raise
    stream = queued(events, ticket, wait_first=wait_first)
    # A stream that never starts (the client left at once) never runs its `finally`: free the place then.
    weakref.finalize(stream, ticket.release)
    return stream


def queued(
    events: Iterator[AnswerEvent], ticket: Ticket, *, wait_first: bool = False
) -> Iterator[AnswerEvent]:
    try:
        if wait_first:
            yield from _wait(ticket)
        for event in events:
            if event.kind == "done":
                ticket.release()
            yield event
            if event.kind == "sources" and event.data:
                yield from _wait(ticket)
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()
        ticket.release()


def _wait(ticket: Ticket) -> Iterator[AnswerEvent]:
    for position in ticket.wait_turn():
        yield AnswerEvent(QUEUE_EVENT, position)
