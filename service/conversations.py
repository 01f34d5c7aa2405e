"""Conversations of the chat page stored per user: list, create, rename, delete, turns, feedback, export.

Every function takes the owner's name and touches only that owner's rows: a conversation of somebody else is
reported as not found (no hint that it exists). The stored sources carry each passage's char span, so a turn
with feedback becomes a gold-set seed (`{"id","question","answers","relevant":[{"doc","start","end"}]}`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ingest.errors import KBError
from service.answering import AnswerResult, Source
from service.condense import Condensed, Turn
from service.db import Database
from service.db.models import Conversation, ConversationTurn

TITLE_CHARS = 80


class ConversationNotFound(KBError):
    code = "conversation_not_found"
    http_status = 404


class TurnNotFound(KBError):
    code = "turn_not_found"
    http_status = 404


@dataclass(frozen=True)
class StoredTurn:
    id: int
    position: int
    question: str
    searched_query: str
    answer: str
    declined_reason: str | None
    sources: list[dict[str, Any]]
    cited: list[int]
    timings: dict[str, Any]
    created_at: datetime
    feedback_helpful: bool | None
    feedback_comment: str | None
    short_answer: str | None = None


@dataclass(frozen=True)
class StoredConversation:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    turns: list[StoredTurn] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _turn(row: ConversationTurn) -> StoredTurn:
    return StoredTurn(
        row.id,
        row.position,
        row.question,
        row.searched_query,
        row.answer,
        row.declined_reason,
        json.loads(row.sources),
        json.loads(row.cited),
        json.loads(row.timings),
        row.created_at,
        row.feedback_helpful,
        row.feedback_comment,
        row.short_answer,
    )


def _conversation(row: Conversation, *, with_turns: bool = False) -> StoredConversation:
    turns = [_turn(t) for t in row.turns] if with_turns else []
    return StoredConversation(row.id, row.title, row.created_at, row.updated_at, turns)


def source_record(source: Source) -> dict[str, Any]:
    """A source as stored: what the page shows (CitationOut fields) plus the passage's char span."""
    p = source.provenance
    return {
        "number": source.number,
        "doc_id": p.doc_id,
        "revision": p.revision,
        "title": p.title,
        "label": source.label,
        "source_path": p.source_path,
        "page_start": p.page_start,
        "page_end": p.page_end,
        "section_path": list(p.section_path),
        "text": source.text,
        "char_start": p.char_start,
        "char_end": p.char_end,
    }


