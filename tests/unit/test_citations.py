from __future__ import annotations

from service.citations import parse_markers, render_with_markers, strip_markers, support, verify

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
