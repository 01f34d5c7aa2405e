from __future__ import annotations

import itertools

from ingest.chunking import chunk_document, embedding_text
from ingest.config import ChunkingSettings
from ingest.domain import Block, BlockKind, DocumentMeta, PageSpan, ParsedDocument


def _doc(parts: list[tuple[str, str, tuple[str, ...]]], pages: list[int] | None = None) -> ParsedDocument:
    """Build a parsed document from (kind, text, section_path) parts joined by blank lines."""
    text = ""
    blocks = []
    for kind, body, path in parts:
        if text:
            text += "\n\n"
        start = len(text)
        text += body
        level = len(path) if kind == "h" else 0
        blocks.append(
            Block(
                BlockKind.HEADING if kind == "h" else BlockKind.PARAGRAPH, body, start, len(text), path, level
            )
        )
    spans: tuple[PageSpan, ...] = ()
    if pages:
        bounds = [0, *pages, len(text)]
        spans = tuple(PageSpan(i + 1, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1))
    return ParsedDocument("doc.pdf", "pdf", text, tuple(blocks), spans)


META = DocumentMeta(doc_id="ak/doc.pdf", revision="r1", title="Testdokument", source_path="doc.pdf")
SMALL = ChunkingSettings(target_tokens=40, max_tokens=60, overlap_tokens=10)


def test_chunk_text_is_exact_slice_and_carries_provenance() -> None:
    sentence = "Der Arbeitskreis empfiehlt eine gemeinsame Plattform für alle Mitglieder. "
    doc = _doc(
        [
            ("h", "TOP 1: Begrüßung", ("TOP 1: Begrüßung",)),
            ("p", sentence * 2, ("TOP 1: Begrüßung",)),
            ("h", "TOP 2: Haushalt", ("TOP 2: Haushalt",)),
            ("p", sentence * 6, ("TOP 2: Haushalt",)),
        ],
        pages=[60],
    )
    chunks = chunk_document(doc, META, SMALL)
    assert chunks, "a document with text yields chunks"
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert c.doc_id == "ak/doc.pdf" and c.revision == "r1"
        assert c.page_start is not None and c.page_end is not None and c.page_start <= c.page_end
        assert c.chunk_count == len(chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[0].page_start == 1
    assert chunks[-1].page_end == 2


def test_no_chunk_spans_two_sections() -> None:
    para = "Beschluss: Das Budget wird erhöht. " * 3
    doc = _doc(
        [
            ("h", "TOP 1", ("TOP 1",)),
            ("p", para, ("TOP 1",)),
            ("h", "TOP 2", ("TOP 2",)),
            ("p", para, ("TOP 2",)),
        ]
    )
    chunks = chunk_document(doc, META, ChunkingSettings(target_tokens=500, max_tokens=800, overlap_tokens=0))
    assert len(chunks) == 2
    assert chunks[0].section_path == ("TOP 1",) and "TOP 2" not in chunks[0].text
    assert chunks[1].text.startswith("TOP 2")


def test_heading_only_section_is_merged_forward() -> None:
    doc = _doc(
        [
            ("h", "A. Sachverhalt", ("A. Sachverhalt",)),
            ("h", "I. Ausgangslage", ("A. Sachverhalt", "I. Ausgangslage")),
            ("p", "Die Kommune nutzt einen Cloud-Dienst.", ("A. Sachverhalt", "I. Ausgangslage")),
        ]
    )
    chunks = chunk_document(doc, META, SMALL)
    assert len(chunks) == 1
    assert chunks[0].text.startswith("A. Sachverhalt\n\nI. Ausgangslage")
    assert chunks[0].section_path == ("A. Sachverhalt", "I. Ausgangslage")


def test_long_paragraph_is_split_with_bounded_size_and_overlap() -> None:
    sentences = [f"Satz Nummer {i} beschreibt eine Maßnahme der Informationssicherheit." for i in range(40)]
    doc = _doc([("p", " ".join(sentences), ())])
    settings = ChunkingSettings(target_tokens=40, max_tokens=60, overlap_tokens=20)
    chunks = chunk_document(doc, META, settings)
    assert len(chunks) > 3
    max_chars = settings.max_tokens * settings.chars_per_token
    assert all(len(c.text) <= max_chars for c in chunks)
    # consecutive chunks overlap, and together they cover the whole paragraph
    assert all(b.char_start < a.char_end for a, b in itertools.pairwise(chunks))
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(doc.text)


def test_a_sentence_longer_than_the_maximum_is_hard_split() -> None:
    doc = _doc([("p", "Wort " * 400, ())])
    chunks = chunk_document(doc, META, SMALL)
    assert all(len(c.text) <= SMALL.max_tokens * SMALL.chars_per_token for c in chunks)
    assert chunks[-1].char_end == len(doc.text.rstrip()) or chunks[-1].char_end == len(doc.text)


def test_chunk_ids_are_deterministic_and_distinct() -> None:
    doc = _doc([("p", "Ein Absatz. " * 50, ())])
    first = [c.point_id for c in chunk_document(doc, META, SMALL)]
    second = [c.point_id for c in chunk_document(doc, META, SMALL)]
    assert first == second and len(set(first)) == len(first)


def test_embedding_text_prefixes_title_and_section() -> None:
    doc = _doc(
        [
            ("h", "2. Finanzierung", ("2. Finanzierung",)),
            ("p", "Kosten nach Einwohnern.", ("2. Finanzierung",)),
        ]
    )
    chunk = chunk_document(doc, META, SMALL)[0]
    assert embedding_text(chunk).startswith("Testdokument > 2. Finanzierung\n")
