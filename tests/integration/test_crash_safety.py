"""`kill -9` in the middle of an ingest, then the same command again: exactly the store of one clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.domain import AccessScope
from ingest.store import EdgeStore, SearchFilters
from tests.conftest import REPO
from tests.fakes import HashEmbedder


def _run(store: Path, source: Path, kill_after: int | None = None) -> bool:
    """Run the harness; with `kill_after`, SIGKILL it once that many files are done. True if it finished."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_ingest", str(store), str(source)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if kill_after is not None and line.strip() != "done" and int(line.split("/")[0]) >= kill_after:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return False
    return proc.wait() == 0


def _snapshot(store_path: Path) -> tuple[int, set[str], set[tuple[str, str]]]:
    store = EdgeStore(str(store_path), HashEmbedder().dim)
    try:
        everything = AccessScope.everything()
        points = store.scroll(everything, SearchFilters(include_history=True))
        heads = {(h.doc_id, str(h.payload["revision"])) for h in points if h.payload["ordinal"] == 0}
        return store.count(everything), {p.point_id for p in points}, heads
    finally:
        store.close()


@pytest.mark.slow
def test_kill_during_ingest_then_rerun_equals_clean_run(datasets: Path, tmp_path: Path) -> None:
    source = datasets / "corpus-real" / "fsfw-dresden-protokolle"
    assert _run(tmp_path / "clean", source)
    killed = _run(tmp_path / "crashed", source, kill_after=25)
    assert not killed, "the ingest was expected to be killed midway"
    assert _run(tmp_path / "crashed", source)
    clean, crashed = _snapshot(tmp_path / "clean"), _snapshot(tmp_path / "crashed")
    assert crashed[0] == clean[0]
    assert crashed[1] == clean[1]
    assert crashed[2] == clean[2]
    assert len(clean[2]) >= 60