@dataclass(frozen=True)
class ConversationStore:
    db: Database

    def _owned(self, session: Session, user: str, conversation_id: str) -> Conversation:
        row = session.get(Conversation, conversation_id)
        if row is None or row.user != user:
            raise ConversationNotFound("Unterhaltung nicht gefunden")
        return row

    def of_user(self, user: str) -> list[StoredConversation]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Conversation).where(Conversation.user == user).order_by(Conversation.updated_at.desc())
            )
            return [_conversation(r) for r in rows]

    def create(self, user: str, title: str | None = None) -> StoredConversation:
        now = _now()
        row = Conversation(
            id=secrets.token_hex(16),
            user=user,
            title=(title or "Neue Unterhaltung")[:200],
            created_at=now,
            updated_at=now,
        )
        with self.db.session() as s:
            s.add(row)
        return _conversation(row)

    def get(self, user: str, conversation_id: str) -> StoredConversation:
        with self.db.session() as s:
            return _conversation(self._owned(s, user, conversation_id), with_turns=True)

    def rename(self, user: str, conversation_id: str, title: str) -> StoredConversation:
        with self.db.session() as s:
            row = self._owned(s, user, conversation_id)
            row.title = title[:200]
            row.updated_at = _now()
            return _conversation(row)

    def delete(self, user: str, conversation_id: str) -> None:
        with self.db.session() as s:
            row = self._owned(s, user, conversation_id)
            s.execute(delete(ConversationTurn).where(ConversationTurn.conversation_id == row.id))
            s.delete(row)

    def history(self, user: str, conversation_id: str) -> list[Turn]:
        """The earlier turns as the condenser takes them (raises when the conversation is not the user's)."""
        return [Turn(t.question, t.answer) for t in self.get(user, conversation_id).turns]

    def add_turn(
        self, user: str, conversation_id: str, searched: Condensed, result: AnswerResult
    ) -> StoredTurn:
        stats = result.stats
        timings = {
            "condense_s": round(searched.seconds, 4),
            "retrieval_s": round(result.retrieval_s, 4),
            "first_token_s": stats.first_token_s if stats else None,
            "generation_s": stats.total_s if stats else None,
        }
        with self.db.session() as s:
            conversation = self._owned(s, user, conversation_id)
            row = ConversationTurn(
                conversation_id=conversation.id,
                position=len(conversation.turns),
                question=result.question,
                searched_query=searched.query,
                answer="" if result.declined else result.answer,
                short_answer=result.short_answer,  # None on a declined answer
                declined_reason=result.reason if result.declined else None,
                sources=json.dumps([source_record(x) for x in result.sources], ensure_ascii=False),
                cited=json.dumps(result.cited),
                timings=json.dumps(timings),
                created_at=_now(),
            )
            s.add(row)
            if not conversation.turns and conversation.title == "Neue Unterhaltung":
                conversation.title = result.question[:TITLE_CHARS]
            conversation.updated_at = _now()
            s.flush()
            return _turn(row)

    def feedback(
        self, user: str, conversation_id: str, turn_id: int, helpful: bool, comment: str | None
    ) -> StoredTurn:
        with self.db.session() as s:
            conversation = self._owned(s, user, conversation_id)
            row = s.get(ConversationTurn, turn_id)
            if row is None or row.conversation_id != conversation.id:
                raise TurnNotFound("Antwort nicht gefunden")
            row.feedback_helpful = helpful
            row.feedback_comment = comment or None
            row.feedback_at = _now()
            return _turn(row)

    def rated_turns(self, user: str | None) -> Iterator[tuple[str, StoredTurn]]:
        """Turns with feedback, oldest first: of `user`, or of everybody when `user` is None (admin)."""
        query = (
            select(ConversationTurn, Conversation.user)
            .join(Conversation)
            .where(ConversationTurn.feedback_helpful.is_not(None))
            .order_by(ConversationTurn.feedback_at, ConversationTurn.id)
        )
        if user is not None:
            query = query.where(Conversation.user == user)
        with self.db.session() as s:
            rows = [(owner, _turn(turn)) for turn, owner in s.execute(query)]
        yield from rows


def gold_seed(turn: StoredTurn) -> dict[str, Any]:
    """A rated turn in the eval gold-file format. A helpful answer names its cited passages as relevant and its
    text as the answer; a not-helpful one keeps the question with no relevant passages (to be filled by hand),
    its rating and comment under `feedback`, so a curator sees what was wrong."""
    cited = [s for s in turn.sources if s["number"] in turn.cited]
    relevant = [{"doc": s["doc_id"], "start": s["char_start"], "end": s["char_end"]} for s in cited]
    return {
        "id": f"feedback-{turn.id}",
        "question": turn.question,
        "answers": [turn.answer] if turn.feedback_helpful and turn.answer else [],
        "relevant": relevant if turn.feedback_helpful else [],
        "feedback": {
            "helpful": turn.feedback_helpful,
            "comment": turn.feedback_comment,
            "searched_query": turn.searched_query,
            "cited": [{"doc": s["doc_id"], "start": s["char_start"], "end": s["char_end"]} for s in cited],
        },
    }


def seeds_jsonl(turns: Sequence[StoredTurn]) -> str:
    return "".join(json.dumps(gold_seed(t), ensure_ascii=False) + "\n" for t in turns)
