"""Parsing in a separate worker process, with a time limit and a memory cap.

pypdf has no timeout: a damaged or hostile PDF can make it loop for minutes or take all memory, which would hang a
whole ingest batch or an upload. So files are parsed by a child process (`python -m ingest.parse_worker`) that the
parent can kill. When no reply comes within the time limit the worker is killed and the file fails with
`ParseTimeout`; a worker that runs into its memory cap fails the file with `ParseMemoryLimit`, one that dies while
parsing with `ParseCrashed`. The next file gets a fresh worker, the batch goes on.

One worker serves the whole process and is reused: starting Python and importing pypdf per file would cost more
than most parses. A lock serialises concurrent callers (API uploads); the worker is stopped at exit.

Protocol: frames of an 8-byte big-endian length and a pickle, over the child's stdin and stdout.
    child → parent, once after start:  ("ready", pid)
    parent → child, per file:           (filename, data, max_bytes)
    child → parent, per file:           ("ack",) as soon as the request is read, then
                                        ("ok", ParsedDocument) or ("error", error class name, message, path)
The child writes nothing else to stdout: its file descriptor 1 points at stderr, the protocol uses a private copy.
Typed errors (`ingest.errors`) are rebuilt in the parent by class name, so their code and message are exactly
those of in-process parsing.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import pickle
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ingest import errors
from ingest.domain import ParsedDocument
from ingest.errors import (
    CorruptDocument,
    IngestError,
    KBError,
    ParseCrashed,
    ParseMemoryLimit,
    ParseTimeout,
)
from ingest.parsers import parse_bytes

if TYPE_CHECKING:  # pydantic is not needed in the worker process
    from ingest.config import IngestSettings

__all__ = ["ParseWorker", "parse_document", "parse_isolated", "shutdown", "worker_pid"]

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 60.0
_HEADER = struct.Struct(">Q")
_READ_SIZE = 1 << 20
# The directory that holds the `ingest` package: the child must import this very package, also when the parent
# found it through a sys.path entry added by hand.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_HINT = "the file may be damaged or built to exhaust the parser"

Reply = tuple[Any, ...]


def parse_document(data: bytes, filename: str, settings: IngestSettings) -> ParsedDocument:
    """Parse a file's bytes as `settings` say: in the worker process with limits, or in process without."""
    if not settings.parse_isolation:
        return parse_bytes(data, filename, max_bytes=settings.max_file_bytes)
    return parse_isolated(
        data,
        filename,
        max_bytes=settings.max_file_bytes,
        timeout_s=settings.parse_timeout_s,
        memory_mib=settings.parse_memory_mib,
    )


def parse_isolated(
    data: bytes, filename: str, *, max_bytes: int, timeout_s: float, memory_mib: int
) -> ParsedDocument:
    """`ingest.parsers.parse_bytes` in the shared worker process; raises the same typed errors, and
    `ParseTimeout`, `ParseMemoryLimit` or `ParseCrashed` (all naming `filename`) when the limits are hit."""
    global _worker
    with _lock:
        for attempt in (1, 2):
            worker = _worker
            if worker is not None and not worker.owned:
                worker = _worker = None  # inherited through fork: the parent process still uses it
            if worker is not None and not worker.usable(memory_mib):
                worker.close()
                worker = _worker = None
            if worker is None:
                worker = _worker = ParseWorker(memory_mib, filename)
            try:
                return worker.parse(data, filename, max_bytes, timeout_s)
            except _WorkerGone:
                # It died before it read this file (killed while idle, say): not the file's fault, try a new one.
                if attempt == 2:
                    raise ParseCrashed(
                        "the parse worker ended before it could read the file", path=filename
                    ) from None
            finally:
                if not worker.alive:
                    _worker = None
    raise AssertionError("unreachable")


def worker_pid() -> int | None:
    """Process id of the shared worker, None when none runs (for diagnostics and tests)."""
    with _lock:
        return _worker.pid if _worker is not None and _worker.alive else None


def shutdown() -> None:
    """Stop the shared worker (at exit; the next parse starts a new one)."""
    global _worker
    # Do not wait forever: at interpreter exit a daemon thread may still hold the lock.
    locked = _lock.acquire(timeout=5)
    try:
        if _worker is not None and _worker.owned:
            _worker.close()
        _worker = None
    finally:
        if locked:
            _lock.release()


class _WorkerGone(Exception):
    """The worker ended before it acknowledged the request."""


class _Closed(Exception):
    """End of file or broken pipe on the worker's stdout or stdin."""


class _Expired(Exception):
    """The deadline passed before the exchange finished."""


