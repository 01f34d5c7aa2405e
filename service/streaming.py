"""Server-sent events from blocking generators, closed when the client goes away.

Starlette iterates a blocking generator in a worker thread and, when the client disconnects, leaves closing it to
the garbage collector — so a generation would run on for nobody and keep the model. `closing_stream` closes it
as soon as the response ends, for whatever reason; the generator's `finally` then stops its generation and
frees its place in the model's queue.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Generator
from typing import Any

import anyio
from starlette.concurrency import iterate_in_threadpool


def sse_event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def closing_stream(events: Generator[str, None, None]) -> AsyncIterator[str]:
    try:
        async for chunk in iterate_in_threadpool(events):
            yield chunk
    finally:
        # Shielded: on a disconnect this runs inside a cancelled scope.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(events.close)
