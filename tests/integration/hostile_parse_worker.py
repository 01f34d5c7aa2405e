"""A stand-in for a compromised parse worker: speaks the frame protocol, then sends a reply that must not be
trusted. `python hostile_parse_worker.py MODE MARKER [--memory-mib N]`; MODE says what it sends instead of a
valid result. The `pickle` replies would create MARKER if the parent unpickled them."""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys

HEADER = struct.Struct(">Q")


class CreatesMarker:
    """Unpickling this opens (creates) the marker file: code execution in whoever unpickles it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def read_frame(stream: object) -> bytes | None:
    header = stream.read(HEADER.size)  # type: ignore[attr-defined]
    if len(header) < HEADER.size:
        return None
    return stream.read(HEADER.unpack(header)[0])  # type: ignore[attr-defined,no-any-return]


def main(mode: str, marker: str) -> int:
    out = sys.stdout.buffer
    malicious = pickle.dumps(("ok", CreatesMarker(marker)))
    if mode == "pickle-greeting":
        out.write(frame(malicious))
        out.flush()
        return 0
    out.write(frame(json.dumps({"type": "ready", "pid": os.getpid()}).encode()))
    out.flush()
    replies = {
        "pickle": frame(malicious),
        "not-json": frame(b"\xff\xfenot json at all"),
        "wrong-shape": frame(json.dumps({"type": "ok", "document": {"source_path": 1, "text": []}}).encode()),
        "unknown-type": frame(json.dumps({"type": "exec", "code": "import os"}).encode()),
        "huge-frame": HEADER.pack(1 << 40),
        "foreign-error": frame(
            json.dumps({"type": "error", "error": "StoreLocked", "message": "from the worker"}).encode()
        ),
    }
    while read_frame(sys.stdin.buffer) is not None and read_frame(sys.stdin.buffer) is not None:
        out.write(frame(json.dumps({"type": "ack"}).encode()) + replies[mode])
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
