"""The section "Bisherige Beschlüsse": built from the decision records of the minutes, with no model."""

from __future__ import annotations

import re

from ingest.domain import AccessScope
from ingest.store import SearchFilters, Store, StoredChunk
from service import citations
from service.cited_generation import SourceBook
from service.drafting.model import StatementState
from service.drafting.planning import FALLBACK_MARKS


def _german_date(date: str | None) -> str | None:
    if not date or len(date) < 10:
        return date
    year, month, day = date[:10].split("-")
    return f"{day}.{month}.{year}"


def _vote(vote: str) -> str:
    """ "8:1:1" → "8 Ja, 1 Nein, 1 Enthaltung(en)"; other forms ("einstimmig") as recorded."""
    match = re.fullmatch(r"(.*?)\s*(\d+):(\d+):(\d+)", vote)
    if not match:
        return vote
    prefix, yes, no, abstain = match.groups()
    counts = f"{yes} Ja, {no} Nein, {abstain} {'Enthaltung' if abstain == '1' else 'Enthaltungen'}"
    return f"{prefix} ({counts})" if prefix else counts


def decision_statements(
    store: Store, scope: AccessScope, topic: str, book: SourceBook, *, min_support: float
) -> list[StatementState]:
    """One statement per decision about the topic (sharing a content word with it) in minutes the caller may
    read: date, body, agenda item, decision, vote; cited to the passage of the minutes that records it."""
    topic_terms = citations.content_terms(topic)
    found: list[tuple[str, str, StatementState]] = []
    for chunk in store.scroll(scope, SearchFilters(has_decisions=True)):
        stored = StoredChunk.of(chunk)
        where = stored.provenance
        for d in stored.decisions:
            text = d.text.strip()
            agenda = d.agenda_item or ""
            if not text or not topic_terms & citations.content_terms(f"{text} {agenda}"):
                continue
            # Minutes not yet approved still record what was decided; the citation says so.
            number = book.number_of(chunk, FALLBACK_MARKS.get(str(stored.status)))
            # The decision text comes from the passage itself; the checker confirms it is in the cited passage.
            supported = citations.check_statement(text, chunk.text, min_support=min_support).supported
            parts = [f"Am {_german_date(where.date)}" if where.date else "In der Sitzung"]
            body = where.working_group
            head = f"{parts[0]} beschloss der {body}" if body else f"{parts[0]} wurde beschlossen"
            if agenda:
                head += f" ({agenda})"
            vote = f" Abstimmung: {_vote(d.vote)}." if d.vote else ""
            sentence = f"{head}: {text.rstrip('.')}.{vote}"
            found.append(
                (
                    where.date or "",
                    agenda,
                    StatementState(
                        text=sentence,
                        sources=[number] if supported else [],
                        cited=[number],
                        supported=supported,
                        origin="decision",
                        reasons=[] if supported else ["Beschlusstext nicht in der zitierten Passage"],
                    ),
                )
            )
    found.sort(key=lambda item: (item[0], item[1]))
    return [statement for _, _, statement in found]
