"""Pydantic models at the HTTP boundary."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, Field

from ingest.store import Provenance, SearchFilters, SearchMode

SOURCE_PATH_DESCRIPTION = (
    "Path of the file relative to the folder that was ingested (a file given directly: its name; an upload: "
    "its upload name). Never a path on the server."
)


DOC_ID_DESCRIPTION = (
    "Document id: the file's name, a folder's relative path (may contain `/`) or an explicit id. A document you "
    "may not read answers 404, the same as one that does not exist."
)

PROBLEM_CONTENT: dict[str, Any] = {
    "application/problem+json": {
        "schema": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "code": {"type": "string", "description": "Stable error code"},
            },
        }
    }
}

_PROBLEM_DESCRIPTIONS = {
    400: "Bad request (e.g. no working group for an upload by an editor of several)",
    401: "Missing, unknown, revoked or expired credentials (WWW-Authenticate: Bearer)",
    403: "Signed in, but without the role this write needs",
    404: "No such document, or one you may not read (the same answer)",
    405: "Method not allowed (see the Allow header)",
    409: "The query and the form name different working groups",
    413: "Upload larger than the limit",
    415: "Unsupported file format",
    422: "The request does not match the schema",
    429: "Rate limit of the token exceeded (Retry-After in seconds)",
    500: "Unexpected error",
    503: "A model or the store is not available",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses, each an RFC 9457 problem+json body."""
    return {
        status: {"description": _PROBLEM_DESCRIPTIONS[status], "content": PROBLEM_CONTENT}
        for status in statuses
    }


class Filters(BaseModel):
    """Narrow a search. Dates are ISO (YYYY-MM-DD) and compare with the document date."""

    doc_type: list[str] = Field(
        default_factory=list, description="position_paper, legal_opinion, org_report, …"
    )
    working_group: list[str] = Field(default_factory=list)
    doc_id: list[str] = Field(default_factory=list)
    status: list[str] = Field(default_factory=list, description="draft, adopted, superseded")
    legal_ref: list[str] = Field(
        default_factory=list, description='Exact legal reference, e.g. "§ 3 Abs. 2 OZG".'
    )
    date_from: str | None = None
    date_to: str | None = None
    visibility: list[str] = Field(default_factory=list, description="public, internal, group, confidential")
    revision: str | None = Field(None, description="Search one revision (sha256) instead of the current one.")
    as_of: str | None = Field(
        None, description="Search the revisions that were current at this date or UTC timestamp (ISO)."
    )
    include_history: bool = Field(False, description="Also search superseded revisions.")

    def to_store(self) -> SearchFilters:
        from ingest.legal_refs import normalise_legal_ref

        return SearchFilters(
            doc_types=frozenset(self.doc_type),
            working_groups=frozenset(self.working_group),
            visibilities=frozenset(self.visibility),
            doc_ids=frozenset(self.doc_id),
            statuses=frozenset(self.status),
            legal_refs=frozenset(normalise_legal_ref(r) for r in self.legal_ref),
            date_from=self.date_from,
            date_to=self.date_to,
            revision=self.revision,
            as_of=self.as_of,
            include_history=self.include_history,
        )


class SearchRequest(BaseModel):
    query: str = Field(
        ..., min_length=1, max_length=2000, examples=["Wie viele GPUs braucht die KI-Infrastruktur?"]
    )
    top_k: int | None = Field(None, ge=1, le=100)
    mode: SearchMode | None = None
    filters: Filters = Field(default_factory=Filters)


class FromProvenance(BaseModel):
    """A response model whose provenance fields are taken from the one provenance record."""

    @classmethod
    def from_provenance(cls, provenance: Provenance, **fields: Any) -> Self:
        """The model with every field it shares with `provenance` filled from it; `fields` give the rest."""
        shared = {
            name: getattr(provenance, name)
            for name in cls.model_fields
            if name not in fields and hasattr(provenance, name)
        }
        return cls(**shared, **fields)


class PassageOut(FromProvenance):
    """A passage and where it comes from, as every hit, source and citation shows it."""

    doc_id: str
    revision: str
    title: str
    label: str = Field(description='How the source is cited: "Titel, S. 3–4 – Abschnitt".')
    source_path: str | None = Field(description=SOURCE_PATH_DESCRIPTION)
    page_start: int | None
    page_end: int | None
    section_path: list[str]
    text: str
    ocr: bool = Field(
        False, description="The passage was read by OCR from a scanned page (may hold misreadings)."
    )


class Hit(PassageOut):
    rank: int
    score: float
    point_id: str
    char_start: int
    char_end: int
    doc_type: str
    working_group: str
    date: str | None


class SearchResponse(BaseModel):
    query: str
    mode: SearchMode
    relevant: bool
    best_dense_score: float
    hits: list[Hit]


class AnswerRequest(BaseModel):
    question: str = Field(
        ..., min_length=1, max_length=2000, examples=["Welche GPU-Ausstattung wird gefordert?"]
    )
    stream: bool = Field(False, description="Answer as a server-sent-event stream (sources, delta…, done).")
    filters: Filters = Field(default_factory=Filters)


