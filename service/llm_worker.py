"""The GGUF model in a supervised worker process: a native crash fails one request, not the service.

llama.cpp is native code; a fault in it (the AMX path of a `-march=native` build segfaults on Intel Xeons in VMs)
takes down the process that runs it. So the model runs in a child process (`python -m service.llm_worker`) and
the service talks to it through `WorkerLLM`, which implements the `LLM` protocol. When the child dies during a
generation the request fails with `LLMCrashed` (`llm_crashed`, HTTP 503) and the next request starts a new child;
when it stays silent longer than `timeout_s` it is killed and the request fails with `LLMTimeout`.

Tokens are counted in the parent with a vocabulary-only copy of the model (no weights, a few MB, no round trip
while the worker is busy with another generation); the tokenizer is not the code that crashes.

Protocol: newline-delimited JSON objects over the child's stdin and stdout, never pickle — the parent must not
execute anything the child sends. Every frame is validated on arrival; an invalid one counts as a crash.
    child → parent, once after start:  {"type": "ready", "pid": int}
                                        or {"type": "fatal", "message": str} when the model does not load
    parent → child:                     {"type": "generate", "id": int, "messages": [...], "schema": obj|null,
                                         "max_tokens": int}
                                        {"type": "cancel", "id": int}   (the consumer went away)
    child → parent, per generation:     {"type": "delta", "id": int, "text": str} per streamed piece, then
                                        {"type": "done", "id": int, "prompt_tokens": int, "completion_tokens":
                                         int, "finish_reason": str|null} or {"type": "error", "id": int,
                                         "message": str}
The child writes nothing else to stdout: its file descriptor 1 points at stderr, the protocol uses a private copy.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ingest.child_process import ask_to_end, describe_exit, kill_and_reap
from ingest.errors import ModelUnavailable
from service.llm import Generation, GenerationStats, LLMCrashed, LLMError, LLMTimeout, Message

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 180.0
CANCEL_TIMEOUT_S = 15.0
MAX_FRAME_BYTES = 16 * 1024 * 1024
# The directory holding the `service` package: the child must import this very package.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
_RESTART_NOTE = "it is restarted for the next request"

Frame = dict[str, Any]


class WorkerLLM:
    """`LLM` backed by a llama.cpp worker process; one generation at a time, restarted after a crash."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int,
        n_threads: int | None,
        temperature: float,
        seed: int,
        timeout_s: float,
        start: bool = True,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelUnavailable(
                "llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36"
            ) from exc
        self.name = f"llama.cpp/{model_path.name}"
        self.model_path = model_path
        self._argv = [
            sys.executable,
            "-m",
            "service.llm_worker",
            "--model",
            str(model_path),
            "--n-ctx",
            str(n_ctx),
            "--temperature",
            repr(temperature),
            "--seed",
            str(seed),
            *(["--n-threads", str(n_threads)] if n_threads else []),
        ]
        self._timeout_s = timeout_s
        # llama.cpp prints a context warning for a vocabulary-only model straight to fd 2 despite verbose=False;
        # it means nothing to the user, so the load runs with the C streams silenced.
        with _native_stderr_silenced():
            self._vocab = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._proc: _Process | None = None
        self._closed = False
        # Every started process, shared with the finalizer (which must not keep `self` alive): the child ends
        # by itself when its stdin closes, and this stops it too when the owner forgets to call `close`.
        self._procs: list[_Process] = []
        weakref.finalize(self, _stop_quietly, self._procs)
        if start:
            with self._lock:
                self._ensure_started()

    @property
    def pid(self) -> int | None:
        """Process id of the running worker (None when none runs), for diagnostics and tests."""
        proc = self._proc
        return proc.pid if proc is not None and proc.alive else None

    def count_tokens(self, text: str) -> int:
        return len(self._vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(
        self, messages: Sequence[Message], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        stats = GenerationStats()
        request: Frame = {
            "type": "generate",
            "messages": [dict(m) for m in messages],
            "schema": schema,
            "max_tokens": max_tokens,
        }
        return Generation(self._run(request, stats), stats)

    def close(self) -> None:
        """Stop the worker (at shutdown); later generations fail."""
        with self._lock:
            self._closed = True
            if self._proc is not None:
                self._proc.close()
                self._proc = None
            self._procs.clear()
        with contextlib.suppress(Exception):
            self._vocab.close()

    # -- parent side of one generation ---------------------------------------------------------------------
    def _run(self, request: Frame, stats: GenerationStats) -> Iterator[str]:
        with self._lock:
            if self._closed:
                raise LLMError("the language model has been shut down")
            proc = self._ensure_started()
            rid = next(self._ids)
            start = time.perf_counter()
            try:
                proc.send({**request, "id": rid})
            except _Closed:  # it died while idle (killed from outside): not this request's fault
                self._forget(proc)
                proc = self._ensure_started()
                proc.send({**request, "id": rid})
            finished = False
            try:
                while True:
                    frame = proc.receive(time.monotonic() + self._timeout_s)
                    if frame.get("id") != rid:
                        continue  # a late frame of a cancelled generation
                    kind = frame["type"]
                    if kind == "delta":
                        if stats.first_token_s is None:
                            stats.first_token_s = time.perf_counter() - start
                        stats.completion_tokens += 1
                        yield frame["text"]
                    elif kind == "done":
                        finished = True
                        stats.prompt_tokens = frame["prompt_tokens"]
                        stats.completion_tokens = frame["completion_tokens"]
                        stats.finish_reason = frame["finish_reason"]
                        stats.total_s = time.perf_counter() - start
                        return
                    else:
                        finished = True
                        raise LLMError(f"the language model failed: {frame['message']}")
            except _Closed:
                finished = True
                status = self._forget(proc)
                raise LLMCrashed(
                    f"the language model process ended during the generation ({describe_exit(status)}); "
                    + _RESTART_NOTE
                ) from None
            except _Expired:
                finished = True
                self._forget(proc)
                raise LLMTimeout(
                    f"the language model produced nothing within {self._timeout_s:g} s; " + _RESTART_NOTE
                ) from None
            finally:
                if not finished:  # the consumer went away: stop the child's generation before the next one
                    self._cancel(proc, rid)

    def _cancel(self, proc: _Process, rid: int) -> None:
        try:
            proc.send({"type": "cancel", "id": rid})
            deadline = time.monotonic() + CANCEL_TIMEOUT_S
            while True:
                frame = proc.receive(deadline)
                if frame.get("id") == rid and frame["type"] in ("done", "error"):
                    return
        except (_Closed, _Expired):
            self._forget(proc)

    def _ensure_started(self) -> _Process:
        if self._proc is not None and self._proc.alive:
            return self._proc
        if self._proc is not None:
            self._forget(self._proc)
        proc = _Process(self._argv)
        self._procs.append(proc)
        try:
            ready = proc.receive(time.monotonic() + STARTUP_TIMEOUT_S)
        except (_Closed, _Expired):
            status = self._forget(proc)
            raise LLMCrashed(
                f"the language model process did not start ({describe_exit(status)}); see the service log"
            ) from None
        if ready["type"] != "ready":
            self._forget(proc)
            log.error("llm worker: %s", ready.get("message"))
            raise ModelUnavailable(
                "the language model could not be loaded by its worker process; see the log"
            )
        self._proc = proc
        log.info("llm worker %s ready (%s)", proc.pid, self.name)
        return proc

    def _forget(self, proc: _Process) -> int | None:
        status = proc.kill()
        if proc in self._procs:
            self._procs.remove(proc)
        if self._proc is proc:
            self._proc = None
        if status is not None and status != 0:
            log.warning("llm worker %s ended: %s", proc.pid, describe_exit(status))
        return status


def _stop_quietly(procs: list[_Process]) -> None:
    for proc in list(procs):
        proc.close()
    procs.clear()


class _Closed(Exception):
    """End of file, a broken pipe or an invalid frame on the worker's pipes."""


class _Expired(Exception):
    """The deadline passed before a frame arrived."""


_FRAME_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "ready": {"pid": int},
    "fatal": {"message": str},
    "delta": {"id": int, "text": str},
    "done": {"id": int, "prompt_tokens": int, "completion_tokens": int, "finish_reason": (str, type(None))},
    "error": {"id": int, "message": str},
}


def parse_frame(line: bytes) -> Frame:
    """A child's frame, checked against `_FRAME_FIELDS`; raises `_Closed` for anything else."""
    try:
        frame = json.loads(line)
    except ValueError:
        raise _Closed from None
    if not isinstance(frame, dict):
        raise _Closed
    fields = _FRAME_FIELDS.get(frame.get("type"))  # type: ignore[arg-type]
    if fields is None:
        raise _Closed
    for name, kind in fields.items():
        value = frame.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _Closed
    return frame


class _Process:
    """One worker process and its pipes. Not thread-safe: `WorkerLLM` serialises access."""

    def __init__(self, argv: list[str]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_PACKAGE_ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        )
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=_PACKAGE_ROOT
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        self._stdout: IO[bytes] = self._proc.stdout
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stdout, selectors.EVENT_READ)
        self._buffer = bytearray()

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def send(self, frame: Frame) -> None:
        try:
            self._stdin.write(json.dumps(frame, ensure_ascii=False).encode("utf-8") + b"\n")
            self._stdin.flush()
        except (OSError, ValueError) as exc:  # broken pipe, or the pipe is already closed
            raise _Closed from exc

    def receive(self, deadline: float) -> Frame:
        fd = self._stdout.fileno()
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return parse_frame(line)
            if len(self._buffer) > MAX_FRAME_BYTES:
                raise _Closed
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Expired
            if not self._selector.select(remaining):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Closed
            self._buffer += chunk

    def close(self) -> None:
        """Ask the worker to end (end of input), kill it if it does not."""
        ask_to_end(self._proc, self._stdin, grace_s=5)
        self.kill()

    def kill(self) -> int | None:
        """Kill the worker, reap it and close the pipes; its exit status."""
        status = kill_and_reap(self._proc, (self._stdin, self._stdout))
        self._selector.close()
        return status