class ParseWorker:
    """One worker process and its pipes. Not thread-safe: the module functions serialise access."""

    def __init__(self, memory_mib: int, filename: str = "") -> None:
        self.memory_mib = memory_mib
        self._owner = os.getpid()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_PACKAGE_ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.parse_worker", "--memory-mib", str(memory_mib)],
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
                f"the parse worker did not start ({_describe(status)}); see its output in the log",
                path=filename,
            ) from None
        if ready[0] != "ready":
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

    def parse(self, data: bytes, filename: str, max_bytes: int, timeout_s: float) -> ParsedDocument:
        deadline = time.monotonic() + timeout_s
        try:
            self._send(pickle.dumps((filename, data, max_bytes), protocol=pickle.HIGHEST_PROTOCOL), deadline)
            ack = self._receive(deadline)
        except _Closed:
            self.kill()
            raise _WorkerGone from None
        except _Expired:
            self.kill()
            raise _timeout(timeout_s, filename) from None
        if ack[0] != "ack":
            self.kill()
            raise ParseCrashed(f"the parse worker sent an unexpected reply ({ack[0]!r})", path=filename)
        try:
            reply = self._receive(deadline)
        except _Expired:
            self.kill()
            raise _timeout(timeout_s, filename) from None
        except _Closed:
            status = self.kill()
            raise ParseCrashed(
                f"the parse worker ended while parsing ({_describe(status)}); {_HINT}", path=filename
            ) from None
        return self._result(reply, filename)

    def close(self) -> None:
        """Ask the worker to end (end of input), kill it if it does not."""
        if self._proc.poll() is None:
            try:
                self._stdin.close()
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self) -> int | None:
        """Kill the worker, reap it and close the pipes; its exit status."""
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            status: int | None = self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # unkillable (stuck in the kernel): leave it, it is cut off
            status = None
        for selector in (self._readable, self._writable):
            selector.close()
        for pipe in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        return status

    def _result(self, reply: Reply, filename: str) -> ParsedDocument:
        if reply[0] == "ok" and isinstance(reply[1], ParsedDocument):
            return reply[1]
        if reply[0] == "error" and len(reply) == 4:
            _, name, message, path = reply
            if name == ParseMemoryLimit.__name__:
                self.close()  # the worker ends itself after this reply; its heap may be in a bad state
            raise _error_class(name)(message, path=path or filename)
        self.kill()
        raise ParseCrashed(f"the parse worker sent an unexpected reply ({reply[0]!r})", path=filename)

    def _send(self, payload: bytes, deadline: float) -> None:
        fd = self._stdin.fileno()
        for part in (_HEADER.pack(len(payload)), payload):
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
        fd = self._stdout.fileno()
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    frame = bytes(self._buffer[_HEADER.size : end])
                    del self._buffer[:end]
                    try:
                        reply = pickle.loads(frame)
                    except Exception as exc:  # a garbled stream: treat the worker as lost
                        raise _Closed from exc
                    if not isinstance(reply, tuple) or not reply:
                        raise _Closed
                    return reply
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


def _error_class(name: str) -> type[KBError]:
    found = getattr(errors, name, None)
    if isinstance(found, type) and issubclass(found, KBError):
        return found
    return IngestError


def _describe(status: int | None) -> str:
    if status is None:
        return "it could not be stopped"
    if status < 0:
        try:
            return f"killed by signal {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


_lock = threading.Lock()
_worker: ParseWorker | None = None
atexit.register(shutdown)


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
    _write_frame(replies, ("ready", os.getpid()))
    while True:
        try:
            request = _read_frame(requests)
            if request is None:
                return 0
            filename, data, max_bytes = pickle.loads(request)
            del request
        except MemoryError:  # the file alone does not fit under the cap; the parent names it
            _write_frame(replies, ("ack",))
            _write_frame(replies, _memory_reply("", args.memory_mib))
            return 0
        _write_frame(replies, ("ack",))
        reply, fatal = _parse_reply(data, filename, max_bytes, args.memory_mib)
        del data
        try:
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            payload, fatal = pickle.dumps(_memory_reply(filename, args.memory_mib)), True
        except Exception as exc:
            message = f"the parse result could not be returned ({type(exc).__name__}: {exc})"
            payload = pickle.dumps(("error", CorruptDocument.__name__, message, filename))
        del reply
        replies.write(_HEADER.pack(len(payload)) + payload)
        replies.flush()
        if fatal:
            return 0


def _parse_reply(data: bytes, filename: str, max_bytes: int, memory_mib: int) -> tuple[Reply, bool]:
    """The reply to one request, and whether the worker should end after sending it."""
    try:
        return ("ok", parse_bytes(data, filename, max_bytes=max_bytes)), False
    except MemoryError:
        return _memory_reply(filename, memory_mib), True
    except KBError as exc:
        if _caused_by_memory(exc):  # parsers wrap whatever pypdf raises, MemoryError included
            return _memory_reply(filename, memory_mib), True
        return ("error", type(exc).__name__, exc.message, exc.path), False
    except Exception as exc:
        message = f"the parser failed ({type(exc).__name__}: {exc})"
        return ("error", CorruptDocument.__name__, message, filename), False


def _memory_reply(filename: str, memory_mib: int) -> Reply:
    limit = f"the memory limit of {memory_mib} MiB" if memory_mib > 0 else "the available memory"
    return ("error", ParseMemoryLimit.__name__, f"parsing needed more than {limit}; {_HINT}", filename)


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


def _write_frame(stream: IO[bytes], message: Reply) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
