"""The one settings object of every entry point (`kb` CLI and the HTTP service).

Environment variables use the `KB_` prefix and `__` for nesting, e.g. `KB_LLM__BACKEND=openai`,
`KB_STORE__PATH=/srv/kb/store`, `KB_RETRIEVAL__TOP_K=8`. Nothing is read at import time.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.config import EmbeddingSettings, IngestSettings, StoreSettings
from ingest.store import SearchMode


class RetrievalSettings(BaseModel):
    mode: SearchMode = Field(SearchMode.HYBRID, description="hybrid (dense + BM25, RRF), dense or bm25.")
    top_k: int = Field(6, ge=1, le=100, description="Passages returned by search.")
    candidates: int = Field(40, ge=1, description="Candidates per retriever before fusion.")
    # k=5 and BM25 weight 1.2 were chosen with bench/fusion_sweep.py on the dev sets of xquad-de and karlsruhe-qa
    # (bench/RESULTS.md section e): better recall@5 and mrr@10 on both than Qdrant's usual k=60 with equal weights.
    rrf_k: int = Field(
        5, ge=1, description="RRF constant k in 1/(k + rank); small k trusts the top ranks more."
    )
    bm25_weight: float = Field(
        1.2, ge=0.0, description="Weight of the BM25 ranking in the fusion (the dense ranking weighs 1)."
    )
    min_dense_score: float = Field(
        0.85, description="Below this cosine (e5) for the best passage the question counts as out of corpus …"
    )
    min_term_overlap: float = Field(
        0.5, description="… unless this share of the question's content words occurs in the best passages."
    )


class LLMSettings(BaseModel):
    backend: Literal["llama_cpp", "openai"] = Field(
        "llama_cpp", description="llama_cpp: GGUF in process (default); openai: an OpenAI-compatible server."
    )
    model: str = Field(
        "qwen2.5-1.5b", description="llama_cpp: a model name of `kb models list` or a GGUF path."
    )
    model_dir: Path | None = Field(
        None, description="Where assembled GGUF files live (default ~/.cache/kb/models)."
    )
    isolation: bool = Field(
        True,
        description="llama_cpp: run the model in a supervised worker process, so that a native crash fails "
        "one request (`llm_crashed`) instead of the service; false runs it in the service process.",
    )
    max_queue: int = Field(
        8, ge=0, description="Generation requests that may wait for the model; one more gets 429 `llm_busy`."
    )
    concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="openai: generations sent to the server at once (vLLM batches them; draft sections and "
        "concurrent chats then run in parallel). The local model (llama_cpp) always runs one at a time.",
    )
    n_ctx: int = Field(4096, description="Context window (tokens).")
    n_threads: int | None = Field(None, description="CPU threads for llama.cpp (default: all cores).")
    base_url: str | None = Field(None, description="openai: base URL, e.g. http://gpu-llm:8000/v1.")
    api_key: SecretStr | None = Field(None, description="openai: API key.")
    api_model: str = Field("default", description="openai: the model name the server expects.")
    connect_timeout_s: float = Field(
        5.0, gt=0, description="openai: seconds to wait for the server to accept a connection."
    )
    read_timeout_s: float = Field(
        120.0,
        gt=0,
        description="openai: longest silence of the server in seconds, the wait for the first token (prompt "
        "evaluation) included.",
    )
    retries: int = Field(
        2,
        ge=0,
        description="openai: further attempts when the server refuses, answers 5xx/429 or times out — only "
        "before the first token; after it a broken stream fails the request (503 `llm_unavailable`).",
    )
    retry_backoff_s: float = Field(
        0.5, ge=0, description="openai: wait before the first retry; doubled for each further one."
    )
    retry_backoff_max_s: float = Field(4.0, ge=0, description="openai: longest wait between two attempts.")
    breaker_failures: int = Field(
        5,
        ge=1,
        description="openai: consecutive failed attempts after which the circuit breaker opens: requests then "
        "fail at once with 503 `llm_unavailable` without contacting the server.",
    )
    breaker_open_s: float = Field(
        30.0,
        gt=0,
        description="openai: seconds the breaker stays open; then one request probes the server.",
    )
    worker_stall_s: float = Field(
        600.0,
        gt=0,
        description="llama_cpp worker: longest silence (prompt evaluation included) before the worker counts "
        "as hung, is stopped and the request fails with `llm_timeout`. Seconds; generous, since a busy "
        "2-core machine evaluates a long prompt slowly.",
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(320, ge=16, description="Upper bound of generated tokens per answer.")
    seed: int = Field(42, description="Sampling seed, for reproducible answers.")


class AnswerSettings(BaseModel):
    prompt_budget_tokens: int = Field(
        1500, ge=200, description="Upper bound of prompt tokens (system + sources)."
    )
    max_sources: int = Field(4, ge=1, description="Passages offered to the model at most.")
    min_support: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of an answer's content words a cited passage must contain."
    )
    prompt_file: str = Field("answer.de.md", description="Prompt template in prompts/.")
    # The prefill of the prompt is what a chat user waits for before the first word; see service/focusing.py
    # and bench/RESULTS.md section (o) for what the two focus settings save. Off by default: on 100 xquad-de
    # questions (eval/results/focus-xquad100) focus 3 + decisive 2 halved the first-token time (9.3 → 4.1 s)
    # but cost citation precision 0.976 → 0.873 and citation recall 0.78 → 0.68.
    focus_sentences: int = Field(
        0,
        ge=0,
        description="Sentences (list items count as one) of each passage the model sees: those sharing the "
        "question's words, with the best one's neighbours; 0 shows whole passages. The user always sees the "
        "whole passage.",
    )
    focus_max_tokens: int = Field(
        90, ge=16, description="Upper bound of tokens of one focused passage (focus_sentences > 0)."
    )
    decisive_margin: float = Field(
        0.3,
        gt=0.0,
        le=1.0,
        description="Hybrid search: when the best passage's fused score leads the second by this share of "
        "itself, only `decisive_sources` passages are offered.",
    )
    decisive_sources: int = Field(
        0, ge=0, description="Passages offered when the ranking is decisive; 0 turns the rule off."
    )


class DraftSettings(BaseModel):
    template: str = Field(
        "handlungsempfehlung", description="Default draft template (prompts/templates/NAME.yaml)."
    )
    prompt_file: str = Field("draft_section.de.md", description="Prompt of one draft section in prompts/.")
    unsupported: Literal["remove", "mark"] = Field(
        "remove",
        description="A statement no cited passage supports: removed, or kept and marked „nicht belegt“.",
    )
    max_questions: int = Field(3, ge=1, le=3, description="Sub-questions per section at most.")
    hits_per_question: int = Field(3, ge=1, description="Passages kept per sub-question.")
    max_sources: int = Field(5, ge=1, description="Passages offered to the model per section at most.")
    prompt_budget_tokens: int = Field(1800, ge=200, description="Upper bound of prompt tokens per section.")
    max_tokens: int = Field(
        512,
        ge=16,
        description="Upper bound of generated tokens per section. A statement of two sentences (~320 characters) "
        "is ~110 tokens of JSON for the Qwen2.5 tokenizer, so four need ~440; a reply cut at the cap keeps the "
        "statements completed before it.",
    )
    parallel_sections: int = Field(
        1,
        ge=1,
        le=16,
        description="Sections whose model calls run at once. 1 for the local model (one generation at a "
        "time; each section then sees what the earlier ones said); more for an OpenAI-compatible server that "
        "batches requests (sections of one batch do not see each other's statements; duplicates among them "
        "are still removed).",
    )
    context_statements: int = Field(8, ge=0, description="Earlier statements shown to the model per section.")
    model_judge: Literal["auto", "on", "off"] = Field(
        "auto",
        description="After the rule-based check, ask the model once per accepted statement whether its cited "
        "passages say it (yes/no, JSON); a no removes or marks it. auto: on for an OpenAI-compatible server "
        "(the questions run in parallel there), off for the local model on CPU (one more generation per "
        "statement). Edited statements are judged too.",
    )
    judge_prompt_file: str = Field("support_judge.de.md", description="Prompt of the support judgement.")
    duplicate_threshold: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Word overlap (Jaccard) from which a statement repeats an earlier one.",
    )


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Bind address of `kb serve`.")
    port: int = Field(8000, description="Port of `kb serve`.")
    max_upload_bytes: int = Field(50 * 1024 * 1024, description="Largest accepted upload.")


class DatabaseSettings(BaseModel):
    url: str | None = Field(
        None,
        description="SQLAlchemy URL of the service database (users, tokens, audit log), e.g. "
        "postgresql+psycopg://kb@db/kb for replicas. Default: a SQLite file kb.sqlite3 next to the store "
        "directory (data/kb.sqlite3 with the default store path).",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")


class AuthSettings(BaseModel):
    mode: Literal["none", "token", "trusted_proxy"] = Field(
        "none",
        description="none: single user, every request acts as the local admin; allowed only on a loopback "
        "address. token: `Authorization: Bearer <token>` from `kb tokens create`. trusted_proxy: identity "
        "headers set by a reverse proxy, accepted only from `trusted_proxies`.",
    )
    trusted_proxies: str = Field(
        "",
        description="trusted_proxy: comma-separated addresses or networks (CIDR) of the proxies whose "
        "identity headers are believed, e.g. 10.0.0.5,10.1.0.0/24.",
    )
    user_header: str = Field("X-KB-User", description="trusted_proxy: header naming the signed-in user.")
    groups_header: str = Field(
        "X-KB-Groups",
        description="trusted_proxy: optional header of memberships `GROUP:ROLE, GROUP` (role defaults to "
        "reader); when present it replaces the user's memberships from the database for this request.",
    )
    rate_limit_per_min: int = Field(
        120, ge=0, description="Requests per minute per token (per user behind a proxy); 0 turns it off."
    )
    local_user: str = Field("local", description="none: the name of the implicit local admin.")

    def proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(
            ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()
        )


class AuditSettings(BaseModel):
    query_text: Literal["full", "hash"] = Field(
        "hash",
        description="How query texts enter the audit log: full text, or its sha256 (default; the log then "
        "proves which query was asked without storing what was asked).",
    )


class MetricsSettings(BaseModel):
    enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    token: SecretStr | None = Field(
        None,
        description="If set, /metrics needs `Authorization: Bearer <token>` (for the Prometheus scraper).",
    )


class TracingSettings(BaseModel):
    endpoint: str = Field(
        "",
        description="OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces); empty: tracing off.",
    )
    service_name: str = Field("kb-service", description="`service.name` of the exported spans.")
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="Share of requests traced (parent-based).")
    timeout_s: float = Field(5.0, gt=0, description="Export timeout; a slow collector never blocks requests.")


class LogSettings(BaseModel):
    format: Literal["text", "json"] = Field(
        "text", description="text (default) or json: one JSON object per line with the request id."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Root log level.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KB_", env_nested_delimiter="__", extra="ignore")

    store: StoreSettings = StoreSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    llm: LLMSettings = LLMSettings()
    answer: AnswerSettings = AnswerSettings()
    draft: DraftSettings = DraftSettings()
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    metrics: MetricsSettings = MetricsSettings()
    tracing: TracingSettings = TracingSettings()
    log: LogSettings = LogSettings()
    token: SecretStr | None = Field(
        None, description="`kb` as a client of a service in token mode: the API token (`KB_TOKEN`)."
    )
    service_url: str | None = Field(
        None, description="URL of a running service for `kb ingest/search/ask` (default: http://host:port)."
    )
    prompts_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "prompts", description="Directory of prompt templates."
    )

    def database_url(self) -> str:
        """The configured URL, or a SQLite file beside the store directory (relative like the store path)."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.store.path.parent / 'kb.sqlite3'}"

    def effective_service_url(self) -> str:
        return self.service_url or f"http://{self.server.host}:{self.server.port}"
