"""Fakes of the model edge only (embedder, LLM), for tests that are about something else."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from service.llm import Generation, GenerationStats


class HashEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words are similar. Not a language model."""

    name = "test/hash-embedder"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def _vector(self, text: str) -> npt.NDArray[np.float32]:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            index = int(hashlib.md5(word[:6].encode()).hexdigest(), 16) % self.dim
            vec[index] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec + (1.0 / np.sqrt(self.dim))

    def embed_passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.array([self._vector(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        return self._vector(text)


class ScriptedLLM:
    """Replies with the scripted outputs in turn; records the messages it was given."""

    name = "test/scripted"

    def __init__(self, *outputs: str | dict[str, Any]) -> None:
        self.outputs = [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in outputs]
        self.calls: list[Sequence[dict[str, str]]] = []
        self.schemas: list[dict[str, Any] | None] = []

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def generate(
        self, messages: Sequence[dict[str, str]], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        self.calls.append(messages)
        self.schemas.append(schema)
        text = self.outputs[min(len(self.calls) - 1, len(self.outputs) - 1)]
        stats = GenerationStats(prompt_tokens=self.count_tokens(str(messages)))

        def deltas() -> Iterator[str]:
            for i in range(0, len(text), 7):
                stats.completion_tokens += 1
                yield text[i : i + 7]
            stats.first_token_s = 0.001
            stats.total_s = 0.002

        return Generation(deltas(), stats)
