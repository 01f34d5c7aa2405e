from __future__ import annotations

from service.citations import (
    SHORT_TERMS,
    Claim,
    FactKind,
    check_statement,
    judge,
    parse_markers,
    render_with_markers,
    strip_markers,
    support,
    verify,
)

GPU = "Der Verband fordert einen GPU-Cluster mit mindestens 16 GPUs mit je 80 GB Speicher."
BUDGET = "Das Pilotbudget wird auf 320.000 EUR erhöht. Abstimmungsergebnis: einstimmig."


def test_parse_markers_in_order_without_duplicates() -> None:
    assert parse_markers("A [2]. B [1, 3] und [2].") == [2, 1, 3]
    assert parse_markers("keine") == []
    assert strip_markers("Antwort [1][2].") == "Antwort."


def test_support_is_share_of_content_words() -> None:
    assert support("mindestens 16 GPUs", GPU) == 1.0
    assert support("Das Budget beträgt 999 EUR", GPU) < 0.5


def test_valid_citation_passes() -> None:
    check = verify("Der Cluster soll mindestens 16 GPUs haben.", [1], [GPU, BUDGET], 0.5)
    assert check.valid == (1,) and not check.invalid_markers and not check.unsupported


def test_wrong_citation_is_unsupported_and_reported() -> None:
    check = verify("Der Cluster soll mindestens 16 GPUs haben.", [2], [GPU, BUDGET], 0.5, reattribute=False)
    assert check.valid == () and check.unsupported == (2,)


def test_marker_pointing_at_nothing_is_reported() -> None:
    check = verify("Das Pilotbudget beträgt 320.000 EUR [7].", [2], [GPU, BUDGET], 0.5)
    assert check.invalid_markers == (7,)
    assert check.valid == (2,)


def test_statements_get_only_the_sources_that_support_them() -> None:
    check = verify(
        "Der Cluster hat 16 GPUs. Das Pilotbudget beträgt 320.000 EUR.", [1, 2], [GPU, BUDGET], 0.5
    )
    assert [s.sources for s in check.statements] == [(1,), (2,)]
    assert (
        render_with_markers(check) == "Der Cluster hat 16 GPUs. [1] Das Pilotbudget beträgt 320.000 EUR. [2]"
    )


def test_a_statement_cited_to_the_wrong_passage_is_reattributed_to_the_one_that_supports_it() -> None:
    check = verify("Das Pilotbudget beträgt 320.000 EUR.", [1], [GPU, BUDGET], 0.5)
    assert check.unsupported == (1,) and check.valid == (2,) and check.reattributed == (2,)
    assert render_with_markers(check) == "Das Pilotbudget beträgt 320.000 EUR. [2]"


def test_no_reattribution_when_no_passage_supports_the_statement() -> None:
    check = verify("Der Eiffelturm ist 330 Meter hoch.", [1], [GPU, BUDGET], 0.5)
    assert check.valid == () and check.reattributed == ()
    assert (
        verify("Das Pilotbudget beträgt 320.000 EUR.", [1], [GPU, BUDGET], 0.5, reattribute=False).valid == ()
    )


def test_a_decision_told_with_the_verb_is_found_in_the_minutes_noun() -> None:
    minutes = "Protokoll des AK KI. Beschluss: Das Pilotbudget wird von 250.000 EUR auf 320.000 EUR erhöht."
    stated = "Der AK KI beschloss, dass das Pilotbudget von 250.000 EUR auf 320.000 EUR erhöht wird."
    assert check_statement(stated, minutes, min_support=0.5).supported
    assert check_statement("Das Pilotbudget wurde beschlossen.", minutes, min_support=0.5).supported
    assert check_statement(
        "Der AK entschied über das Pilotbudget.", "Entscheidung des AK über das Pilotbudget", min_support=0.5
    ).supported
    assert not check_statement("Der AK verschob das Pilotbudget.", minutes, min_support=0.5).supported


# --- The question's words: a passage must say what was asked about ------------------------------------------

CHAIR = "Sitzungsleitung: Dr. Katrin Lüdemann (Rhein-Ruhr Kommunaldienste), Sprecherin des AK."


def test_an_answer_naming_the_passages_person_for_what_the_passage_does_not_say_is_rejected() -> None:
    question = "Wer ist Bürgermeister von Köln?"
    answer = "Bürgermeister von Köln ist Dr. Katrin Lüdemann (Rhein-Ruhr Kommunaldienste)."
    assert verify(answer, [1], [CHAIR], 0.5).valid == (1,)  # without the question: 4 of 6 words found
    check = verify(answer, [1], [CHAIR], 0.5, question=question)
    assert check.valid == () and check.unsupported == (1,)
    assert check.statements[0].rejected[1].reasons == (
        "„Bürgermeister“, „Köln“ aus der Frage fehlen in der Quelle",
    )


