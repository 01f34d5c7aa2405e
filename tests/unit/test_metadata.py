from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from ingest.domain import Block, BlockKind, DocStatus, DocType, DocumentMeta, ParsedDocument, Visibility
from ingest.errors import InvalidMetadata
from ingest.metadata import (
    MetadataOverrides,
    infer_date,
    infer_doc_type,
    infer_title,
    parse_date,
    read_sidecar,
    resolve_metadata,
)

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
CORPUS_REAL = DATASETS / "corpus-real"
CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def doc(
    text: str = "Ein Absatz ohne Hinweise.",
    *,
    heading: str | None = None,
    metadata: dict[str, Any] | None = None,
    path: str = "dokumente/bericht_2025.pdf",
) -> ParsedDocument:
    blocks: list[Block] = []
    full = text
    if heading is not None:
        full = f"{heading}\n\n{text}"
        blocks.append(Block(BlockKind.HEADING, heading, 0, len(heading), (heading,), 1))
    start = len(full) - len(text)
    blocks.append(Block(BlockKind.PARAGRAPH, text, start, len(full), (heading,) if heading else ()))
    return ParsedDocument(path, "pdf", full, tuple(blocks), metadata=metadata or {})


def resolve(parsed: ParsedDocument, **kwargs: Any) -> DocumentMeta:
    return resolve_metadata(parsed, doc_id="doc-1", revision="rev-1", **kwargs)


def real_file(*parts: str) -> Path:
    path = CORPUS_REAL.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"dataset file not found: {path}")
    return path


# --- precedence ---------------------------------------------------------------------------------------------


def test_flag_beats_sidecar_beats_front_matter_beats_content() -> None:
    parsed = doc(
        "Niederschrift der Sitzung vom 12.03.2025. TOP 1: Begrüßung",
        metadata={
            "front_matter": {
                "title": "FM-Titel",
                "date": "2025-01-01",
                "visibility": "public",
                "type": "law",
            },
            "title": "Dateieigenschaft",
        },
    )
    sidecar = {"title": "Sidecar-Titel", "visibility": "group", "doc_type": "position_paper"}
    overrides = MetadataOverrides(visibility="confidential")
    meta = resolve(parsed, overrides=overrides, sidecar=sidecar)
    assert meta.visibility is Visibility.CONFIDENTIAL  # flag
    assert meta.title == "Sidecar-Titel"  # sidecar over front matter and file property
    assert meta.doc_type is DocType.POSITION_PAPER  # sidecar over front matter and content (minutes)
    assert meta.date == "2025-01-01"  # front matter over content
    assert meta.inferred == frozenset()


def test_front_matter_beats_file_properties_and_content() -> None:
    parsed = doc(
        "Protokoll der Sitzung am 12.03.2025, TOP 1",
        metadata={"front_matter": {"titel": "Aus dem Front Matter"}, "title": "Aus den Eigenschaften"},
    )
    meta = resolve(parsed)
    assert meta.title == "Aus dem Front Matter"
    assert meta.doc_type is DocType.MINUTES
    assert meta.date == "2025-03-12"
    assert meta.inferred == {"doc_type", "date"}


def test_file_properties_beat_content_but_count_as_inferred() -> None:
    parsed = doc(
        "Sitzung vom 12.03.2025",
        heading="Überschrift im Text",
        metadata={"title": "Titel aus den PDF-Eigenschaften", "created": "2025-04-01"},
    )
    meta = resolve(parsed)
    assert meta.title == "Titel aus den PDF-Eigenschaften"
    assert meta.date == "2025-04-01"
    assert {"title", "date"} <= meta.inferred


def test_meeting_date_in_minutes_beats_the_file_creation_date() -> None:
    minutes = "Niederschrift der 25. Sitzung am 23. Juni 2026\nTOP 1: Begrüßung\nTOP 2: Haushalt"
    created = {"created": "2026-07-02"}
    meta = resolve(doc(minutes, metadata=created))
    assert meta.doc_type is DocType.MINUTES
    assert meta.date == "2026-06-23"
    assert "date" in meta.inferred
    # An explicit date still wins, from every explicit source.
    assert resolve(doc(minutes, metadata=created), overrides=MetadataOverrides(date="2026-06-24")).date == (
        "2026-06-24"
    )
    assert resolve(doc(minutes, metadata=created), sidecar={"datum": "24.06.2026"}).date == "2026-06-24"
    with_front_matter = {**created, "front_matter": {"date": "2026-06-25"}}
    assert resolve(doc(minutes, metadata=with_front_matter)).date == "2026-06-25"
    # Minutes without a date in the text fall back to the file's date; other documents keep it first.
    assert resolve(doc("Protokoll\nTOP 1: Begrüßung", metadata=created)).date == "2026-07-02"
    report = "Organisationsgutachten, Stand 30. September 2025"
    assert resolve(doc(report, metadata=created)).date == "2026-07-02"


