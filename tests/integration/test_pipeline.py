"""Ingestion through the real parsers into a real Qdrant Edge store (the embedder is faked: not about it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.config import IngestSettings
from ingest.domain import AccessScope
from ingest.metadata import MetadataOverrides
from ingest.pipeline import IngestPipeline, Status, ignored_by
from ingest.store import EdgeStore, SearchFilters, StoredChunk
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder

ALL = AccessScope.everything()


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[IngestPipeline]:
    emb = HashEmbedder()
    store = EdgeStore(str(tmp_path / "store"), emb.dim)
    yield IngestPipeline(store, emb, IngestSettings())
    store.close()


def _ids(pipeline: IngestPipeline) -> set[str]:
    return {h.point_id for h in pipeline.store.scroll(ALL, SearchFilters(include_history=True))}


def _md(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


def test_corpus_ingests_and_reingest_changes_nothing(pipeline: IngestPipeline) -> None:
    report = pipeline.ingest_paths([CORPUS])
    assert not report.failed, [(o.path, o.code, o.message) for o in report.failed]
    assert report.count(Status.INGESTED) >= 8
    points, ids = pipeline.store.count(ALL), _ids(pipeline)
    again = pipeline.ingest_paths([CORPUS])
    assert {o.status for o in again.outcomes if o.status is not Status.SKIPPED} == {Status.UNCHANGED}
    assert pipeline.store.count(ALL) == points and _ids(pipeline) == ids


def test_pdf_chunks_carry_pages_and_sidecar_metadata(pipeline: IngestPipeline) -> None:
    pipeline.ingest_paths([CORPUS / "positionspapier-ki-infrastruktur.pdf"])
    chunks = pipeline.store.scroll(ALL, SearchFilters())
    assert chunks and all(c.payload["page_start"] >= 1 for c in chunks)
    assert max(c.payload["page_end"] for c in chunks) >= 3
    head = next(c for c in chunks if c.payload["ordinal"] == 0)
    assert head.payload["doc_type"] == "position_paper"
    assert head.payload["doc_id"] == "positionspapier-ki-infrastruktur.pdf"


def test_changed_file_replaces_old_chunks_and_keeps_history(pipeline: IngestPipeline, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = _md(folder / "notiz.md", "# Notiz\n\nDas Pilotbudget beträgt 250.000 EUR.\n")
    pipeline.ingest_paths([folder])
    old_rev = pipeline.store.scroll(ALL, SearchFilters())[0].payload["revision"]
    _md(doc, "# Notiz\n\nDas Pilotbudget beträgt 320.000 EUR.\n\nNeuer Absatz zur Finanzierung.\n")
    report = pipeline.ingest_paths([folder])
    assert [o.status for o in report.outcomes] == [Status.REPLACED]
    current = pipeline.store.scroll(ALL, SearchFilters())
    assert current and all("250.000" not in c.text for c in current)
    assert {c.payload["revision"] for c in current} != {old_rev}
    old = pipeline.store.scroll(ALL, SearchFilters(revision=old_rev))
    assert old and "250.000" in old[0].text


def test_bad_files_are_reported_and_the_batch_goes_on(pipeline: IngestPipeline, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    _md(folder / "gut.md", "# Gut\n\nDieser Text wird gespeichert.\n")
    (folder / "leer.pdf").write_bytes(b"")
    (folder / "kaputt.pdf").write_bytes(os.urandom(2048))
    (folder / "daten.xyz").write_bytes(b"123")
    report = pipeline.ingest_paths([folder])
    by_name = {Path(o.path).name: o for o in report.outcomes}
    assert by_name["gut.md"].status is Status.INGESTED
    assert by_name["leer.pdf"].code == "empty_file"
    assert by_name["kaputt.pdf"].code == "corrupt_file"
    assert by_name["daten.xyz"].status is Status.SKIPPED
    assert pipeline.store.count(ALL, SearchFilters(only_heads=True)) == 1


def test_same_content_under_two_names_is_stored_once(pipeline: IngestPipeline, tmp_path: Path) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    _md(folder / "a.md", "# Protokoll\n\nBeschluss: einstimmig angenommen.\n")
    shutil.copy(folder / "a.md", folder / "b.md")
    report = pipeline.ingest_paths([folder])
    statuses = sorted(o.status.value for o in report.outcomes)
    assert statuses == ["duplicate", "ingested"]
    dup = next(o for o in report.outcomes if o.status is Status.DUPLICATE)
    assert dup.duplicate_of == "dup/a.md"
    assert pipeline.store.count(ALL, SearchFilters(only_heads=True)) == 1


def test_flag_overrides_apply_to_the_batch(pipeline: IngestPipeline, tmp_path: Path) -> None:
    doc = _md(tmp_path / "x.md", "# X\n\nText.\n")
    pipeline.ingest_paths([doc], MetadataOverrides(working_group="ak-ki", visibility="confidential"))
    head = pipeline.store.scroll(ALL, SearchFilters(only_heads=True))[0].payload
    assert head["working_group"] == "ak-ki" and head["visibility"] == "confidential"


def test_as_of_searches_the_revision_current_at_that_time(pipeline: IngestPipeline, tmp_path: Path) -> None:
    import time

    from service.config import RetrievalSettings
    from service.retrieval import Retriever

    doc = _md(tmp_path / "budget.md", "# Budget\n\nDas Pilotbudget beträgt 250.000 EUR.\n")
    pipeline.ingest_paths([doc])
    between = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    time.sleep(1.1)
    _md(doc, "# Budget\n\nDas Pilotbudget beträgt 320.000 EUR.\n")
    pipeline.ingest_paths([doc])
    retriever = Retriever(pipeline.store, pipeline.embedder, RetrievalSettings())
    now = retriever.search("Pilotbudget", ALL).hits
    then = retriever.search("Pilotbudget", ALL, filters=SearchFilters(as_of=between)).hits
    assert "320.000" in now[0].text and "250.000" in then[0].text
    assert retriever.search("Pilotbudget", ALL, filters=SearchFilters(as_of="2000-01-01")).hits == []


def test_minutes_chunks_know_their_agenda_item(pipeline: IngestPipeline) -> None:
    pipeline.ingest_paths([CORPUS / "protokoll-ak-ki-2025-11-20.md"])
    chunks = pipeline.store.scroll(ALL, SearchFilters())
    items = {c.payload["agenda_item"] for c in chunks}
    assert any(i and i.startswith("TOP 2") for i in items)
    decisions = [d for c in chunks for d in c.payload["decisions"]]
    assert any("320.000" in d["text"] for d in decisions)
    assert all(d["agenda_item"] for d in decisions)


def test_kbignore_keeps_listed_files_out_and_reports_them(pipeline: IngestPipeline, tmp_path: Path) -> None:
    folder = tmp_path / "ablage"
    (folder / "entwuerfe").mkdir(parents=True)
    _md(folder / "README.md", "# Über diese Ablage\n\nHinweise für die Pflege.\n")
    _md(folder / "protokoll.md", "# Protokoll\n\nDer Arbeitskreis beschließt die Empfehlung.\n")
    _md(folder / "entwuerfe" / "alt.md", "# Entwurf\n\nNicht veröffentlichen.\n")
    (folder / ".kbignore").write_text("# nicht indexieren\nREADME.md\nentwuerfe/\n", encoding="utf-8")
    report = pipeline.ingest_paths([folder])
    stored = {h.doc_id for h in pipeline.store.scroll(ALL, SearchFilters())}
    assert stored == {"ablage/protokoll.md"}
    ignored = {o.doc_id: o for o in report.outcomes if o.status is Status.SKIPPED}
    assert set(ignored) == {"ablage/README.md", "ablage/entwuerfe/alt.md"}
    assert all(o.code == "ignored" and ".kbignore" in (o.message or "") for o in ignored.values())


def test_sample_corpus_readme_is_not_a_document(pipeline: IngestPipeline) -> None:
    pipeline.ingest_paths([CORPUS])
    assert "corpus/README.md" not in {h.doc_id for h in pipeline.store.scroll(ALL, SearchFilters())}


def test_source_path_is_relative_to_what_was_ingested(pipeline: IngestPipeline, tmp_path: Path) -> None:
    folder = tmp_path / "ablage"
    (folder / "ak-ki").mkdir(parents=True)
    _md(folder / "ak-ki" / "notiz.md", "# Notiz\n\nEins.\n")
    single = _md(tmp_path / "einzeln.md", "# Einzeln\n\nZwei.\n")
    pipeline.ingest_paths([folder.resolve(), single.resolve()])
    pipeline.ingest_upload(b"# Hoch\n\nDrei.\n", "/home/nutzer/../geladen.md")
    heads = pipeline.store.scroll(ALL, SearchFilters(only_heads=True))
    paths = {StoredChunk.of(h).provenance.doc_id: StoredChunk.of(h).provenance.source_path for h in heads}
    assert paths == {
        "ablage/ak-ki/notiz.md": "ak-ki/notiz.md",
        "einzeln.md": "einzeln.md",
        "geladen.md": "geladen.md",
    }


@pytest.mark.parametrize(
    ("rel", "pattern", "ignored"),
    [
        ("README.md", "README.md", True),
        ("ak-ki/README.md", "README.md", True),
        ("ak-ki/README.md", "/README.md", False),
        ("entwuerfe/2025/alt.md", "entwuerfe/", True),
        ("entwuerfe.md", "entwuerfe/", False),
        ("ak-ki/notiz.tmp.md", "*.tmp.md", True),
        ("ak-ki/protokoll.md", "*.tmp.md", False),
        ("ak-ki/intern/x.pdf", "ak-ki/intern/", True),
        ("ak-ki/intern.pdf", "ak-ki/intern/", False),
        ("ak-ki/2024/x.pdf", "ak-ki/20*/x.pdf", True),
    ],
)
def test_ignore_patterns(rel: str, pattern: str, ignored: bool) -> None:
    assert (ignored_by(Path(rel), [pattern]) == pattern) is ignored
