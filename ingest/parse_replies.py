"""The parse worker's messages to the parent, validated on arrival.

The worker parses hostile files, so the parent treats what it sends as untrusted input: plain JSON, checked
against these models (strict types, no unknown message keys) before anything is built from it. A frame that
is not JSON or does not match raises `InvalidReply`. Imported by the parent only: the worker process writes
its JSON without pydantic.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ingest.domain import ParsedDocument


class InvalidReply(Exception):
    """A frame from the worker that is not a valid message."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Ready(_Message):
    """Once, after start: the worker is listening."""

    type: Literal["ready"]
    pid: int


class Ack(_Message):
    """As soon as a request has been read: what follows concerns this file."""

    type: Literal["ack"]


class Parsed(_Message):
    type: Literal["ok"]
    document: ParsedDocument


class Failed(_Message):
    """A typed error of `ingest.errors`, by class name; the parent names the file itself."""

    type: Literal["error"]
    error: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    message: str = Field(max_length=4000)


Reply = Ready | Ack | Parsed | Failed
_REPLY: TypeAdapter[Reply] = TypeAdapter(Annotated[Reply, Field(discriminator="type")])


def decode_reply(frame: bytes) -> Reply:
    try:
        return _REPLY.validate_json(frame, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[:1]
        where = ".".join(str(part) for part in first[0]["loc"]) if first else ""
        reason = first[0]["msg"] if first else "invalid"
        raise InvalidReply(f"{reason} at {where or 'the top level'}") from None
