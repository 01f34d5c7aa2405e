"""The pipeline keeps the originals of what it stores (`ingest_paths`; uploads: test_originals_api.py), on a
real Qdrant Edge store with real parsers; only the embedder is a fake."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ingest.config import IngestSettings, StoreSettings
from ingest.domain import AccessScope
from ingest.originals import Originals
from ingest.pipeline import IngestPipeline, Status
from ingest.store import build_store
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder

PDF = CORPUS / "positionspapier-ki-infrastruktur.pdf"


def test_ingest_paths_keeps_one_original_per_stored_revision_and_a_rerun_adds_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "akten"
    folder.mkdir()
    shutil.copy(PDF, folder / "papier.pdf")
    note = b"# Notiz\n\nDer Rollout beginnt im April.\n"
    (folder / "notiz.md").write_bytes(note)
    (folder / "kopie.md").write_bytes(note)  # the same bytes: stored once, one original
    (folder / "kaputt.pdf").write_bytes(b"%PDF-1.4 abgeschnitten")  # fails: nothing stored, nothing kept
    embedder = HashEmbedder()
    settings = StoreSettings(path=tmp_path / "store")
    store = build_store(settings, embedder.dim)
    originals = Originals(settings.originals_dir())
    assert originals.root == tmp_path / "originals"
    pipeline = IngestPipeline(store, embedder, IngestSettings(parse_isolation=False), originals=originals)
    try:
        report = pipeline.ingest_paths([folder])
        statuses = {Path(o.path).name: o.status for o in report.outcomes}
        # Files are taken in name order: kopie.md is stored, notiz.md is its duplicate.
        assert statuses == {
            "kaputt.pdf": Status.FAILED,
            "kopie.md": Status.INGESTED,
            "notiz.md": Status.DUPLICATE,
            "papier.pdf": Status.INGESTED,
        }
        expected = {hashlib.sha256(PDF.read_bytes()).hexdigest(), hashlib.sha256(note).hexdigest()}
        assert set(originals.revisions()) == expected
        assert originals.path_of(hashlib.sha256(note).hexdigest()).read_bytes() == note
        files = {p: p.stat().st_mtime_ns for p in (tmp_path / "originals").rglob("*") if p.is_file()}

        rerun = pipeline.ingest_paths([folder])
        assert {o.status for o in rerun.outcomes} <= {Status.UNCHANGED, Status.DUPLICATE, Status.FAILED}
        assert {p: p.stat().st_mtime_ns for p in (tmp_path / "originals").rglob("*") if p.is_file()} == files

        assert pipeline.delete_document("akten/kopie.md") > 0
        assert set(originals.revisions()) == {hashlib.sha256(PDF.read_bytes()).hexdigest()}
        assert store.count(AccessScope.everything()) > 0
    finally:
        pipeline.close()
        store.close()