def test_an_answer_restating_the_question_in_the_passages_words_passes() -> None:
    question = "Wie viele GPUs soll der gemeinsame Cluster mindestens haben?"
    check = verify("Der Cluster soll mindestens 16 GPUs haben.", [1], [GPU, BUDGET], 0.5, question=question)
    assert check.valid == (1,)


def test_question_words_the_answer_does_not_repeat_are_not_required() -> None:
    question = "Welche Grafikkarten-Ausstattung verlangt das Papier für den Verbund?"
    check = verify("Mindestens 16 GPUs mit je 80 GB Speicher.", [1], [GPU, BUDGET], 0.5, question=question)
    assert check.valid == (1,)


def test_half_of_the_restated_question_words_in_the_passage_is_enough_at_min_support_half() -> None:
    question = "Wer leitet die Sitzung in Köln?"
    answer = (
        "Die Sitzungsleitung in Köln hat Dr. Katrin Lüdemann (Rhein-Ruhr Kommunaldienste) als Sprecherin."
    )
    assert not Claim.of(answer).short
    assert verify(answer, [1], [CHAIR], 0.5, question=question).valid == (1,)


# --- The checker's facts: whole tokens, normalised --------------------------------------------------------

WAHL = "Der Bundestag wird auf vier Jahre gewählt. Wählbar ist, wer das vierzigste Lebensjahr vollendet hat."


def _facts(statement: str, kind: FactKind) -> list[str]:
    return [fact.key for fact in Claim.of(statement).facts if fact.kind is kind]


def test_number_words_and_digits_are_one_number_and_never_match_by_prefix() -> None:
    assert _facts("vier Jahre", FactKind.NUMBER) == ["4 jahr"]
    assert _facts("4 Jahre", FactKind.NUMBER) == ["4 jahr"]
    assert _facts("sechsundvierzig Monate", FactKind.NUMBER) == ["46 monat"]
    assert _facts("zweihundert Stellen", FactKind.NUMBER) == ["200 stell"]
    assert _facts("das vierte Mal", FactKind.NUMBER) == ["4. mal"]
    assert _facts("das vierzigste Lebensjahr", FactKind.NUMBER) == ["40. lebensjahr"]
    assert check_statement("4 Jahre", "auf vier Jahre", min_support=0.5).supported
    assert not check_statement("vier Jahre", "das vierzigste Jahr", min_support=0.5).supported
    assert not check_statement("vier Jahre", "im vierten Jahr", min_support=0.5).supported
    assert check_statement("das 40. Lebensjahr", "das vierzigste Lebensjahr", min_support=0.5).supported


def test_a_number_counting_a_noun_needs_that_noun_in_the_passage() -> None:
    votes = (
        "Länder mit mehr als zwei Millionen Einwohnern haben vier, Länder mit mehr Einwohnern fünf. Jahre."
    )
    assert not check_statement("vier Jahre", votes, min_support=0.5).supported
    assert check_statement(
        "48 Monate", "frühestens sechsundvierzig, spätestens achtundvierzig Monate", min_support=0.5
    ).supported
    assert not check_statement(
        "4 Wochen", "nach Absatz 4 sind Wochen zu zählen (4)", min_support=0.5
    ).supported


def test_dates_match_in_any_spelling_and_fail_on_one_token() -> None:
    assert _facts("am 1. März 2025", FactKind.DATE) == ["2025-03-01"]
    assert _facts("am 01.03.2025", FactKind.DATE) == ["2025-03-01"]
    assert _facts("im März 2025", FactKind.DATE) == ["2025-03"]
    passage = "Die Sitzung fand am 1. März 2025 im Rathaus statt."
    assert check_statement("Die Sitzung war am 01.03.2025.", passage, min_support=0.5).supported
    assert check_statement("Die Sitzung war im März 2025.", passage, min_support=0.5).supported
    assert not check_statement("Die Sitzung war am 1. März 2024.", passage, min_support=0.5).supported
    assert not check_statement("Die Sitzung war am 2. März 2025.", passage, min_support=0.5).supported