# -- the worker process -------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m service.llm_worker",
        description="Serve generations of one GGUF model on stdin/stdout.",
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--n-threads", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    # Stray output of llama.cpp must not corrupt the protocol: stdout goes to stderr, stdin is empty.
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr
    # Ctrl+C in a terminal reaches the whole process group: the parent decides when the worker ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="llm worker: %(levelname)s %(name)s: %(message)s")

    def write(frame: Frame) -> None:
        replies.write(json.dumps(frame, ensure_ascii=False).encode("utf-8") + b"\n")
        replies.flush()

    try:
        from llama_cpp import Llama

        llama: Any = Llama(
            model_path=args.model, n_ctx=args.n_ctx, n_threads=args.n_threads, seed=args.seed, verbose=False
        )
    except Exception as exc:
        write({"type": "fatal", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    write({"type": "ready", "pid": os.getpid()})

    inbox: queue.Queue[Frame | None] = queue.Queue()
    cancelled: set[int] = set()
    cancel_lock = threading.Lock()

    def read_requests() -> None:
        for line in requests:
            try:
                frame = json.loads(line)
            except ValueError:
                continue
            if not isinstance(frame, dict) or not isinstance(frame.get("id"), int):
                continue
            if frame.get("type") == "cancel":
                with cancel_lock:
                    cancelled.add(frame["id"])
            elif frame.get("type") == "generate":
                inbox.put(frame)
        inbox.put(None)  # end of input: the parent closed the pipe or died

    threading.Thread(target=read_requests, name="llm-worker-requests", daemon=True).start()
    while (request := inbox.get()) is not None:
        rid = request["id"]
        with cancel_lock:
            if rid in cancelled:
                cancelled.discard(rid)
                write(_done(rid, 0, 0, "cancelled"))
                continue
        write(_generate(llama, request, args.temperature, write, cancelled, cancel_lock))
    return 0


def _generate(
    llama: Any,
    request: Frame,
    temperature: float,
    write: Any,
    cancelled: set[int],
    cancel_lock: threading.Lock,
) -> Frame:
    """Stream one generation as delta frames; the final frame (done or error) is returned."""
    rid = request["id"]
    kwargs: dict[str, Any] = {}
    if request.get("schema") is not None:
        kwargs["response_format"] = {"type": "json_object", "schema": request["schema"]}
    completion_tokens = 0
    finish_reason: str | None = None
    try:
        stream = llama.create_chat_completion(
            messages=request["messages"],
            temperature=temperature,
            max_tokens=int(request["max_tokens"]),
            stream=True,
            **kwargs,
        )
        for event in stream:
            with cancel_lock:
                if rid in cancelled:
                    cancelled.discard(rid)
                    finish_reason = "cancelled"
                    stream.close()
                    break
            choice = event["choices"][0]
            if choice.get("finish_reason"):
                finish_reason = choice["finish_reason"]
            delta = (choice.get("delta") or {}).get("content") or ""
            if delta:
                completion_tokens += 1
                write({"type": "delta", "id": rid, "text": delta})
    except Exception as exc:
        return {"type": "error", "id": rid, "message": f"{type(exc).__name__}: {exc}"}
    return _done(rid, max(int(llama.n_tokens) - completion_tokens, 0), completion_tokens, finish_reason)


def _done(rid: int, prompt_tokens: int, completion_tokens: int, finish_reason: str | None) -> Frame:
    return {
        "type": "done",
        "id": rid,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "finish_reason": finish_reason,
    }


if __name__ == "__main__":
    sys.exit(main())


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """File descriptor 2 points at /dev/null meanwhile (what C code prints there is dropped)."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
