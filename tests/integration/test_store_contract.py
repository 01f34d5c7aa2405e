"""One contract, two stores: Qdrant Edge (embedded default) and qdrant-client (server API, local mode here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import embedding_text
from ingest.domain import AccessScope, Chunk, DocType, DocumentMeta, ScoredChunk, Visibility
from ingest.store import (
    EdgeStore,
    SearchFilters,
    SearchMode,
    ServerStore,
    Store,
    StoreQuery,
    fuse_rrf,
    with_payloads,
)
from tests.fakes import HashEmbedder

EMB = HashEmbedder()


def _meta(
    doc_id: str,
    wg: str,
    vis: Visibility,
    revision: str = "r1",
    date: str = "2025-09-18",
    doc_type: DocType = DocType.MINUTES,
) -> DocumentMeta:
    return DocumentMeta(
        doc_id=doc_id,
        revision=revision,
        title=doc_id,
        source_path=doc_id,
        doc_type=doc_type,
        working_group=wg,
        visibility=vis,
        date=date,
    )


def _chunks(meta: DocumentMeta, texts: list[str]) -> list[Chunk]:
    return [
        Chunk(
            meta.doc_id,
            meta.revision,
            i,
            t,
            0,
            len(t),
            1,
            1,
            (),
            meta,
            chunk_count=len(texts),
            extra={"legal_refs": ["§ 3 Abs. 2 OZG"] if "OZG" in t else []},
        )
        for i, t in enumerate(texts)
    ]


def _write(store: Store, chunks: list[Chunk]) -> None:
    texts = [embedding_text(c) for c in chunks]
    store.upsert(chunks, EMB.embed_passages(texts), texts)


@pytest.fixture(params=["edge", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = EdgeStore(str(tmp_path / "edge"), EMB.dim) if request.param == "edge" else ServerStore(EMB.dim)
    ki = _meta("ki.md", "ak-ki", Visibility.INTERNAL)
    rz = _meta("rz.pdf", "ak-rz", Visibility.CONFIDENTIAL, date="2024-05-01", doc_type=DocType.ORG_REPORT)
    pub = _meta("pub.pdf", "ak-ki", Visibility.PUBLIC, date="2023-01-10", doc_type=DocType.POSITION_PAPER)
    _write(
        s,
        _chunks(
            ki,
            ["Das Pilotbudget für KI wird auf 320.000 EUR erhöht.", "Die GPU-Ausstattung umfasst 16 GPUs."],
        ),
    )
    _write(
        s,
        _chunks(
            rz, ["Die Konsolidierung der Rechenzentren spart 4 Mio. EUR.", "Standort Köln wird geschlossen."]
        ),
    )
    _write(
        s,
        _chunks(
            pub,
            ["Der Verband fordert die Umsetzung nach § 3 Abs. 2 OZG.", "Portalverbund und OZG-Leistungen."],
        ),
    )
    s.optimize()
    yield s
    s.close()


def _query(text: str, mode: SearchMode = SearchMode.HYBRID, limit: int = 10, **filters: object) -> StoreQuery:
    return StoreQuery(EMB.embed_query(text), text, mode, limit, 20, SearchFilters(**filters))  # type: ignore[arg-type]


ALL = AccessScope.everything()


@pytest.mark.parametrize("mode", list(SearchMode))
def test_each_mode_finds_the_matching_passage_first(store: Store, mode: SearchMode) -> None:
    [hits] = store.search([_query("Pilotbudget KI erhöht", mode)], ALL)
    assert hits[0].payload["doc_id"] == "ki.md" and "320.000" in hits[0].text


def test_payload_carries_provenance(store: Store) -> None:
    [hits] = store.search([_query("Rechenzentren Konsolidierung")], ALL)
    p = hits[0].payload
    for key in (
        "doc_id",
        "revision",
        "title",
        "source_path",
        "page_start",
        "page_end",
        "section_path",
        "char_start",
        "char_end",
        "doc_type",
        "working_group",
        "visibility",
        "date",
    ):
        assert key in p


def test_scope_hides_other_groups_and_visibility(store: Store) -> None:
    scope = AccessScope.for_groups(["ak-ki"])
    docs = {h.doc_id for h in store.search([_query("Rechenzentren Konsolidierung Köln")], scope)[0]}
    assert "rz.pdf" not in docs and docs <= {"ki.md", "pub.pdf"}
    assert store.count(scope) == 4
    assert {h.doc_id for h in store.scroll(AccessScope.public_only(), SearchFilters())} == {"pub.pdf"}
    assert store.count(AccessScope.for_groups(["ak-rz"])) == 4  # internal of ak-ki + public; not confidential
    assert store.count(AccessScope.for_groups([], editor_of=["ak-rz"])) == 6  # editors read confidential


# -- visibility × role ---------------------------------------------------------------------------------------
GROUPS = ("ak-a", "ak-b")


@pytest.fixture(params=["edge", "local"])
def matrix_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """One document per working group × visibility level, each with the same searchable word."""
    s: Store = EdgeStore(str(tmp_path / "edge"), EMB.dim) if request.param == "edge" else ServerStore(EMB.dim)
    for group in GROUPS:
        for vis in Visibility:
            meta = _meta(f"{group}-{vis.value}", group, vis)
            _write(s, _chunks(meta, [f"Kanarienvogel {group} {vis.value} Sitzung"]))
    s.optimize()
    yield s
    s.close()


SCOPES = {
    "signed in, no group": AccessScope.public_only(),
    "reader ak-a": AccessScope.for_groups(["ak-a"]),
    "editor ak-a": AccessScope.for_groups([], editor_of=["ak-a"]),
    "reader ak-a, editor ak-b": AccessScope.for_groups(["ak-a"], editor_of=["ak-b"]),
    "global admin": AccessScope.everything(),
}


def _expected(scope: AccessScope) -> set[str]:
    return {f"{g}-{v.value}" for g in GROUPS for v in Visibility if scope.may_read(g, v.value)}


def test_visibility_rule_by_role_is_the_documented_one() -> None:
    assert _expected(SCOPES["signed in, no group"]) == {"ak-a-public", "ak-b-public"}
    assert _expected(SCOPES["reader ak-a"]) == {
        "ak-a-public",
        "ak-b-public",
        "ak-a-internal",
        "ak-b-internal",
        "ak-a-group",
    }
    assert _expected(SCOPES["editor ak-a"]) == _expected(SCOPES["reader ak-a"]) | {"ak-a-confidential"}
    assert _expected(SCOPES["reader ak-a, editor ak-b"]) == _expected(SCOPES["reader ak-a"]) | {
        "ak-b-group",
        "ak-b-confidential",
    }
    assert len(_expected(SCOPES["global admin"])) == 8


@pytest.mark.parametrize("who", list(SCOPES))
@pytest.mark.parametrize("mode", list(SearchMode))
def test_search_returns_exactly_what_the_role_may_read(
    matrix_store: Store, who: str, mode: SearchMode
) -> None:
    scope = SCOPES[who]
    [hits] = matrix_store.search([_query("Kanarienvogel Sitzung", mode, limit=20)], scope)
    assert {h.doc_id for h in hits} == _expected(scope)


@pytest.mark.parametrize("who", list(SCOPES))
def test_scroll_and_count_apply_the_same_scope(matrix_store: Store, who: str) -> None:
    scope = SCOPES[who]
    assert {h.doc_id for h in matrix_store.scroll(scope, SearchFilters())} == _expected(scope)
    assert matrix_store.count(scope) == len(_expected(scope))


def test_request_filters_only_narrow_the_scope(matrix_store: Store) -> None:
    reader = SCOPES["reader ak-a"]
    other_group = SearchFilters(working_groups=frozenset({"ak-b"}))
    assert {h.doc_id for h in matrix_store.scroll(reader, other_group)} == {"ak-b-public", "ak-b-internal"}
    confidential = SearchFilters(visibilities=frozenset({"confidential"}))
    assert matrix_store.scroll(reader, confidential) == []
    guessed = SearchFilters(doc_ids=frozenset({"ak-b-group", "ak-b-confidential"}), include_history=True)
    assert matrix_store.count(reader, guessed) == 0
    [hits] = matrix_store.search(
        [_query("Kanarienvogel", doc_ids=frozenset({"ak-a-confidential"}), revision="r1")], reader
    )
    assert hits == []


def test_filters_narrow_results(store: Store) -> None:
    def docs(**f: object) -> set[str]:
        return {h.doc_id for h in store.search([_query("EUR OZG GPU Standort", **f)], ALL)[0]}

    assert docs(doc_types=frozenset({"org_report"})) == {"rz.pdf"}
    assert docs(working_groups=frozenset({"ak-ki"})) == {"ki.md", "pub.pdf"}
    assert docs(date_from="2024-01-01") == {"ki.md", "rz.pdf"}
    assert docs(date_to="2023-12-31") == {"pub.pdf"}
    assert docs(legal_refs=frozenset({"§ 3 Abs. 2 OZG"})) == {"pub.pdf"}


def test_batch_search_returns_one_list_per_query(store: Store) -> None:
    results = store.search([_query("Pilotbudget"), _query("Standort Köln", SearchMode.BM25)], ALL)
    assert len(results) == 2 and results[1][0].doc_id == "rz.pdf"


def test_upsert_is_idempotent(store: Store) -> None:
    before = store.count(ALL)
    _write(
        store,
        _chunks(
            _meta("ki.md", "ak-ki", Visibility.INTERNAL),
            ["Das Pilotbudget für KI wird auf 320.000 EUR erhöht.", "Die GPU-Ausstattung umfasst 16 GPUs."],
        ),
    )
    assert store.count(ALL) == before


def test_new_revision_retires_old_one_but_keeps_it(store: Store) -> None:
    new = _meta("ki.md", "ak-ki", Visibility.INTERNAL, revision="r2")
    _write(store, _chunks(new, ["Das Pilotbudget beträgt nun 400.000 EUR."]))
    store.retire_other_revisions("ki.md", "r2")
    [hits] = store.search([_query("Pilotbudget", doc_ids=frozenset({"ki.md"}))], ALL)
    assert {h.payload["revision"] for h in hits} == {"r2"}
    [old] = store.search([_query("Pilotbudget", doc_ids=frozenset({"ki.md"}), revision="r1")], ALL)
    assert old and {h.payload["revision"] for h in old} == {"r1"}
    assert (
        store.count(ALL, SearchFilters(doc_ids=frozenset({"ki.md"}), only_heads=True, include_history=True))
        == 2
    )


def test_delete_document_and_revision(store: Store) -> None:
    assert store.delete_document("rz.pdf") == 2
    assert store.count(ALL, SearchFilters(doc_ids=frozenset({"rz.pdf"}), include_history=True)) == 0
    assert store.delete_revision("ki.md", "r1") == 2
    assert store.count(ALL) == 2


def test_heads_list_one_point_per_document(store: Store) -> None:
    heads = store.scroll(ALL, SearchFilters(only_heads=True))
    assert sorted(h.doc_id for h in heads) == ["ki.md", "pub.pdf", "rz.pdf"]


def test_edge_store_is_locked_while_open(tmp_path: Path) -> None:
    from ingest.errors import StoreLocked

    first = EdgeStore(str(tmp_path / "s"), EMB.dim)
    try:
        with pytest.raises(StoreLocked):
            EdgeStore(str(tmp_path / "s"), EMB.dim)
    finally:
        first.close()
    reopened = EdgeStore(str(tmp_path / "s"), EMB.dim)
    reopened.close()


def test_edge_store_survives_reopen(tmp_path: Path) -> None:
    s = EdgeStore(str(tmp_path / "s"), EMB.dim)
    meta = _meta("a.md", "ak", Visibility.PUBLIC)
    _write(s, _chunks(meta, ["Erster Absatz.", "Zweiter Absatz."]))
    s.close()
    s = EdgeStore(str(tmp_path / "s"), EMB.dim)
    try:
        assert s.count(ALL) == 2
    finally:
        s.close()


def test_replace_keeps_payload_fields(store: Store) -> None:
    chunk = _chunks(_meta("x.md", "ak", Visibility.GROUP), ["Text."])[0]
    _write(store, [replace(chunk, extra={"legal_refs": [], "decisions": [{"text": "Beschluss"}]})])
    [hit] = store.scroll(ALL, SearchFilters(doc_ids=frozenset({"x.md"}), has_decisions=True))
    assert hit.payload["decisions"] == [{"text": "Beschluss"}]


@pytest.mark.parametrize(("bm25_weight", "first"), [(0.25, "rz.pdf"), (2.0, "ki.md")])
def test_bm25_weight_shifts_the_fusion(store: Store, bm25_weight: float, first: str) -> None:
    # The dense ranking puts the Köln passage first, BM25 the Pilotbudget passage; with k=1 the weight decides.
    dense = EMB.embed_query("Standort Köln wird geschlossen.")
    query = StoreQuery(
        dense, "Pilotbudget erhöht", SearchMode.HYBRID, 3, 20, rrf_k=1, bm25_weight=bm25_weight
    )
    [hits] = store.search([query], ALL)
    assert hits[0].doc_id == first


def _hit(pid: str) -> ScoredChunk:
    return ScoredChunk(pid, 0.0, {"doc_id": pid})


def test_fuse_rrf_weights_the_rankings() -> None:
    dense = [_hit("a"), _hit("b"), _hit("c")]
    bm25 = [_hit("b"), _hit("d")]
    fused = fuse_rrf([(dense, 1.0), (bm25, 1.2)], k=5, limit=10)
    assert [h.point_id for h in fused] == ["b", "a", "d", "c"]
    assert fused[0].score == pytest.approx(1 / 6 + 1.2 / 5)
    assert fused[1].score == pytest.approx(1 / 5)
    assert fused[2].score == pytest.approx(1.2 / 6)
    # The weight decides between two first-ranked passages (Qdrant's weighted RRF cannot do that).
    assert [h.point_id for h in fuse_rrf([([_hit("x")], 1.0), ([_hit("y")], 1.2)], 5, 2)] == ["y", "x"]
    assert [h.point_id for h in fuse_rrf([([_hit("x")], 1.0), ([_hit("y")], 0.8)], 5, 2)] == ["x", "y"]
    # Equal scores are ordered by point id: reproducible.
    assert [h.point_id for h in fuse_rrf([([_hit("q")], 1.0), ([_hit("p")], 1.0)], 5, 2)] == ["p", "q"]


def test_with_payloads_fetches_once_and_drops_vanished_points() -> None:
    calls: list[list[str]] = []

    def fetch(ids: list[str]) -> dict[str, dict[str, object]]:
        calls.append(ids)
        return {"a": {"doc_id": "a.md"}}

    kept = ScoredChunk("k", 1.0, {"doc_id": "k.md"})
    results = [[ScoredChunk("a", 0.5, {}), kept], [ScoredChunk("gone", 0.4, {}), ScoredChunk("a", 0.3, {})]]
    out = with_payloads(results, fetch)
    assert calls == [["a", "gone"]]
    assert [[(h.point_id, h.payload["doc_id"]) for h in hits] for hits in out] == [
        [("a", "a.md"), ("k", "k.md")],
        [("a", "a.md")],
    ]


def test_exact_dense_search_ranks_by_true_cosine(store: Store) -> None:
    """`exact=True` (used to verify a migrated copy) is accepted by both stores and ranks every stored passage
    by its true cosine to the query, the ranking numpy computes from the fixture's own vectors."""
    ki = _meta("ki.md", "ak-ki", Visibility.INTERNAL)
    rz = _meta("rz.pdf", "ak-rz", Visibility.CONFIDENTIAL, date="2024-05-01", doc_type=DocType.ORG_REPORT)
    pub = _meta("pub.pdf", "ak-ki", Visibility.PUBLIC, date="2023-01-10", doc_type=DocType.POSITION_PAPER)
    chunks = [
        *_chunks(
            ki,
            ["Das Pilotbudget für KI wird auf 320.000 EUR erhöht.", "Die GPU-Ausstattung umfasst 16 GPUs."],
        ),
        *_chunks(
            rz, ["Die Konsolidierung der Rechenzentren spart 4 Mio. EUR.", "Standort Köln wird geschlossen."]
        ),
        *_chunks(
            pub,
            ["Der Verband fordert die Umsetzung nach § 3 Abs. 2 OZG.", "Portalverbund und OZG-Leistungen."],
        ),
    ]
    passages = EMB.embed_passages([embedding_text(c) for c in chunks])
    query = EMB.embed_query("Budget der Rechenzentren und GPUs")
    cosine = passages @ query / (np.linalg.norm(passages, axis=1) * np.linalg.norm(query))
    true = {c.point_id: float(x) for c, x in zip(chunks, cosine, strict=True)}
    exact = StoreQuery(query, "", SearchMode.DENSE, limit=6, filters=SearchFilters(), exact=True)
    hits = store.search([exact], ALL)[0][:6]
    assert {h.point_id for h in hits} == set(true)
    assert [h.score for h in hits] == pytest.approx([true[h.point_id] for h in hits], abs=1e-5)
    # Ranked by the true cosine (ties may come in either order).
    assert [true[h.point_id] for h in hits] == pytest.approx(sorted(true.values(), reverse=True), abs=1e-5)


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_bm25_with_compounds_finds_the_compound_by_its_parts_and_without_it_does_not(
    tmp_path: Path, backend: str
) -> None:
    meta = _meta("protokoll.md", "ak-ki", Visibility.INTERNAL)
    texts = ["Die Stadt bezuschusst Vereinsveranstaltungen in städtischen Räumen.", "Der Haushalt ist knapp."]
    found: dict[tuple[str, str], list[str]] = {}
    for compounds in ("off", "documents", "queries", "both"):
        s: Store = (
            EdgeStore(str(tmp_path / f"edge-{compounds}"), EMB.dim, bm25_compounds=compounds)
            if backend == "edge"
            else ServerStore(EMB.dim, bm25_compounds=compounds)
        )
        _write(s, _chunks(meta, texts))
        s.optimize()
        for question in ("Veranstaltungen der Vereine", "Vereinsveranstaltungen"):
            [hits] = s.search([_query(question, SearchMode.BM25)], ALL)
            found[compounds, question] = [h.text for h in hits]
        s.close()
    # Parts in the documents find a query in separate words; in the query they find nothing new here.
    assert found["off", "Veranstaltungen der Vereine"] == []
    assert found["documents", "Veranstaltungen der Vereine"][:1] == [texts[0]]
    assert found["queries", "Veranstaltungen der Vereine"] == []
    assert found["both", "Veranstaltungen der Vereine"][:1] == [texts[0]]
    assert all(found[mode, "Vereinsveranstaltungen"][:1] == [texts[0]] for mode in ("off", "queries", "both"))