def test_application_titles_are_cleaned() -> None:
    word = {"title": "Microsoft Word - Niederschrift AK Digitalisierung.docx"}
    assert (
        resolve(doc("Text", heading="Überschrift", metadata=word)).title == "Niederschrift AK Digitalisierung"
    )
    file_name = {"title": "Microsoft Word - protokoll_final.doc"}
    assert resolve(doc("Text", heading="Überschrift", metadata=file_name)).title == "Überschrift"
    slides = {"title": "Microsoft PowerPoint - Sachstand OZG"}
    assert infer_title(doc("Text", metadata=slides)) == "Sachstand OZG"


def test_defaults_when_nothing_is_known() -> None:
    meta = resolve(doc("ohne jeden Hinweis", path="x/notiz.txt"))
    assert meta.doc_type is DocType.OTHER
    assert meta.working_group == "allgemein"
    assert meta.visibility is Visibility.GROUP
    assert meta.status is None and meta.date is None and meta.version is None
    assert meta.title == "ohne jeden Hinweis"  # the first line
    assert meta.doc_id == "doc-1" and meta.revision == "rev-1" and meta.source_path == "x/notiz.txt"


def test_overrides_fill_every_field() -> None:
    overrides = MetadataOverrides(
        doc_type="Gutachten",
        working_group="AK Recht",
        visibility="öffentlich",
        date="1. März 2024",
        title="Mein Titel",
        status="Entwurf",
        version="2",
        supersedes="gutachten-2023",
    )
    meta = resolve(doc(), overrides=overrides)
    assert (meta.doc_type, meta.visibility, meta.status) == (
        DocType.LEGAL_OPINION,
        Visibility.PUBLIC,
        DocStatus.DRAFT,
    )
    assert (meta.working_group, meta.date, meta.title) == ("AK Recht", "2024-03-01", "Mein Titel")
    assert (meta.version, meta.supersedes) == ("2", "gutachten-2023")


def test_yaml_values_are_normalised() -> None:
    sidecar = {"date": dt.date(2025, 3, 12), "version": 1.0, "status": "beschlossen"}
    meta = resolve(doc(), sidecar=sidecar)
    assert (meta.date, meta.version, meta.status) == ("2025-03-12", "1.0", DocStatus.ADOPTED)


# --- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Protokoll", DocType.MINUTES),
        ("Niederschrift", DocType.MINUTES),
        ("Rechtsgutachten", DocType.LEGAL_OPINION),
        ("Organisationsgutachten", DocType.ORG_REPORT),
        ("Bericht", DocType.ORG_REPORT),
        ("Positionspapier", DocType.POSITION_PAPER),
        ("Satzung", DocType.LAW),
        ("Verordnung", DocType.LAW),
        ("legal-opinion", DocType.LEGAL_OPINION),
        ("MINUTES", DocType.MINUTES),
    ],
)
def test_doc_type_synonyms(value: str, expected: DocType) -> None:
    assert resolve(doc(), overrides=MetadataOverrides(doc_type=value)).doc_type is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("öffentlich", Visibility.PUBLIC),
        ("intern", Visibility.INTERNAL),
        ("Vertraulich", Visibility.CONFIDENTIAL),
        ("gruppe", Visibility.GROUP),
    ],
)
def test_visibility_synonyms(value: str, expected: Visibility) -> None:
    assert resolve(doc(), sidecar={"visibility": value}).visibility is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Entwurf", DocStatus.DRAFT), ("beschlossen", DocStatus.ADOPTED), ("überholt", DocStatus.SUPERSEDED)],
)
def test_status_synonyms(value: str, expected: DocStatus) -> None:
    assert resolve(doc(), sidecar={"status": value}).status is expected


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("doc_type", "Memo", "position_paper"),
        ("visibility", "geheim", "confidential"),
        ("status", "fertig", "superseded"),
        ("date", "irgendwann", "12.03.2025"),
    ],
)
def test_invalid_flag_values_name_the_field_and_the_allowed_values(
    field: str, value: str, allowed: str
) -> None:
    with pytest.raises(InvalidMetadata) as raised:
        resolve(doc(), overrides=MetadataOverrides(**{field: value}))
    assert raised.value.code == "invalid_metadata"
    assert field in raised.value.message and value in raised.value.message
    assert allowed in raised.value.message


