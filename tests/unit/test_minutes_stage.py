"""One minutes stage: agenda items found once, one table of German patterns that the three modules share."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.german_patterns import (
    DIVISION_RANKS,
    OUTLINE_ORDER,
    OUTLINE_RANKS,
    PARSER_LEVELS,
    parser_number_level,
)
from ingest.minutes import extract_minutes_records, records_of
from ingest.parsers import parse_file
from ingest.structure import apply_minutes_structure, find_agenda_items, structure_minutes

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MINUTES = sorted(CORPUS.glob("protokoll-*"))
MINUTES = [p for p in MINUTES if not p.name.endswith(".meta.yaml")]


def test_structure_ranks_follow_the_german_outline_order() -> None:
    ranks = {**DIVISION_RANKS, **OUTLINE_RANKS}
    assert set(ranks) == set(OUTLINE_ORDER)
    ordered = [ranks[kind] for kind in OUTLINE_ORDER]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)


def test_parser_levels_never_rank_a_deeper_kind_above_a_higher_one() -> None:
    # The parser squeezes the order into six levels: ties are allowed, inversions are not.
    levels = {**PARSER_LEVELS, "number": parser_number_level(1)}
    kinds = [kind for kind in OUTLINE_ORDER if kind in levels]
    assert kinds == ["section", "letter", "roman", "number", "lower", "double_lower"]
    assert [levels[k] for k in kinds] == sorted(levels[k] for k in kinds)
    assert parser_number_level(2) < PARSER_LEVELS["double_lower"]


@pytest.mark.parametrize("path", MINUTES, ids=lambda p: p.name)
def test_minutes_stage_once_gives_what_the_separate_calls_give(path: Path) -> None:
    parsed = parse_file(path)
    stage = structure_minutes(parsed)
    assert stage.agenda, "the sample minutes have agenda items"
    assert stage.agenda == find_agenda_items(parsed)
    assert stage.parsed == apply_minutes_structure(parsed)
    assert records_of(stage) == extract_minutes_records(parsed)
    for item in stage.agenda:
        assert item.label in {label for b in stage.parsed.blocks for label in b.section_path}