class CitationOut(PassageOut):
    number: int


class AnswerResponse(BaseModel):
    question: str
    answer: str
    short_answer: str | None = Field(
        None,
        description='The asked fact alone ("16 GPUs"), every word of it in the checked answer; '
        "null when the question asks for no single fact or the answer was declined.",
    )
    declined: bool
    reason: str | None = Field(None, description="Why the service declined or what it reported.")
    citations: list[CitationOut]
    sources: list[CitationOut]
    invalid_markers: list[int] = Field(description="Cited numbers that point at no source.")
    unsupported_citations: list[int] = Field(description="Cited sources that do not support the answer.")
    unsupported_statements: list[str]
    reattributed_citations: list[int] = Field(
        default_factory=list, description="Sources the model did not cite that support a statement it made."
    )
    model_output: str | None = Field(None, description="The model's raw (JSON) reply, for inspection.")
    model: str | None
    timings: dict[str, Any]


class DocumentOut(FromProvenance):
    doc_id: str
    revision: str
    title: str
    source_path: str | None = Field(description=SOURCE_PATH_DESCRIPTION)
    doc_type: str
    working_group: str
    visibility: str
    date: str | None
    status: str | None
    chunks: int
    pages: int | None
    inferred: list[str]


class RevisionOut(BaseModel):
    revision: str = Field(description="sha256 of the file bytes")
    current: bool
    ingested_at: str | None
    title: str
    working_group: str
    visibility: str
    status: str | None
    chunks: int


class DocumentDetail(BaseModel):
    """A document you may read: its current revision's metadata and every revision you may read."""

    doc_id: str
    current: DocumentOut | None = Field(description="The current revision; null when only history remains.")
    revisions: list[RevisionOut]


class IngestOutcomeOut(BaseModel):
    path: str
    doc_id: str
    status: str
    chunks: int
    pages: int
    revision: str | None
    code: str | None
    message: str | None
    duplicate_of: str | None
    # What the parsing library warned about while reading the file (pypdf: "EOF marker not found", …).
    warnings: list[str] = []


class IngestResponse(BaseModel):
    outcomes: list[IngestOutcomeOut]
    failed: int


class DeleteResponse(BaseModel):
    doc_id: str
    deleted_points: int


class DecisionOut(FromProvenance):
    doc_id: str
    title: str
    working_group: str
    date: str | None
    agenda_item: str | None
    text: str
    vote: str | None
    page: int | None
    revision: str


class Health(BaseModel):
    """Liveness without document data: no counts, no paths."""

    status: str
    store: str = Field(description="Store backend (edge, server, local).")
    store_id: str = Field(description="Opaque id of the store; `kb` matches it to find a running service.")
    embedder: str
    llm: str


# -- chat: conversational answers and the OpenAI-compatible API ------------------------------------------------
class ChatTurnIn(BaseModel):
    """An earlier exchange of the conversation, as the client kept it."""

    question: str = Field(..., max_length=2000)
    answer: str = Field("", max_length=8000)


class ChatAnswerRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=2000, examples=["Und bis wann?"])
    history: list[ChatTurnIn] = Field(
        default_factory=list, max_length=50, description="Earlier turns, oldest first."
    )
    stream: bool = Field(
        False, description="Answer as a server-sent-event stream (query, sources, delta…, done)."
    )
    filters: Filters = Field(default_factory=Filters)


class SearchedQuery(BaseModel):
    """What was searched for a question: the question itself, or its standalone rewrite."""

    question: str
    query: str
    rewritten: bool
    reason: str = Field(
        description="no_history, standalone, rewritten, unchanged_by_model or rewrite_failed."
    )
    seconds: float


class ChatAnswerResponse(AnswerResponse):
    searched: SearchedQuery
    near_misses: list[CitationOut] = Field(
        default_factory=list,
        description="When nothing relevant was found: the closest passages, shown as „ähnliche Stellen“.",
    )


class OpenAIMessage(BaseModel):
    model_config = {"extra": "allow"}

    role: str
    # A string, or a list of content parts ({"type": "text", "text": …}) as newer clients send.
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(p.get("text") or "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The subset of OpenAI's chat completion request this service reads; other fields are accepted and
    ignored (sampling is fixed by the service's settings)."""

    model_config = {"extra": "allow"}

    model: str
    messages: list[OpenAIMessage] = Field(..., min_length=1, max_length=200)
    stream: bool = False


class CitationRef(BaseModel):
    """The `citations` extension of a chat completion: one entry per `[n]` in the content."""

    n: int
    doc_id: str
    revision: str
    title: str
    page: int | None = Field(description="First page of the passage (paged formats).")
    page_end: int | None
    section: str | None = Field(description="Section path, joined with ' › '.")
    quote: str = Field(description="The cited passage (shortened to 500 characters).")
