"""The section "Bisherige Beschlüsse": built from the decision records of the minutes, with no model."""

from __future__ import annotations

import re

from ingest.domain import AccessScope
from ingest.store import SearchFilters, Store, StoredChunk
from service import citations
from service.cited_generation import SourceBook
from service.drafting.model import StatementState
from service.drafting.planning import FALLBACK_MARKS

# A decision is about the topic when it (its agenda item and wording) says at least this many of the topic's
# content words (fewer when the topic has fewer). One shared word is not enough: "Finanzierung der gemeinsamen
# KI-Infrastruktur" shares only "gemeinsam" with the decision on a "gemeinsame Notfallübung". Checked on the 14
# topics of eval/gold/drafts over the minutes of corpus/ and fsfw-dresden-protokolle (29 decisions): with 2,
# 10 decisions are kept, each about its topic, among them those the key facts come from (drafts-3: both budget
# decisions; drafts-4/-5: the Rechenzentren decisions on consolidation and on the Energieeffizienzgesetz). One
# shared 6-letter stem (the rule before) kept 33: 23 more, nearly all about something else ("Rechenzentrum",
# "Kommunen", "Dresden", "gemeinsam"); the borderline ones lost are the KI-Wissensassistent pilot for drafts-2
# and the confidentiality of the Gutachten for drafts-4.
MIN_TOPIC_WORDS = 2


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


def about_topic(topic_words: list[str], decision: str) -> bool:
    """Does a decision (agenda item and wording) say enough of the topic's content words (`MIN_TOPIC_WORDS`)?
    Words match as the checker matches them: by lemma, as a compound's head or a derived word's base
    ("Budget" in "Pilotbudget", "Finanzierung" in "Finanzierungsmodells")."""
    if not topic_words:
        return False
    evidence = citations.Evidence.of(decision)
    found = sum(1 for word in topic_words if evidence.has_word(word))
    return found >= min(MIN_TOPIC_WORDS, len(topic_words))


def decision_lead(date: str | None, body: str | None, agenda: str | None) -> str:
    """Where a decision comes from, shown before it: "Sitzung vom 18.09.2025, AK KI und Automatisierung,
    TOP 2: …". The date and body are the minutes' metadata, so they are shown as the provenance of the cited
    minutes, not stated as a claim that the cited passage would have to contain."""
    parts = [f"Sitzung vom {_german_date(date)}" if date else "Sitzung", body, agenda]
    return ", ".join(p for p in parts if p)


def decision_statements(
    store: Store, scope: AccessScope, topic: str, book: SourceBook, *, min_support: float
) -> list[StatementState]:
    """One statement per decision about the topic (`about_topic`) in minutes the caller may read: the decision
    as recorded and its vote, cited to the passage of the minutes that records it; the meeting's date, body and
    agenda item as its `lead`."""
    topic_words = citations.content_words(topic)
    found: list[tuple[str, str, StatementState]] = []
    for chunk in store.scroll(scope, SearchFilters(has_decisions=True)):
        stored = StoredChunk.of(chunk)
        where = stored.provenance
        for d in stored.decisions:
            text = d.text.strip()
            agenda = d.agenda_item or ""
            if not text or not about_topic(topic_words, f"{agenda}\n{text}"):
                continue
            # Minutes not yet approved still record what was decided; the citation says so.
            number = book.number_of(chunk, FALLBACK_MARKS.get(str(stored.status)))
            lead = decision_lead(where.date, where.working_group, agenda)
            # The statement is what the passage records — the decision and its vote — and the checker
            # confirms it against the cited passage; a vote in a form the checker cannot match goes to the lead.
            statement = f"{text.rstrip('.')}."
            with_vote = f"{statement} Abstimmung: {_vote(d.vote)}." if d.vote else statement
            verdict = citations.check_statement(with_vote, chunk.text, min_support=min_support)
            if verdict.supported or not d.vote:
                statement = with_vote
            else:
                lead += f" (Abstimmung: {_vote(d.vote)})"
                verdict = citations.check_statement(statement, chunk.text, min_support=min_support)
            found.append(
                (
                    where.date or "",
                    agenda,
                    StatementState(
                        text=statement,
                        lead=lead,
                        sources=[number] if verdict.supported else [],
                        cited=[number],
                        supported=verdict.supported,
                        origin="decision",
                        reasons=[] if verdict.supported else ["Beschlusstext nicht in der zitierten Passage"],
                    ),
                )
            )
    found.sort(key=lambda item: (item[0], item[1]))
    return [statement for _, _, statement in found]