def test_invalid_sidecar_value_is_an_error() -> None:
    with pytest.raises(InvalidMetadata, match="doc_type"):
        resolve(doc(), sidecar={"doc_type": "Memo"})


def test_unknown_sidecar_key_is_an_error() -> None:
    with pytest.raises(InvalidMetadata, match="visibilty"):
        resolve(doc(), sidecar={"visibilty": "confidential"})


def test_foreign_front_matter_values_are_ignored_but_visibility_is_strict() -> None:
    parsed = doc(
        "Positionspapier des Arbeitskreises",
        metadata={
            "front_matter": {"type": "post", "status": "published", "date": "Juli 2024", "layout": "x"}
        },
    )
    meta = resolve(parsed)
    assert meta.doc_type is DocType.POSITION_PAPER  # inferred, the front matter "post" is not ours
    assert meta.status is None
    assert meta.date is None
    with pytest.raises(InvalidMetadata, match="visibility"):
        resolve(doc(metadata={"front_matter": {"visibility": "vertraulch"}}))


# --- sidecar ------------------------------------------------------------------------------------------------


def test_read_sidecar(tmp_path: Path) -> None:
    document = tmp_path / "gutachten.pdf"
    document.write_bytes(b"%PDF")
    assert read_sidecar(document) == {}
    sidecar = tmp_path / "gutachten.pdf.meta.yaml"
    sidecar.write_text("title: Gutachten\ndate: 2025-03-12\nvisibility: vertraulich\n", encoding="utf-8")
    assert read_sidecar(document) == {
        "title": "Gutachten",
        "date": dt.date(2025, 3, 12),
        "visibility": "vertraulich",
    }
    sidecar.write_text("", encoding="utf-8")
    assert read_sidecar(document) == {}


@pytest.mark.parametrize("content", ["title: [unclosed\n", "- a\n- b\n", "just a string\n"])
def test_read_sidecar_rejects_bad_yaml(tmp_path: Path, content: str) -> None:
    document = tmp_path / "a.docx"
    (tmp_path / "a.docx.meta.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(InvalidMetadata):
        read_sidecar(document)


# --- dates --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-12", "2025-03-12"),
        ("2025-03-12T10:30:00", "2025-03-12"),
        ("12.03.2025", "2025-03-12"),
        ("1.3.2025", "2025-03-01"),
        ("12. März 2025", "2025-03-12"),
        ("3. Okt. 2024", "2024-10-03"),
        ("28.01.15", "2015-01-28"),
        (dt.date(2025, 3, 12), "2025-03-12"),
        (dt.datetime(2025, 3, 12, 9, 0), "2025-03-12"),
        ("D:20250312101500+01'00'", "2025-03-12"),
        ("31.02.2025", None),
        ("März 2025", None),
        ("Sitzung am 12.03.2025", None),
        (20250312, None),
    ],
)
def test_parse_date(value: object, expected: str | None) -> None:
    assert parse_date(value) == expected


def test_infer_date_takes_the_first_date_near_the_start() -> None:
    assert infer_date("Protokoll\nSitzung vom 12. März 2025, nächste am 2025-04-01") == "2025-03-12"
    assert infer_date("Version 1.2.30 vom 31.02.2025, gültig ab 01.04.2025") == "2025-04-01"
    assert infer_date("x" * 2500 + " 12.03.2025") is None
    assert infer_date("kein Datum") is None


# --- inference ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Niederschrift", "Sitzung des AK. TOP 1: Begrüßung", DocType.MINUTES),
        ("Protokoll AK KI", "Tagesordnung: 1. Begrüßung", DocType.MINUTES),
        ("Gutachten", "zur rechtlichen Zulässigkeit nach § 203 StGB", DocType.LEGAL_OPINION),
        ("Rechtsgutachten Cloud", "Text", DocType.LEGAL_OPINION),
        ("Organisationsgutachten Rechenzentren", "rechtlich § 1", DocType.ORG_REPORT),
        ("Organisationsuntersuchung", "Text", DocType.ORG_REPORT),
        ("Positionspapier KI", "Text", DocType.POSITION_PAPER),
        ("Handlungsempfehlung", "Text", DocType.RECOMMENDATION),
        ("Stellungnahme der Verwaltung", "Text", DocType.POSITION_PAPER),
        ("Gesetz zur Förderung der elektronischen Verwaltung", "Text", DocType.LAW),
        ("Verbandssatzung", "Text", DocType.LAW),
        ("Ohne Titel", "§ 1 Geltungsbereich\n(1) Diese Regeln gelten", DocType.LAW),
        ("Jahresbericht 2024", "Text", DocType.ORG_REPORT),
        ("Open Source in München", "Wir nutzen freie Software. Top Thema.", None),
        ("Beschlussvorlage", "Beratungsfolge Sitzung am TOP ö nö Ergebnis\nTermin: Vorlage Nr.: TOP:", None),
    ],
)
def test_infer_doc_type(title: str, text: str, expected: DocType | None) -> None:
    assert infer_doc_type(doc(text, heading=title)) is expected


