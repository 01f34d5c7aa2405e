"""The payload schema: what `chunk_payload` writes, `StoredChunk.from_payload` reads back, typed."""

from __future__ import annotations

from ingest.domain import Chunk, DocStatus, DocType, DocumentMeta, Visibility
from ingest.store import (
    ActionItemRecord,
    DecisionRecord,
    Provenance,
    StoredChunk,
    chunk_payload,
)

META = DocumentMeta(
    doc_id="protokolle/ak-ki.md",
    revision="r1",
    title="Protokoll AK KI",
    source_path="protokolle/ak-ki.md",
    doc_type=DocType.MINUTES,
    working_group="ak-ki",
    visibility=Visibility.GROUP,
    date="2025-09-18",
    status=DocStatus.ADOPTED,
    inferred=frozenset({"date", "doc_type"}),
)
DECISION = DecisionRecord("TOP 2 Budget", "Das Pilotbudget wird erhöht.", "einstimmig", 2, 10, 40)
ACTION = ActionItemRecord("TOP 3", "Frau Schmidt", "Angebot einholen", "2025-10-01", 3)
CHUNK = Chunk(
    doc_id=META.doc_id,
    revision=META.revision,
    ordinal=0,
    text="Beschluss: Das Pilotbudget wird erhöht.",
    char_start=5,
    char_end=44,
    page_start=2,
    page_end=3,
    section_path=("TOP 2 Budget", "Beschluss"),
    meta=META,
    chunk_count=4,
    extra={
        "legal_refs": ["§ 3 OZG"],
        "ingested_at": "2025-09-19T08:00:00Z",
        "agenda_item": "TOP 2 Budget",
        "decisions": [DECISION],
        "action_items": [ACTION],
        "attendees": ["Frau Schmidt"],
        "page_count": 5,
    },
)


def test_stored_chunk_reads_back_what_chunk_payload_writes() -> None:
    stored = StoredChunk.from_payload(chunk_payload(CHUNK))
    assert stored.provenance == Provenance(
        doc_id="protokolle/ak-ki.md",
        revision="r1",
        title="Protokoll AK KI",
        source_path="protokolle/ak-ki.md",
        page_start=2,
        page_end=3,
        section_path=("TOP 2 Budget", "Beschluss"),
        char_start=5,
        char_end=44,
        doc_type="minutes",
        working_group="ak-ki",
        visibility="group",
        date="2025-09-18",
    )
    assert (stored.text, stored.ordinal, stored.chunk_count, stored.is_current) == (CHUNK.text, 0, 4, True)
    assert (stored.status, stored.inferred, stored.page_count) == ("adopted", ("date", "doc_type"), 5)
    assert stored.decisions == (DECISION,) and stored.action_items == (ACTION,)
    assert stored.legal_refs == ("§ 3 OZG",) and stored.attendees == ("Frau Schmidt",)
    assert (stored.agenda_item, stored.ingested_at) == ("TOP 2 Budget", "2025-09-19T08:00:00Z")


def test_payload_is_flat_json_with_the_filter_keys() -> None:
    payload = chunk_payload(CHUNK)
    assert payload["section_path"] == ["TOP 2 Budget", "Beschluss"]
    assert payload["decisions"][0] == {
        "agenda_item": "TOP 2 Budget",
        "text": "Das Pilotbudget wird erhöht.",
        "vote": "einstimmig",
        "page": 2,
        "char_start": 10,
        "char_end": 40,
    }
    assert (payload["is_current"], payload["has_decisions"], payload["date_num"]) == (1, 1, 20250918)


def test_provenance_round_trips_and_tolerates_missing_fields() -> None:
    provenance = Provenance.of(CHUNK)
    assert Provenance.from_payload(provenance.to_payload()) == provenance
    sparse = Provenance.from_payload({"doc_id": "a.md", "text": "x"})
    assert (sparse.title, sparse.page_start, sparse.section_path, sparse.char_end) == ("a.md", None, (), 0)
