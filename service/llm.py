"""LLM backends behind one protocol, chosen by `LLMSettings.backend` in `build_llm`.

Both constrain the output with a JSON schema (llama.cpp grammar via `response_format`; OpenAI-compatible servers
such as vLLM and llama.cpp's server accept the same), because small models cite reliably only when forced to.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import httpx

from ingest.errors import ConfigurationError, KBError, ModelUnavailable
from service.config import LLMSettings
from service.llm_resilience import (
    CircuitBreaker,
    Clock,
    GiveUp,
    RetryPolicy,
    ServerFailure,
    SystemClock,
    stream_with_retries,
)
from service.model_files import MODELS, default_model_dir, verified_model_path

log = logging.getLogger(__name__)

Message = dict[str, str]


class LLMError(KBError):
    code = "llm_failed"
    http_status = 502


class LLMCrashed(LLMError):
    """The model's worker process died during the generation (a native crash, or killed by the system).

    Only this request fails; the worker is started anew for the next one."""

    code = "llm_crashed"
    http_status = 503


class LLMUnavailable(LLMError):
    """The remote model server cannot be reached or broke off the answer (after retries, or at once while its
    circuit breaker is open). Like `llm_crashed`: this request fails, a later one may succeed.

    The message is shown to users: German, without the server's address (that is logged on the server)."""

    code = "llm_unavailable"
    http_status = 503

    MESSAGES: ClassVar[dict[str, str]] = {
        "circuit_open": "Das Sprachmodell ist zurzeit nicht erreichbar.",
        "retries_exhausted": "Das Sprachmodell antwortet nicht.",
        "stream_broken": "Die Verbindung zum Sprachmodell ist während der Antwort abgebrochen.",
    }

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @classmethod
    def because(cls, reason: str, *, retry_after_s: int) -> LLMUnavailable:
        wait = "einer Sekunde" if retry_after_s == 1 else f"{retry_after_s} Sekunden"
        return cls(f"{cls.MESSAGES[reason]} Bitte in {wait} erneut versuchen.", retry_after_s=retry_after_s)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class LLMTimeout(LLMError):
    """The model produced nothing within `llm.worker_stall_s`; its worker was stopped and is replaced."""

    code = "llm_timeout"
    http_status = 504


class LLMBusy(LLMError):
    """The queue in front of the model is full (`llm.max_queue` requests already wait)."""

    code = "llm_busy"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class GenerationStats:
    """Filled in while a generation streams; complete once the iterator is exhausted."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_s: float | None = None
    total_s: float = 0.0
    finish_reason: str | None = None

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.total_s - (self.first_token_s or 0.0)
        return self.completion_tokens / gen_time if gen_time > 0 else 0.0


@dataclass
class Generation:
    """A streaming generation: iterate for text deltas; `stats` is final afterwards."""

    deltas: Iterator[str]
    stats: GenerationStats = field(default_factory=GenerationStats)

    def __iter__(self) -> Iterator[str]:
        return self.deltas

    def text(self) -> str:
        return "".join(self.deltas)


class LLM(Protocol):
    name: str

    def count_tokens(self, text: str) -> int: ...

    def generate(
        self, messages: Sequence[Message], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation: ...


class LlamaCppLLM:
    """A GGUF model in process; the chat template stored in the GGUF formats the messages."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int | None, temperature: float, seed: int):
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelUnavailable(
                "llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36"
            ) from exc
        self._llama = Llama(
            model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False
        )
        self._temperature = temperature
        # One llama.cpp context serves one generation at a time.
        self._lock = threading.Lock()
        self.name = f"llama.cpp/{model_path.name}"
        self.model_path = model_path

    @property
    def llama(self) -> Any:
        return self._llama

    def close(self) -> None:
        self._llama.close()

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(
        self, messages: Sequence[Message], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        stats = GenerationStats()
        kwargs: dict[str, Any] = {}
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}

        def run() -> Iterator[str]:
            with self._lock:
                start = time.perf_counter()
                llama: Any = self._llama  # its stubs type the streamed events as a union with str
                stream = llama.create_chat_completion(
                    messages=list(messages),
                    temperature=self._temperature,
                    max_tokens=max_tokens,
                    stream=True,
                    **kwargs,
                )
                for event in stream:
                    choice = event["choices"][0]
                    delta = choice.get("delta", {}).get("content") or ""
                    if choice.get("finish_reason"):
                        stats.finish_reason = choice["finish_reason"]
                    if delta:
                        if stats.first_token_s is None:
                            stats.first_token_s = time.perf_counter() - start
                        stats.completion_tokens += 1
                        yield delta
                stats.total_s = time.perf_counter() - start
                stats.prompt_tokens = self._llama.n_tokens - stats.completion_tokens

        return Generation(run(), stats)