def test_infer_title_skips_junk_properties_and_urls() -> None:
    junk = {"title": "Microsoft Word - protokoll_final.doc"}
    assert (
        infer_title(doc("Text", heading="Protokoll der 3. Sitzung", metadata=junk))
        == "Protokoll der 3. Sitzung"
    )
    assert infer_title(doc("Text", metadata={"title": "Dokument1"})) == "Text"
    assert infer_title(doc("Erste Zeile\nzweite Zeile", metadata={"title": "  "})) == "Erste Zeile"
    assert infer_title(doc("x" * 130, path="a/b/protokoll_ak_ki.pdf")) == "protokoll ak ki"
    assert infer_title(doc("Text", heading="backlink: https://pad.example.org/p/x")) == "Text"
    assert infer_title(doc("Text", metadata={"title": "Rechtsgutachten Cloud"})) == "Rechtsgutachten Cloud"


# --- real files ---------------------------------------------------------------------------------------------


def test_bundestag_law_front_matter() -> None:
    from ingest.parsers import parse_file

    meta = resolve(parse_file(real_file("bundestag-gesetze", "ozg.md")))
    assert meta.title == "Gesetz zur Verbesserung des Onlinezugangs zu Verwaltungsleistungen"  # "Title:"
    assert meta.doc_type is DocType.LAW  # "jurabk: OZG"
    assert meta.date == "2017-08-14"  # the Ausfertigungsdatum, the first date in the text
    assert meta.inferred == {"date"}


def test_muenchen_pages_with_and_without_front_matter() -> None:
    from ingest.parsers import parse_file

    page = resolve(parse_file(real_file("muenchen-opensource-itm", "de", "software", "7-zip.md")))
    assert page.title == "7-Zip"
    assert "title" not in page.inferred
    plain = resolve(parse_file(real_file("muenchen-opensource-itm", "de", "grundlagen_2023.md")))
    assert plain.title == "Open Source in der Münchner Stadtverwaltung"
    assert "title" in plain.inferred


def test_amtsschimmel_front_matter_in_german() -> None:
    from ingest.parsers import parse_file

    path = real_file(
        "amtsschimmel-ragsource", "Regelungsmodul-GVV_Raum_Bad_Boll", "GVV-BBO_Satzung_Verbandssatzung.md"
    )
    meta = resolve(parse_file(path))
    assert meta.title == "Verbandsatzung des Gemeindeverwaltungsverbandes Raum Bad Boll"  # "titel:"
    assert meta.date == "2024-07-01"  # "veroeffentlicht:"
    assert meta.status is None  # "status: published" is not one of ours
    assert meta.version == "1.0"
    assert meta.doc_type is DocType.LAW  # inferred from "Satzung"


def test_project_corpus_minutes_front_matter() -> None:
    from ingest.parsers import parse_file

    path = CORPUS / "protokoll-ak-ki-2025-09-18.md"
    meta = resolve(parse_file(path))
    assert meta.doc_type is DocType.MINUTES
    assert meta.working_group == "AK KI und Automatisierung"
    assert (meta.date, meta.visibility, meta.status) == ("2025-09-18", Visibility.INTERNAL, DocStatus.ADOPTED)
    assert meta.inferred == frozenset()


def test_project_corpus_sidecar() -> None:
    from ingest.parsers import parse_file

    path = CORPUS / "organisationsgutachten-rechenzentren.pdf"
    meta = resolve(parse_file(path), sidecar=read_sidecar(path))
    assert meta.doc_type is DocType.ORG_REPORT
    assert meta.visibility is Visibility.CONFIDENTIAL
    assert meta.working_group == "AK Rechenzentren"
