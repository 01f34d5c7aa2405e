"""LLM backends behind one protocol, chosen by `LLMSettings.backend` in `build_llm`.

Both constrain the output with a JSON schema (llama.cpp grammar via `response_format`; OpenAI-compatible servers
such as vLLM and llama.cpp's server accept the same), because small models cite reliably only when forced to.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from ingest.errors import ConfigurationError, KBError, ModelUnavailable
from service.config import LLMSettings
from service.model_files import MODELS, default_model_dir, verified_model_path

Message = dict[str, str]


class LLMError(KBError):
    code = "llm_failed"
    http_status = 502


class LLMCrashed(LLMError):
    """The model's worker process died during the generation (a native crash, or killed by the system).

    Only this request fails; the worker is started anew for the next one."""

    code = "llm_crashed"
    http_status = 503


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
    """Any server with an OpenAI-compatible `/v1/chat/completions` (vLLM, llama.cpp server, Ollama)."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str | None,
        temperature: float,
        seed: int,
        timeout_s: float,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
        self._model = model
        self._temperature = temperature
        self._seed = seed
        self.name = f"openai/{model}@{base_url}"

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
            try:
                with self._client.stream("POST", "/chat/completions", json=body) as response:
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
            except httpx.HTTPError as exc:
                raise LLMError(f"LLM server unreachable or the connection broke: {exc}") from exc
            stats.total_s = time.perf_counter() - start

        return Generation(run(), stats)


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
            timeout_s=settings.timeout_s,
        )
    raise ConfigurationError(f"unknown LLM backend: {settings.backend}")