class OpenAICompatibleLLM:
    """Any server with an OpenAI-compatible `/v1/chat/completions` (vLLM, llama.cpp server, Ollama).

    Until the first token: retried with backoff when the server refuses, answers 5xx or 429, or stays silent
    longer than the read timeout; behind a circuit breaker that fails fast while the server is down (see
    service/llm_resilience.py). The user then gets `LLMUnavailable` (503, `Retry-After`), whose message names
    no host: the base URL is logged on the server only."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None,
        temperature: float,
        seed: int,
        connect_timeout_s: float,
        read_timeout_s: float,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Clock | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # The read timeout bounds every silence, the wait for the first token (prompt evaluation) included.
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self._model = model
        self._temperature = temperature
        self._seed = seed
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._breaker = breaker or CircuitBreaker(failures=5, open_s=30.0, clock=self._clock)
        url = httpx.URL(base_url)
        self._server = f"{url.host}:{url.port or ''}{url.path}"  # for the log: no user info, no query
        # The name is shown in answers and /healthz: the model, never the server's address.
        self.name = f"openai/{model}"

    def count_tokens(self, text: str) -> int:
        # No tokenizer on this side; German runs at roughly 3.3 characters per token for Qwen-style
        # tokenizers, so this errs on the side of a smaller prompt.
        return int(len(text) / 3.3) + 1

    def generate(
        self, messages: Sequence[Message], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        stats = GenerationStats()
        body: dict[str, Any] = {
            "model": self._model,
            "messages": list(messages),
            "temperature": self._temperature,
            "max_tokens": max_tokens,
            "seed": self._seed,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if schema is not None:
            # `json_object` + `schema` is what llama.cpp's server reads; `json_schema` is the OpenAI/vLLM form.
            body["response_format"] = {"type": "json_object", "schema": schema}

        def run() -> Iterator[str]:
            start = time.perf_counter()
            deltas = stream_with_retries(
                lambda: self._attempt(body, stats, start),
                policy=self._retry,
                breaker=self._breaker,
                clock=self._clock,
                on_failure=self._log_failure,
            )
            try:
                yield from deltas
            except GiveUp as exc:
                log.warning(
                    "LLM server %s unavailable (%s after %d failed attempts; breaker %s)",
                    self._server,
                    exc.reason,
                    exc.attempts,
                    self._breaker.state,
                )
                raise LLMUnavailable.because(exc.reason, retry_after_s=exc.retry_after_s) from None
            stats.total_s = time.perf_counter() - start

        return Generation(run(), stats)

    def _log_failure(self, attempt: int, failure: ServerFailure) -> None:
        log.warning("LLM server %s: attempt %d failed: %s", self._server, attempt, failure)

    def _attempt(self, body: dict[str, Any], stats: GenerationStats, start: float) -> Iterator[str]:
        """One request to the server: its text deltas. `ServerFailure` when another attempt may help."""
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    response.read()
                    raise ServerFailure(f"answered {response.status_code}: {response.text[:300]}")
                if response.status_code >= 400:
                    response.read()
                    raise LLMError(f"LLM server answered {response.status_code}: {response.text[:300]}")
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = _stream_event(data)
                    usage = event.get("usage")
                    if usage:
                        stats.prompt_tokens = int(usage.get("prompt_tokens") or 0)
                        stats.completion_tokens = int(usage.get("completion_tokens") or 0)
                    for choice in event.get("choices") or []:
                        if choice.get("finish_reason"):
                            stats.finish_reason = choice["finish_reason"]
                        delta = (choice.get("delta") or {}).get("content") or ""
                        if delta:
                            if stats.first_token_s is None:
                                stats.first_token_s = time.perf_counter() - start
                            if not usage:
                                stats.completion_tokens += 1
                            yield delta
                if stats.finish_reason is None:
                    # A stream that ends without saying why was cut short, e.g. by llama_cpp.server with
                    # interrupt_requests on when the next request arrived: a clear error, not a cut text.
                    raise ServerFailure("the reply ended without a finish reason")
        except httpx.TransportError as exc:
            # Refused, reset, timed out, cut mid-stream: worth another attempt while nothing was delivered.
            raise ServerFailure(f"{type(exc).__name__}: {exc}") from exc
        except httpx.HTTPError as exc:
            log.warning("LLM server %s: %s: %s", self._server, type(exc).__name__, exc)
            raise LLMError("the LLM server's answer could not be read") from exc


def _stream_event(data: str) -> dict[str, Any]:
    """One `data:` line of the server's stream, which must be a JSON object."""
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        event = None
    if not isinstance(event, dict):
        raise LLMError(f"LLM server sent a malformed stream line: {data[:120]!r}")
    return event


def resolve_model_path(settings: LLMSettings) -> Path:
    if settings.model in MODELS:
        return verified_model_path(MODELS[settings.model], settings.model_dir or default_model_dir())
    path = Path(settings.model)
    if not path.is_file():
        raise ModelUnavailable(f"LLM model not found: {settings.model} (known: {', '.join(MODELS)})")
    return path


def build_llm(settings: LLMSettings) -> LLM:
    if settings.backend == "llama_cpp" and settings.isolation:
        from service.llm_worker import WorkerLLM

        return WorkerLLM(
            resolve_model_path(settings),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            temperature=settings.temperature,
            seed=settings.seed,
            timeout_s=settings.worker_stall_s,
        )
    if settings.backend == "llama_cpp":
        return LlamaCppLLM(
            resolve_model_path(settings),
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            temperature=settings.temperature,
            seed=settings.seed,
        )
    if settings.backend == "openai":
        if not settings.base_url:
            raise ConfigurationError("KB_LLM__BASE_URL is required for the openai LLM backend")
        return OpenAICompatibleLLM(
            settings.base_url,
            model=settings.api_model,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            temperature=settings.temperature,
            seed=settings.seed,
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            retry=RetryPolicy(settings.retries, settings.retry_backoff_s, settings.retry_backoff_max_s),
            breaker=CircuitBreaker(
                failures=settings.breaker_failures, open_s=settings.breaker_open_s, clock=SystemClock()
            ),
        )
    raise ConfigurationError(f"unknown LLM backend: {settings.backend}")
