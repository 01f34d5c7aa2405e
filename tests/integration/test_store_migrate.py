"""Store migration between real Qdrant Edge and qdrant-client's local mode (standing in for a Qdrant server)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ingest.config import IngestSettings, StoreSettings
from ingest.domain import AccessScope
from ingest.pipeline import IngestPipeline
from ingest.store import (
    EdgeStore,
    SearchFilters,
    SearchMode,
    ServerStore,
    StoreQuery,
    build_store,
    export_points,
)
from ingest.store_migrate import copy_points, migrate, verify
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder

ALL = AccessScope.everything()


@pytest.fixture
def edge(tmp_path: Path) -> EdgeStore:
    emb = HashEmbedder()
    store = EdgeStore(str(tmp_path / "edge"), emb.dim)
    IngestPipeline(store, emb, IngestSettings(parse_isolation=False)).ingest_paths([CORPUS])
    yield store
    store.close()


def _all(store: object, page: int = 1000) -> dict[str, object]:
    points, offset, out = [], None, {}
    while True:
        points, offset = export_points(store, offset, page)  # type: ignore[arg-type]
        out.update({p.point_id: p for p in points})
        if offset is None:
            return out


def test_interrupted_migration_resumes_from_checkpoint_and_verifies(edge: EdgeStore, tmp_path: Path) -> None:
    total = edge.count(ALL)
    assert total > 60
    server = ServerStore(HashEmbedder().dim, path=str(tmp_path / "server"))
    checkpoint = tmp_path / "migrate.json"
    copied, before = copy_points(edge, server, checkpoint, batch=25, max_batches=2)  # interrupted
    assert (copied, before) == (50, 0) and server.count(ALL) == 50
    assert json.loads(checkpoint.read_text())["copied"] == 50
    report = migrate(edge, server, checkpoint, batch=25, queries=30)
    assert report.resumed_at == 50 and report.copied == total - 50
    assert report.verification.ok and report.verification.queries == 30
    assert report.verification.source_points == report.verification.target_points == total
    source, target = _all(edge), _all(server)
    assert source.keys() == target.keys()
    for pid, p in source.items():
        q = target[pid]
        assert p.payload == q.payload and p.sparse == q.sparse  # type: ignore[attr-defined]
        # Cosine collections store normalised vectors; local mode renormalises in float64.
        assert np.allclose(p.dense, q.dense, atol=1e-6)  # type: ignore[attr-defined]
    again = migrate(edge, server, checkpoint, batch=25, queries=5)  # done: nothing copied again
    assert again.copied == 0 and again.verification.ok
    server.close()


def test_migration_back_to_edge_keeps_payloads_and_filters(edge: EdgeStore, tmp_path: Path) -> None:
    server = ServerStore(HashEmbedder().dim, path=str(tmp_path / "server"))
    migrate(edge, server, tmp_path / "to-server.json", batch=100, queries=5)
    back = EdgeStore(str(tmp_path / "edge-back"), HashEmbedder().dim)
    try:
        report = migrate(server, back, tmp_path / "to-edge.json", batch=100, queries=40)
        assert report.verification.ok
        for flt in (SearchFilters(), SearchFilters(doc_types=frozenset({"minutes"}))):
            assert [h.point_id for h in back.scroll(ALL, flt)] == [h.point_id for h in edge.scroll(ALL, flt)]
    finally:
        back.close()
        server.close()


def test_verification_notices_a_missing_point(edge: EdgeStore, tmp_path: Path) -> None:
    server = ServerStore(HashEmbedder().dim, path=str(tmp_path / "server"))
    migrate(edge, server, tmp_path / "c.json", batch=100, queries=5)
    victim = next(iter(_all(server).values()))
    server.delete_revision(victim.payload["doc_id"], victim.payload["revision"])  # type: ignore[attr-defined]
    check = verify(edge, server, queries=40)
    assert not check.ok and check.target_points < check.source_points
    server.close()


def test_read_consistency_setting_reaches_every_server_query(tmp_path: Path) -> None:
    from qdrant_client import models

    assert StoreSettings(read_consistency="2").read_consistency == "2"
    with pytest.raises(ValueError):
        StoreSettings(read_consistency="most")
    store = build_store(StoreSettings(backend="local", path=tmp_path / "s", read_consistency="majority"), 8)
    assert isinstance(store, ServerStore)
    assert store.read_consistency == models.ReadConsistencyType.MAJORITY
    numbered = ServerStore(8, location=":memory:", read_consistency="2")
    assert numbered.read_consistency == 2
    # local mode accepts the parameter (a server applies it): a query with it runs
    assert store.search([StoreQuery(None, "Haushalt", mode=SearchMode.BM25)], ALL) == [[]]
    store.close()
    numbered.close()


def test_kb_store_migrate_command_copies_and_reports_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from service.store_cli import store_app

    emb = HashEmbedder()
    store = EdgeStore(str(tmp_path / "edge"), emb.dim)
    IngestPipeline(store, emb, IngestSettings(parse_isolation=False)).ingest_paths([CORPUS])
    total = store.count(ALL)
    store.close()
    monkeypatch.setenv("KB_STORE__PATH", str(tmp_path / "edge"))
    common = ["--local", "--server-path", str(tmp_path / "server"), "--dim", str(emb.dim), "--queries", "20"]
    runner = CliRunner()
    out = runner.invoke(
        store_app,
        ["migrate", "--to", "server", *common, "--checkpoint", str(tmp_path / "a.json")],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    assert f"points {total} → {total}; identical top-10 20/20" in out.stdout
    back = runner.invoke(
        store_app,
        [
            "migrate",
            "--to",
            "edge",
            "--edge-path",
            str(tmp_path / "edge2"),
            *common,
            "--checkpoint",
            str(tmp_path / "b.json"),
        ],
        catch_exceptions=False,
    )
    assert back.exit_code == 0, back.output
    assert f"points {total} → {total}" in back.stdout
    assert runner.invoke(store_app, ["migrate", "--to", "cloud"]).exit_code != 0
