from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ingest.errors import ModelUnavailable
from service.model_files import MODELS, ModelSpec, verified_model_path


def _spec(content: bytes) -> ModelSpec:
    return ModelSpec("tiny", "test", (), "tiny.gguf", len(content), hashlib.sha256(content).hexdigest())


def test_missing_model_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="kb models fetch --model tiny"):
        verified_model_path(_spec(b"x"), tmp_path)


def test_sha256_is_checked_and_the_result_remembered(tmp_path: Path) -> None:
    spec = _spec(b"gguf bytes")
    (tmp_path / "tiny.gguf").write_bytes(b"gguf bytes")
    assert verified_model_path(spec, tmp_path) == tmp_path / "tiny.gguf"
    assert (tmp_path / "tiny.gguf.verified.json").is_file()
    # a changed file (other size/mtime) is hashed again and rejected
    (tmp_path / "tiny.gguf").write_bytes(b"tampered!!")
    os.utime(tmp_path / "tiny.gguf", (1, 1))
    with pytest.raises(ModelUnavailable, match="sha256 mismatch"):
        verified_model_path(spec, tmp_path)


def test_known_models_are_pinned() -> None:
    for spec in MODELS.values():
        assert len(spec.sha256) == 64 and all("==" in p for p in spec.packages)