def test_amounts_match_by_value_and_currency() -> None:
    assert _facts("2,5 Mio. Euro", FactKind.AMOUNT) == ["2500000 EUR"]
    assert _facts("2.500.000 €", FactKind.AMOUNT) == ["2500000 EUR"]
    assert _facts("EUR 250.000", FactKind.AMOUNT) == ["250000 EUR"]
    passage = "Für das Projekt stehen 2,5 Millionen Euro bereit."
    assert check_statement("Das Projekt hat 2.500.000 € bereit.", passage, min_support=0.5).supported
    assert not check_statement("Das Projekt hat 250.000 Euro bereit.", passage, min_support=0.5).supported


def test_legal_references_match_in_canonical_form() -> None:
    assert _facts("Nach § 3 Absatz 2 OZG", FactKind.LEGAL_REF) == ["§ 3 Abs. 2 OZG"]
    passage = "§ 3 Abs. 2 OZG verpflichtet Bund und Länder zu Nutzerkonten."
    assert check_statement(
        "§ 3 Absatz 2 OZG verpflichtet zu Nutzerkonten.", passage, min_support=0.5
    ).supported
    assert not check_statement(
        "§ 3 Abs. 3 OZG verpflichtet zu Nutzerkonten.", passage, min_support=0.5
    ).supported
    assert not check_statement(
        "§ 4 Abs. 2 OZG verpflichtet zu Nutzerkonten.", passage, min_support=0.5
    ).supported
    assert not check_statement(
        "§ 3 Abs. 2 EGovG verpflichtet zu Nutzerkonten.", passage, min_support=0.5
    ).supported


def test_named_bodies_and_names_match_whole_words() -> None:
    assert "bundestag" in _facts("Der Bundestag tagt.", FactKind.NAME)
    assert "karlsruh" in _facts("Die Stadt Karlsruhe zahlt.", FactKind.NAME)
    assert "ak" in _facts("Der AK KI tagt.", FactKind.NAME)
    passage = "Der Bundesrat fasst seine Beschlüsse mit der Mehrheit seiner Stimmen."
    assert check_statement(
        "Der Bundesrat beschließt mit Mehrheit.", passage + " beschließt", min_support=0.5
    ).supported
    assert not check_statement(
        "Der Bundestag fasst Beschlüsse mit Mehrheit.", passage, min_support=0.5
    ).supported


def test_short_statements_need_every_content_word() -> None:
    passage = "Der Präsident des Bundestages wird gewählt. Die Amtszeit dauert fünf Jahre."
    assert Claim.of("Wahlperiode vier Jahre").short and SHORT_TERMS == 4
    verdict = check_statement("Amtszeit Abgeordnete", passage, min_support=0.5)
    assert not verdict.supported and verdict.required_share == 1.0
    assert [fact.text for fact in verdict.missing] == ["Abgeordnete"]
    long = "Die Amtszeit des gewählten Präsidenten dauert nach dem Gesetz fünf lange Jahre."
    assert not Claim.of(long).short and check_statement(long, passage, min_support=0.5).supported


def test_judge_reports_per_passage_and_why() -> None:
    judgement = judge(
        "vier Jahre", ["Der Bundestag wird auf vier Jahre gewählt.", WAHL.split(". ")[1]], min_support=0.5
    )
    assert judgement.supported and judgement.supporting == (0,)
    assert judgement.verdicts[1].reasons == ("Zahl „vier“ fehlt in der Quelle",)


def test_dates_ordinals_and_abbreviations_do_not_end_a_statement() -> None:
    from service.citations import split_statements

    text = (
        "Die Frist endet am 31. Dezember 2025. Zuständig ist gem. Art. 39 GG der Bundestag. Es gilt ab 2026."
    )
    assert split_statements(text) == [
        "Die Frist endet am 31. Dezember 2025.",
        "Zuständig ist gem. Art. 39 GG der Bundestag.",
        "Es gilt ab 2026.",
    ]


def test_an_association_e_v_and_other_abbreviations_do_not_end_a_statement() -> None:
    from service.citations import split_statements

    # from a karlsruhe-qa answer, where "e." and "V." each became a cited statement of their own
    text = (
        "Der Stadtjugendausschuss e. V. Karlsruhe bietet Sonderkonditionen. Räume stehen ggf. auch "
        "Vereinen i. d. R. kostenfrei zur Verfügung. Die o. g. Regel gilt ab 2026."
    )
    assert split_statements(text) == [
        "Der Stadtjugendausschuss e. V. Karlsruhe bietet Sonderkonditionen.",
        "Räume stehen ggf. auch Vereinen i. d. R. kostenfrei zur Verfügung.",
        "Die o. g. Regel gilt ab 2026.",
    ]
