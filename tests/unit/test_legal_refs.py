from __future__ import annotations

from pathlib import Path

import pytest

from ingest.legal_refs import extract_legal_refs, normalise_legal_ref

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
LAWS = DATASETS / "corpus-real" / "bundestag-gesetze"


def law_text(name: str) -> str:
    path = LAWS / name
    if not path.is_file():
        pytest.skip(f"dataset file not found: {path}")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Nach § 3 Abs. 2 OZG ist das zulässig.", ["§ 3 Abs. 2 OZG"]),
        ("Die §§ 3, 4 EGovG gelten entsprechend.", ["§ 3 EGovG", "§ 4 EGovG"]),
        ("Rechtsgrundlage ist Art. 6 Abs. 1 lit. e DSGVO.", ["Art. 6 Abs. 1 lit. e DSGVO"]),
        ("gemäß Art. 6 Abs. 1 UAbs. 1 Buchst. e DSGVO", ["Art. 6 Abs. 1 UAbs. 1 lit. e DSGVO"]),
        ("ein Verwaltungsakt nach § 35a VwVfG", ["§ 35a VwVfG"]),
        ("nach § 3 Absatz 2 Satz 1 OZG", ["§ 3 Abs. 2 S. 1 OZG"]),
        ("Art. 28 Abs. 2 GG schützt die Selbstverwaltung.", ["Art. 28 Abs. 2 GG"]),
        ("Artikel 9 Absatz 1 der Verordnung (EU) 2016/679 ist", ["Art. 9 Abs. 1 DSGVO"]),
        ("nach § 5 LDSG BW und § 12 GemO-BW", ["§ 5 LDSG BW", "§ 12 GemO BW"]),
        ("nach § 10 SGB X", ["§ 10 SGB X"]),
        ("Art. 6 DS-GVO", ["Art. 6 DSGVO"]),
        ("die §§ 8 bis 10 BDSG", ["§ 8 BDSG", "§ 9 BDSG", "§ 10 BDSG"]),
        ("§ 3 Abs. 1 und 2 OZG", ["§ 3 Abs. 1 OZG", "§ 3 Abs. 2 OZG"]),
        (
            "Art. 22 Absatz 2 Buchstabe a und c DSGVO",
            ["Art. 22 Abs. 2 lit. a DSGVO", "Art. 22 Abs. 2 lit. c DSGVO"],
        ),
        ("§§ 9a bis 9c gelten", ["§ 9a", "§ 9c"]),
        ("§ 12 ff. OZG", ["§ 12 OZG"]),
    ],
)
def test_extracts_canonical_references(sentence: str, expected: list[str]) -> None:
    assert extract_legal_refs(sentence) == expected


def test_a_bare_reference_takes_the_law_of_the_reference_it_is_chained_to() -> None:
    text = "Der Gemeinderat stellt nach § 16 Abs. 2 in Verbindung mit § 16 Abs. 1 Nr. 5 GemO fest"
    assert extract_legal_refs(text) == ["§ 16 Abs. 2 GemO", "§ 16 Abs. 1 Nr. 5 GemO"]
    assert extract_legal_refs("§ 60 GemO i.V.m. § 6 GKZ") == ["§ 60 GemO", "§ 6 GKZ"]
    assert extract_legal_refs("nach § 3 und § 4 OZG") == ["§ 3 OZG", "§ 4 OZG"]


def test_a_reference_without_a_law_in_its_chain_stays_bare() -> None:
    text = "§ 3 Abs. 2 gilt entsprechend für die in § 5 OZG genannten Stellen."
    assert extract_legal_refs(text) == ["§ 3 Abs. 2", "§ 5 OZG"]
    # A law named in words is not guessed.
    assert extract_legal_refs("§ 3 Abs. 2 des Onlinezugangsgesetzes") == ["§ 3 Abs. 2"]


def test_results_are_deduplicated_in_order_of_first_occurrence() -> None:
    text = "Art. 6 DSGVO, dann § 3 OZG, wieder Art. 6 DSGVO und Artikel 6 DSGVO."
    assert extract_legal_refs(text) == ["Art. 6 DSGVO", "§ 3 OZG"]


@pytest.mark.parametrize(
    "text",
    [
        "Die Art und Weise der Umsetzung ist offen.",
        "Stand: Art. 1 G v. 3.12.2020 I 2668",  # an article of an unnamed amending act
        "Die AG tagt am 3. März.",
        "",
    ],
)
def test_no_reference_where_there_is_none(text: str) -> None:
    assert extract_legal_refs(text) == []


def test_a_section_heading_is_not_taken_for_a_law() -> None:
    assert extract_legal_refs("§ 5 IT-Sicherheit") == ["§ 5"]
    assert extract_legal_refs("Angaben nach § 3 AK-Satzung") == ["§ 3"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("§3 abs 2 ozg", "§ 3 Abs. 2 OZG"),
        ("art 6 abs 1 lit e dsgvo", "Art. 6 Abs. 1 lit. e DSGVO"),
        ("Art. 6 Abs. 1 Buchstabe e DS-GVO", "Art. 6 Abs. 1 lit. e DSGVO"),
        ("paragraph 35a vwvfg", "§ 35a VwVfG"),
        ("§ 3 Absatz 2 Satz 1 OZG", "§ 3 Abs. 2 S. 1 OZG"),
        ("§ 5 ldsg bw", "§ 5 LDSG BW"),
        ("§§ 3, 4 egovg", "§ 3 EGovG; § 4 EGovG"),
        ("  Datenschutz   im  Rathaus ", "Datenschutz im Rathaus"),
    ],
)
def test_normalises_typed_queries(query: str, expected: str) -> None:
    assert normalise_legal_ref(query) == expected


def test_query_and_document_normalise_to_the_same_form() -> None:
    in_document = extract_legal_refs("Die Pflicht folgt aus § 3 Absatz 2 Satz 1 OZG.")
    assert in_document == [normalise_legal_ref("§3 abs. 2 s. 1 ozg")]


def test_lower_case_words_after_a_reference_are_no_law_in_documents() -> None:
    assert extract_legal_refs("§ 3 ozg ist gemeint") == ["§ 3"]
    assert extract_legal_refs("nach § 3 gilt") == ["§ 3"]


def test_references_in_the_ozg() -> None:
    refs = extract_legal_refs(law_text("ozg.md"))
    # Inside a statute its own §§ are cited without the law's name.
    assert "§ 3 Abs. 2 S. 2" in refs
    assert "§ 2 Abs. 7" in refs
    # "§ 139b Absatz 3 Nummer 3, 4, 5, 6, 8 und 10" of the Abgabenordnung, expanded.
    assert [r for r in refs if r.startswith("§ 139b")] == [
        f"§ 139b Abs. 3 Nr. {n}" for n in (3, 4, 5, 6, 8, 10)
    ]
    # The amending acts in the header ("Art. 1 G v. 3.12.2020") are not references.
    assert not any(r.startswith("Art.") for r in refs)


def test_references_in_the_bdsg_and_egovg() -> None:
    bdsg = extract_legal_refs(law_text("bdsg_2018.md"))
    assert "Art. 9 Abs. 1 DSGVO" in bdsg  # "Artikel 9 Absatz 1 der Verordnung (EU) 2016/679"
    assert "Art. 22 Abs. 2 lit. c DSGVO" in bdsg
    egovg = extract_legal_refs(law_text("egovg.md"))
    assert "Art. 91c GG" in egovg
