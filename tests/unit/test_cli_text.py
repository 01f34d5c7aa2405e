"""The CLI's passage excerpts: which sentences of a hit it shows, and how matches are highlighted."""

from __future__ import annotations

import io

from rich.console import Console

from kb_cli.output import highlighted, matching_sentences, sentences

PASSAGE = (
    "Der Bundestag tritt am dreißigsten Tage nach der Wahl zusammen. Er wird auf vier Jahre gewählt. "
    "Die Pflichten nach Art. 4 KI-VO gelten seit dem 2. Februar 2025 für alle Betreiber."
)


def test_sentences_keep_abbreviations_and_ordinals_inside() -> None:
    assert (
        sentences(PASSAGE)[2]
        == "Die Pflichten nach Art. 4 KI-VO gelten seit dem 2. Februar 2025 für alle Betreiber."
    )
    assert len(sentences(PASSAGE)) == 3


def test_matching_sentences_are_those_sharing_the_query_words_in_passage_order() -> None:
    shown = matching_sentences(PASSAGE, "Auf wie viele Jahre wird der Bundestag gewählt?", most=1)
    assert shown == ["Er wird auf vier Jahre gewählt."]
    both = matching_sentences(PASSAGE, "Wann tritt der Bundestag zusammen, wie viele Jahre?", most=2)
    assert both == sentences(PASSAGE)[:2]


def test_without_a_shared_word_the_first_sentence_stands_for_the_passage() -> None:
    assert matching_sentences(PASSAGE, "Grafikspeicher") == [sentences(PASSAGE)[0]]


def test_matches_are_highlighted_on_a_terminal_only() -> None:
    text = highlighted("Er wird auf vier Jahre gewählt.", "Auf wie viele Jahre wird gewählt?")
    assert [text.plain[span.start : span.end] for span in text.spans] == ["Jahre", "gewählt"]
    terminal, pipe = io.StringIO(), io.StringIO()
    Console(file=terminal, force_terminal=True).print(text)
    Console(file=pipe).print(text)
    assert "\x1b[" in terminal.getvalue()
    assert pipe.getvalue() == "Er wird auf vier Jahre gewählt.\n"
