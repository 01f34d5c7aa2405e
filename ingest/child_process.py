"""Ending a worker child process: the one way both workers (parsing, the model) stop their children."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterable
from typing import IO


def ask_to_end(proc: subprocess.Popen[bytes], stdin: IO[bytes], grace_s: float) -> None:
    """Close the child's input (its signal to end) and give it `grace_s` to exit by itself."""
    if proc.poll() is None:
        try:
            stdin.close()
            proc.wait(timeout=grace_s)
        except (OSError, subprocess.TimeoutExpired):
            pass


def kill_and_reap(proc: subprocess.Popen[bytes], pipes: Iterable[IO[bytes]]) -> int | None:
    """Kill the child if it still runs, reap it and close its pipes; its exit status."""
    if proc.poll() is None:
        proc.kill()
    try:
        status: int | None = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # unkillable (stuck in the kernel): leave it, it is cut off
        status = None
    for pipe in pipes:
        with contextlib.suppress(OSError):
            pipe.close()
    return status


def describe_exit(status: int | None) -> str:
    """A process's exit status in words: `killed by signal SIGSEGV`, `exit status 1`."""
    if status is None:
        return "it could not be stopped"
    if status < 0:
        try:
            return f"killed by signal {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"
