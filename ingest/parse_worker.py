"""Parsing in a separate worker process, with a time limit and a memory cap.

pypdf has no timeout: a damaged or hostile PDF can make it loop for minutes or take all memory, which would hang a
whole ingest batch or an upload. So files are parsed by a child process (`python -m ingest.parse_worker`) that the
parent can kill. When no reply comes within the time limit the worker is killed and the file fails with
`ParseTimeout`; a worker that runs into its memory cap fails the file with `ParseMemoryLimit`, one that dies while
parsing — or sends anything but a valid reply — with `ParseCrashed`. The next file gets a fresh worker, the batch
goes on.

An `IsolatedParser` owns one worker and reuses it: starting Python and importing pypdf per file would cost more
than most parses. The composition root builds it (`service.app.build_services`, or an `IngestPipeline` that was
given none), a lock serialises concurrent callers (API uploads), and `close()` stops the worker at shutdown.

Protocol: frames of an 8-byte big-endian length and a body, over the child's stdin and stdout. Bodies are UTF-8
JSON, except the file's bytes, which follow their request as a raw frame:
    child → parent, once after start:  {"type": "ready", "pid": n}
    parent → child, per file:           {"filename": str, "max_bytes": n, "ocr": bool, "ocr_language": str},
                                        then the file's bytes
    child → parent, per file:           {"type": "ack"} as soon as the request is read, then
                                        {"type": "ok", "document": <ParsedDocument as JSON>} or
                                        {"type": "error", "error": <error class name>, "message": str}
The parent never unpickles or evaluates what the child sends (the child parses hostile files and may be
compromised): replies are plain data, validated on arrival (`ingest.parse_replies`); a reply that does not
validate fails the file with `ParseCrashed`. `ParsedDocument` is written field by field (`dataclasses.asdict`)
and read back by its type annotations, so a new field crosses without protocol changes.
The child writes nothing else to stdout: its file descriptor 1 points at stderr, the protocol uses a private copy.
Typed errors (`ingest.errors`) are rebuilt in the parent by class name, so their code and message are exactly
those of in-process parsing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from ingest import errors
from ingest.child_process import ask_to_end, describe_exit, kill_and_reap
from ingest.domain import ParsedDocument
from ingest.errors import (
    CorruptDocument,
    IngestError,
    KBError,
    ParseCrashed,
    ParseMemoryLimit,
    ParseTimeout,
)
from ingest.ocr import OcrOptions
from ingest.parsers import parse_bytes

if TYPE_CHECKING:  # pydantic is not needed in the worker process
    from ingest.config import IngestSettings
    from ingest.parse_replies import Reply

__all__ = ["IsolatedParser", "ParseWorker", "parse_document"]

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 60.0
# A reply larger than this is not a parse result of any file we accept: the worker is treated as broken.
MAX_REPLY_BYTES = 1 << 30
_HEADER = struct.Struct(">Q")
_READ_SIZE = 1 << 20
# The directory that holds the `ingest` package: the child must import this very package, also when the parent
# found it through a sys.path entry added by hand.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_HINT = "the file may be damaged or built to exhaust the parser"
WORKER_COMMAND = (sys.executable, "-m", "ingest.parse_worker")

Message = dict[str, Any]


def parse_document(
    data: bytes, filename: str, settings: IngestSettings, parser: IsolatedParser
) -> ParsedDocument:
    """Parse a file's bytes as `settings` say: in `parser`'s worker process with limits, or in process without."""
    if not settings.parse_isolation:
        return parse_bytes(data, filename, max_bytes=settings.max_file_bytes, ocr=settings.ocr_options())
    return parser.parse(
        data,
        filename,
        max_bytes=settings.max_file_bytes,
        timeout_s=settings.parse_timeout_s,
        memory_mib=settings.parse_memory_mib,
        ocr=settings.ocr_options(),
    )


class IsolatedParser:
    """`ingest.parsers.parse_bytes` in a worker process this object owns: started on first use, replaced after a
    crash, a timeout or the memory limit, stopped by `close()`. Thread-safe (one file at a time).

    `command` starts the worker (default: `python -m ingest.parse_worker`); `--memory-mib N` is appended."""

    def __init__(self, command: Sequence[str] = WORKER_COMMAND) -> None:
        self._command = tuple(command)
        self._lock = threading.Lock()
        self._worker: ParseWorker | None = None
        self._closed = False

    def parse(
        self,
        data: bytes,
        filename: str,
        *,
        max_bytes: int,
        timeout_s: float,
        memory_mib: int,
        ocr: OcrOptions | None = None,
    ) -> ParsedDocument:
        """Raises the typed errors of in-process parsing, and `ParseTimeout`, `ParseMemoryLimit` or
        `ParseCrashed` (all naming `filename`) when the limits are hit or the worker fails."""
        with self._lock:
            for attempt in (1, 2):
                worker = self._usable_worker(memory_mib, filename)
                try:
                    return worker.parse(data, filename, max_bytes, timeout_s, ocr or OcrOptions())
                except _WorkerGone:
                    # It died before it read this file (killed while idle, say): not the file's fault, try a new one.
                    if attempt == 2:
                        raise ParseCrashed(
                            "the parse worker ended before it could read the file", path=filename
                        ) from None
                finally:
                    if not worker.alive:
                        self._worker = None
        raise AssertionError("unreachable")

    def _usable_worker(self, memory_mib: int, filename: str) -> ParseWorker:
        if self._closed:
            raise ParseCrashed("the parse worker has been stopped (shutting down)", path=filename)
        worker = self._worker
        if worker is not None and not worker.owned:
            worker = None  # inherited through fork: the parent process still uses it
        if worker is not None and not worker.usable(memory_mib):
            worker.close()
            worker = None
        if worker is None:
            worker = ParseWorker(memory_mib, filename, command=self._command)
        self._worker = worker
        return worker

    @property
    def pid(self) -> int | None:
        """Process id of the worker, None when none runs (for diagnostics and tests)."""
        with self._lock:
            worker = self._worker
            return worker.pid if worker is not None and worker.alive else None

    def close(self) -> None:
        """Stop the worker; later parses fail with `ParseCrashed`."""
        # Do not wait for a long parse: after 5 s the worker is stopped under the parsing thread's feet (that
        # file then fails with `ParseCrashed`).
        locked = self._lock.acquire(timeout=5)
        try:
            self._closed = True
            if self._worker is not None and self._worker.owned:
                self._worker.close()
            self._worker = None
        finally:
            if locked:
                self._lock.release()

    def __enter__(self) -> IsolatedParser:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _WorkerGone(Exception):
    """The worker ended before it acknowledged the request."""


class _Closed(Exception):
    """End of file or broken pipe on the worker's stdout or stdin."""


