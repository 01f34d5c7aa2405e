"""Set-up shared by the access tests: service settings per auth mode over a fresh store, and a small note."""

from __future__ import annotations

from pathlib import Path

from service.config import Settings


def access_settings(root: Path, mode: str) -> Settings:
    settings = Settings()
    settings.store.path = root / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    settings.auth.mode = mode  # type: ignore[assignment]
    settings.auth.rate_limit_per_min = 1_000_000
    return settings


def note_md(text: str) -> bytes:
    return f"# Notiz\n\n{text}\n".encode()
