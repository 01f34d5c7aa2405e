"""The original files, kept content-addressed beside the store so that a citation can open its document.

A file's bytes are stored once under their sha256 — the revision id (`pipeline.file_revision`) — as
`<root>/ab/cdef…` (the first two hex digits name a sub-folder, so no folder grows to every file). Two documents
with the same bytes share one file; access is decided per document by the store's scope, never by this module.

Writes are atomic: the bytes go to a temporary file in the same folder, are flushed to disk and renamed onto the
final name, and the folder is flushed too. A crash leaves at most a `*.tmp` file (never a half file under a
final name); `sweep_partials` removes old ones. Writing the same bytes again finds the file and does nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_REVISION = re.compile(r"^[0-9a-f]{64}$")
PARTIAL_SUFFIX = ".tmp"


def is_revision(value: str) -> bool:
    """Whether `value` is a revision id: a sha256 as 64 lower-case hex digits (nothing else names a file)."""
    return bool(_REVISION.match(value))


@dataclass(frozen=True)
class Originals:
    """The content-addressed folder of original files."""

    root: Path

    def path_of(self, revision: str) -> Path:
        """Where the bytes of `revision` live (or would). Only a sha256 names a file: no other string (`..`,
        a slash) reaches the file system."""
        if not is_revision(revision):
            raise ValueError("a revision is a sha256 in 64 lower-case hex digits")
        return self.root / revision[:2] / revision[2:]

    def has(self, revision: str) -> bool:
        return is_revision(revision) and self.path_of(revision).is_file()

    def keep(self, data: bytes) -> str:
        """Store `data` under its sha256 (once) and return that revision id."""
        revision = hashlib.sha256(data).hexdigest()
        final = self.path_of(revision)
        try:
            if final.stat().st_size == len(data):
                return (
                    revision  # the same bytes are already kept (a rename only ever puts a whole file there)
                )
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f"{final.name[:16]}.", suffix=PARTIAL_SUFFIX, dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, final)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)
        return revision

    def discard(self, revision: str) -> bool:
        """Remove the file of `revision`; False when none was kept."""
        path = self.path_of(revision)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        # The (at most 256) sub-folders stay: removing an empty one could race a write that just made it.
        return True

    def revisions(self) -> Iterator[str]:
        """Every kept revision (not the partial files of an interrupted write)."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for file in sorted(folder.iterdir()):
                revision = folder.name + file.name
                if is_revision(revision):
                    yield revision

    def sweep_partials(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary files left by a crash during a write, once older than `older_than_s` (a younger
        one may belong to a write still running in another process). Returns how many were removed."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for partial in self.root.glob(f"*/*{PARTIAL_SUFFIX}"):
            try:
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry is flushed with the directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)