class _Expired(Exception):
    """The deadline passed before the exchange finished."""


class _Invalid(Exception):
    """The worker sent something that is not a valid message at this point."""


class ParseWorker:
    """One worker process and its pipes. Not thread-safe: `IsolatedParser` serialises access."""

    def __init__(
        self, memory_mib: int, filename: str = "", *, command: Sequence[str] = WORKER_COMMAND
    ) -> None:
        from ingest.parse_replies import Ready

        self.memory_mib = memory_mib
        self._owner = os.getpid()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_PACKAGE_ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        )
        self._proc = subprocess.Popen(
            [*command, "--memory-mib", str(memory_mib)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            # `-m` puts the working directory first on the child's sys.path: make that the package root too.
            cwd=_PACKAGE_ROOT,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        self._stdout: IO[bytes] = self._proc.stdout
        os.set_blocking(self._stdin.fileno(), False)
        self._readable = selectors.DefaultSelector()
        self._readable.register(self._stdout, selectors.EVENT_READ)
        self._writable = selectors.DefaultSelector()
        self._writable.register(self._stdin, selectors.EVENT_WRITE)
        self._buffer = bytearray()
        try:
            ready = self._receive(time.monotonic() + STARTUP_TIMEOUT_S)
        except (_Closed, _Expired):
            status = self.kill()
            raise ParseCrashed(
                f"the parse worker did not start ({describe_exit(status)}); see its output in the log",
                path=filename,
            ) from None
        except _Invalid as exc:
            self.kill()
            raise ParseCrashed(
                f"the parse worker did not start (invalid greeting: {exc})", path=filename
            ) from None
        if not isinstance(ready, Ready):
            self.kill()
            raise ParseCrashed("the parse worker did not start (unexpected greeting)", path=filename)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def owned(self) -> bool:
        """Started by this process, not inherited through fork."""
        return self._owner == os.getpid()

    def usable(self, memory_mib: int) -> bool:
        """Alive and with the requested memory cap."""
        return self.memory_mib == memory_mib and self.alive

    def parse(
        self, data: bytes, filename: str, max_bytes: int, timeout_s: float, ocr: OcrOptions | None = None
    ) -> ParsedDocument:
        from ingest.parse_replies import Ack

        deadline = time.monotonic() + timeout_s
        ocr = ocr or OcrOptions()
        request = json.dumps(
            {"filename": filename, "max_bytes": max_bytes, "ocr": ocr.enabled, "ocr_language": ocr.language}
        ).encode()
        try:
            self._send([request, data], deadline)
            ack = self._receive(deadline)
        except _Closed:
            self.kill()
            raise _WorkerGone from None
        except _Expired:
            self.kill()
            raise _timeout(timeout_s, filename) from None
        except _Invalid as exc:
            raise self._invalid(str(exc), filename) from None
        if not isinstance(ack, Ack):
            raise self._invalid(f"{ack.type!r} instead of an acknowledgement", filename)
        try:
            reply = self._receive(deadline)
        except _Expired:
            self.kill()
            raise _timeout(timeout_s, filename) from None
        except _Closed:
            status = self.kill()
            raise ParseCrashed(
                f"the parse worker ended while parsing ({describe_exit(status)}); {_HINT}", path=filename
            ) from None
        except _Invalid as exc:
            raise self._invalid(str(exc), filename) from None
        return self._result(reply, filename)

    def close(self) -> None:
        """Ask the worker to end (end of input), kill it if it does not."""
        ask_to_end(self._proc, self._stdin, grace_s=2)
        self.kill()

    def kill(self) -> int | None:
        """Kill the worker, reap it and close the pipes; its exit status."""
        status = kill_and_reap(self._proc, (self._stdin, self._stdout))
        for selector in (self._readable, self._writable):
            selector.close()
        return status

    def _invalid(self, reason: str, filename: str) -> ParseCrashed:
        self.kill()
        return ParseCrashed(f"the parse worker sent an invalid reply ({reason}); {_HINT}", path=filename)

    def _result(self, reply: Reply, filename: str) -> ParsedDocument:
        from ingest.parse_replies import Failed, Parsed

        if isinstance(reply, Parsed):
            return reply.document
        if isinstance(reply, Failed):
            if reply.error == ParseMemoryLimit.__name__:
                self.close()  # the worker ends itself after this reply; its heap may be in a bad state
            raise _error_class(reply.error)(reply.message, path=filename)
        raise self._invalid(f"{reply.type!r} instead of a result", filename)

    def _send(self, frames: Sequence[bytes], deadline: float) -> None:
        fd = self._stdin.fileno()
        for frame in frames:
            for part in (_HEADER.pack(len(frame)), frame):
                view = memoryview(part)
                while view:
                    if not self._writable.select(_remaining(deadline)):
                        continue
                    try:
                        written = os.write(fd, view)
                    except BlockingIOError:
                        continue
                    except OSError as exc:  # BrokenPipeError: the worker is gone
                        raise _Closed from exc
                    view = view[written:]

    def _receive(self, deadline: float) -> Reply:
        from ingest.parse_replies import InvalidReply, decode_reply

        fd = self._stdout.fileno()
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if size > MAX_REPLY_BYTES:
                    raise _Invalid(f"a frame of {size} bytes")
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    frame = bytes(self._buffer[_HEADER.size : end])
                    del self._buffer[:end]
                    try:
                        return decode_reply(frame)
                    except InvalidReply as exc:
                        raise _Invalid(str(exc)) from None
            if not self._readable.select(_remaining(deadline)):
                continue
            chunk = os.read(fd, _READ_SIZE)
            if not chunk:
                raise _Closed
            self._buffer += chunk


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Expired
    return remaining


def _timeout(timeout_s: float, filename: str) -> ParseTimeout:
    return ParseTimeout(f"parsing did not finish within {timeout_s:g} s; {_HINT}", path=filename)


def _error_class(name: str) -> type[IngestError]:
    """The error class the worker named; only a file's errors (`IngestError`) can come from parsing."""
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, IngestError):
        return found
    return IngestError


# -- the worker process -------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.parse_worker", description="Parse files sent on stdin."
    )
    parser.add_argument("--memory-mib", type=int, default=0, help="address-space cap in MiB (0 = none)")
    args = parser.parse_args(argv)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    # Stray output of a library must not corrupt the protocol: stdout goes to stderr, stdin is empty.
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr
    # Ctrl+C in a terminal reaches the whole process group: the parent decides when the worker ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="parse worker: %(levelname)s %(name)s: %(message)s")
    _cap_memory(args.memory_mib)
    _write_frame(replies, _encode({"type": "ready", "pid": os.getpid()}))
    while True:
        try:
            header = _read_frame(requests)
            if header is None:
                return 0
            request = json.loads(header)
            filename, max_bytes = str(request["filename"]), int(request["max_bytes"])
            ocr = OcrOptions(bool(request.get("ocr", True)), str(request.get("ocr_language", "deu")))
            data = _read_frame(requests)
            if data is None:
                return 0
        except MemoryError:  # the file alone does not fit under the cap; the parent names it
            _write_frame(replies, _encode({"type": "ack"}))
            _write_frame(replies, _encode(_memory_reply(args.memory_mib)))
            return 0
        _write_frame(replies, _encode({"type": "ack"}))
        reply, fatal = _parse_reply(data, filename, max_bytes, args.memory_mib, ocr)
        del data
        try:
            payload = _encode(reply)
        except MemoryError:
            payload, fatal = _encode(_memory_reply(args.memory_mib)), True
        except Exception as exc:
            message = f"the parse result could not be returned ({type(exc).__name__}: {exc})"
            payload = _encode({"type": "error", "error": CorruptDocument.__name__, "message": message})
        del reply
        _write_frame(replies, payload)
        if fatal:
            return 0


