"""The originals folder (ingest/originals.py): content-addressed, idempotent, atomic, and a crash in the middle
of a write leaves no file under a final name."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ingest.originals import Originals, is_revision
from tests.conftest import REPO

DATA = b"%PDF-1.4\n" + bytes(range(256)) * 64


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_keep_stores_the_bytes_under_their_sha256_in_a_two_digit_folder(tmp_path: Path) -> None:
    originals = Originals(tmp_path / "originals")
    revision = originals.keep(DATA)
    assert revision == hashlib.sha256(DATA).hexdigest()
    path = originals.path_of(revision)
    assert path == tmp_path / "originals" / revision[:2] / revision[2:]
    assert path.read_bytes() == DATA
    assert originals.has(revision)
    assert list(originals.revisions()) == [revision]


def test_keeping_the_same_bytes_again_leaves_the_one_file_untouched(tmp_path: Path) -> None:
    originals = Originals(tmp_path)
    revision = originals.keep(DATA)
    before = originals.path_of(revision).stat()
    assert originals.keep(DATA) == revision
    after = originals.path_of(revision).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    other = originals.keep(DATA + b"x")
    assert _files(tmp_path) == sorted([originals.path_of(revision), originals.path_of(other)])


def test_a_damaged_file_of_the_wrong_size_is_written_again(tmp_path: Path) -> None:
    originals = Originals(tmp_path)
    revision = originals.keep(DATA)
    originals.path_of(revision).write_bytes(DATA[:100])
    assert originals.keep(DATA) == revision
    assert originals.path_of(revision).read_bytes() == DATA


def test_a_failed_write_leaves_neither_the_final_file_nor_a_partial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    originals = Originals(tmp_path)

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        originals.keep(DATA)
    assert not originals.has(hashlib.sha256(DATA).hexdigest())
    assert _files(tmp_path) == []


def test_a_process_killed_in_the_middle_of_a_write_leaves_only_a_partial_file_that_is_swept(
    tmp_path: Path,
) -> None:
    """A real crash: the writing process is killed (SIGKILL) after the bytes are written, before the rename."""
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from ingest.originals import Originals

        def stall(fd):
            print("writing", flush=True)
            time.sleep(60)

        os.fsync = stall
        Originals(Path({str(tmp_path)!r})).keep({DATA!r})
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    originals = Originals(tmp_path)
    revision = hashlib.sha256(DATA).hexdigest()
    assert not originals.path_of(revision).exists()
    assert not originals.has(revision) and list(originals.revisions()) == []
    (partial,) = _files(tmp_path)
    assert partial.name.endswith(".tmp") and partial.read_bytes() == DATA
    assert originals.sweep_partials(older_than_s=3600) == 0  # it may still belong to a running write
    assert originals.sweep_partials(older_than_s=0) == 1
    assert originals.keep(DATA) == revision and _files(tmp_path) == [originals.path_of(revision)]


def test_only_a_sha256_names_a_file(tmp_path: Path) -> None:
    originals = Originals(tmp_path / "originals")
    for bad in ("../../etc/passwd", "ab/../../x", "AB" * 32, "a" * 63, "", "g" * 64):
        assert not is_revision(bad)
        assert not originals.has(bad)
        with pytest.raises(ValueError):
            originals.path_of(bad)


def test_discard_removes_the_file_once(tmp_path: Path) -> None:
    originals = Originals(tmp_path)
    revision = originals.keep(DATA)
    assert originals.discard(revision)
    assert not originals.has(revision) and _files(tmp_path) == []
    assert not originals.discard(revision)
