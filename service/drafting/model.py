"""The stored state of a draft (JSON in the `drafts` table) — pydantic, as it crosses the database boundary."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from service.cited_generation import BookEntry, SourceBook

NO_SOURCE_TEXT = "Keine belastbare Quelle gefunden."
UNSUPPORTED_MARK = "nicht belegt"

Status = Literal["planned", "writing", "draft", "in_review", "approved"]
# Review transitions a person may make; "planned" → "writing" → "draft" belong to the writer.
REVIEW_TRANSITIONS: dict[str, set[str]] = {"draft": {"in_review"}, "in_review": {"draft", "approved"}}


class StatementState(BaseModel):
    text: str = Field(description="The statement; verified against the passages it cites.")
    lead: str | None = Field(
        None,
        description="Provenance shown before the statement, not a claim of it: for a decision the meeting's "
        "date, body and agenda item from the minutes' metadata.",
    )
    sources: list[int] = Field(default_factory=list, description="Draft-wide numbers of supporting sources.")
    cited: list[int] = Field(default_factory=list, description="What the model (or editor) cited.")
    supported: bool = False
    marked: bool = Field(False, description="Shown with „nicht belegt“ (KB_DRAFT__UNSUPPORTED=mark).")
    reattributed: bool = False
    reasons: list[str] = Field(default_factory=list)
    origin: Literal["model", "decision", "editor"] = "model"


class QuestionRetrieval(BaseModel):
    question: str
    point_ids: list[str] = Field(default_factory=list, description="Passages found (inside the scope).")
    fallback: bool = Field(False, description="Only drafts or superseded documents were found.")


class SectionState(BaseModel):
    title: str
    kind: str = "text"
    guidance: str = ""
    questions: list[str] = Field(default_factory=list)
    written: bool = False
    statements: list[StatementState] = Field(default_factory=list)
    removed: list[StatementState] = Field(default_factory=list, description="Unsupported, removed.")
    duplicates: list[str] = Field(default_factory=list, description="Dropped as repeating earlier ones.")
    conflicts: list[str] = Field(default_factory=list)
    note: str | None = None
    retrieval: list[QuestionRetrieval] = Field(default_factory=list)
    valid_output: bool = Field(True, description="The model's reply was the complete JSON.")
    echoes_cut: int = Field(
        0,
        description="Statements whose lead-in copied from the section's instructions was cut before checking.",
    )
    truncated: bool = Field(
        False, description="The reply stopped at the token cap; the statements completed before it are kept."
    )
    seconds: float = 0.0

    def refresh_note(self) -> None:
        self.note = None if any(s.supported for s in self.statements) or not self.written else NO_SOURCE_TEXT


class SourceState(BaseModel):
    number: int
    point_id: str
    doc_id: str
    revision: str
    title: str
    label: str
    page_start: int | None = None
    page_end: int | None = None
    section_path: list[str] = Field(default_factory=list)
    text: str
    marked: str | None = None
    footnote: str
    removed: bool = False


class DraftState(BaseModel):
    id: str
    owner: str
    topic: str
    template: str
    title: str
    working_group: str | None = None
    status: Status = "planned"
    overview: list[str] = Field(default_factory=list, description="Documents found by the first search.")
    sections: list[SectionState] = Field(default_factory=list)
    sources: list[SourceState] = Field(default_factory=list)
    record: dict[str, Any] = Field(default_factory=dict)
    adopted_doc_id: str | None = None

    def book(self) -> SourceBook:
        book = SourceBook()
        for s in self.sources:
            book.add(
                BookEntry(
                    s.number,
                    s.point_id,
                    s.doc_id,
                    s.revision,
                    s.title,
                    s.label,
                    s.page_start,
                    s.page_end,
                    tuple(s.section_path),
                    s.text,
                    s.marked,
                )
            )
        return book

    def take_book(self, book: SourceBook) -> None:
        removed = {s.number for s in self.sources if s.removed}
        self.sources = [
            SourceState(
                number=e.number,
                point_id=e.point_id,
                doc_id=e.doc_id,
                revision=e.revision,
                title=e.title,
                label=e.label,
                page_start=e.page_start,
                page_end=e.page_end,
                section_path=list(e.section_path),
                text=e.text,
                marked=e.marked,
                footnote=e.footnote,
                removed=e.number in removed,
            )
            for e in sorted(book.entries.values(), key=lambda e: e.number)
        ]

    def source(self, number: int) -> SourceState | None:
        return next((s for s in self.sources if s.number == number), None)

    def next_unwritten(self) -> int | None:
        return next((i for i, s in enumerate(self.sections) if not s.written), None)