def _parse_reply(
    data: bytes, filename: str, max_bytes: int, memory_mib: int, ocr: OcrOptions
) -> tuple[Message, bool]:
    """The reply to one request, and whether the worker should end after sending it."""
    try:
        document = parse_bytes(data, filename, max_bytes=max_bytes, ocr=ocr)
        return {"type": "ok", "document": dataclasses.asdict(document)}, False
    except MemoryError:
        return _memory_reply(memory_mib), True
    except KBError as exc:
        if _caused_by_memory(exc):  # parsers wrap whatever pypdf raises, MemoryError included
            return _memory_reply(memory_mib), True
        return {"type": "error", "error": type(exc).__name__, "message": exc.message}, False
    except Exception as exc:
        message = f"the parser failed ({type(exc).__name__}: {exc})"
        return {"type": "error", "error": CorruptDocument.__name__, "message": message}, False


def _memory_reply(memory_mib: int) -> Message:
    limit = f"the memory limit of {memory_mib} MiB" if memory_mib > 0 else "the available memory"
    message = f"parsing needed more than {limit}; {_HINT}"
    return {"type": "error", "error": ParseMemoryLimit.__name__, "message": message}


def _encode(message: Message) -> bytes:
    # Enum members are str subclasses (StrEnum) and encode as their values; tuples as arrays.
    return json.dumps(message, ensure_ascii=False, allow_nan=False).encode()


def _caused_by_memory(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _cap_memory(memory_mib: int) -> None:
    if memory_mib <= 0:
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_mib * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    frame = stream.read(size)
    return frame if len(frame) == size else None


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
