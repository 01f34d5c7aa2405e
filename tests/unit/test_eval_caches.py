"""The keys of the evaluation caches: the chunk code version and the vectors' model identity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from eval.chunk_cache import CHUNK_CODE, REPO, code_files, code_version
from eval.vector_cache import CachedEmbedder
from ingest.config import EmbeddingSettings
from tests.fakes import HashEmbedder


@pytest.fixture
def code_tree(tmp_path: Path) -> Path:
    """A copy of the chunk-deciding modules plus one module that does not decide chunks (the store)."""
    root = tmp_path / "code"
    for path in [*code_files(REPO), REPO / "ingest" / "store.py"]:
        target = root / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return root


def test_code_version_covers_existing_files_only() -> None:
    files = code_files(REPO)
    assert all(f.is_file() for f in files)
    assert REPO / "ingest" / "parsers" / "pdf.py" in files
    assert REPO / "ingest" / "chunking.py" in files


@pytest.mark.parametrize("entry", CHUNK_CODE)
def test_editing_any_chunk_deciding_module_changes_the_code_version(code_tree: Path, entry: str) -> None:
    before = code_version(code_tree)
    path = code_tree / entry
    target = sorted(path.rglob("*.py"))[0] if path.is_dir() else path
    target.write_bytes(target.read_bytes() + b"\n# edited\n")
    assert code_version(code_tree) != before


def test_editing_a_module_outside_the_chunk_code_keeps_the_code_version(code_tree: Path) -> None:
    before = code_version(code_tree)
    store = code_tree / "ingest" / "store.py"
    store.write_bytes(store.read_bytes() + b"\n# edited\n")
    assert code_version(code_tree) == before


def test_query_vectors_come_from_the_cache_on_a_second_run(tmp_path: Path) -> None:
    settings = EmbeddingSettings()
    first = CachedEmbedder(HashEmbedder(), settings, tmp_path)
    vector = first.embed_query("Wann beginnt der Ausbau der Radwege?")
    first.save()
    assert first.stats.queries() == {"cached": 0, "embedded": 1}

    second = CachedEmbedder(HashEmbedder(), settings, tmp_path)
    again = second.embed_query("Wann beginnt der Ausbau der Radwege?")
    assert second.stats.queries() == {"cached": 1, "embedded": 0}
    np.testing.assert_array_equal(again, vector)
    second.embed_query("Eine andere Frage?")
    assert second.stats.queries() == {"cached": 1, "embedded": 1}


def test_query_vectors_of_another_model_or_prefix_are_not_reused(tmp_path: Path) -> None:
    first = CachedEmbedder(HashEmbedder(), EmbeddingSettings(), tmp_path)
    first.embed_query("Wer entscheidet?")
    first.save()

    other_prefix = CachedEmbedder(HashEmbedder(), EmbeddingSettings(query_prefix="frage: "), tmp_path)
    other_prefix.embed_query("Wer entscheidet?")
    other_dim = CachedEmbedder(HashEmbedder(dim=32), EmbeddingSettings(), tmp_path)
    assert other_dim.embed_query("Wer entscheidet?").shape == (32,)
    assert other_prefix.stats.embedded == 1 and other_dim.stats.embedded == 1


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the passages it really embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.passages_embedded = 0

    def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        self.passages_embedded += len(texts)
        return super().embed_passages(texts)


def test_a_second_index_embeds_only_the_passages_the_first_did_not(tmp_path: Path) -> None:
    first_inner = CountingEmbedder()
    first = CachedEmbedder(first_inner, EmbeddingSettings(), tmp_path)
    shared = ["§ 1 Anwendungsbereich des IFG", "Art. 39 GG: Wahlperiode"]
    vectors = first.embed_passages(shared)
    assert first_inner.passages_embedded == 2

    second_inner = CountingEmbedder()
    second = CachedEmbedder(second_inner, EmbeddingSettings(), tmp_path)
    again = second.embed_passages([shared[1], "Protokoll der Sitzung vom 8. Dezember 2014", shared[0]])
    assert second_inner.passages_embedded == 1
    assert second.stats.passages() == {"cached": 2, "embedded": 1}
    np.testing.assert_array_equal(again[0], vectors[1])
    np.testing.assert_array_equal(again[2], vectors[0])
    fresh = HashEmbedder().embed_passages(["Protokoll der Sitzung vom 8. Dezember 2014"])
    np.testing.assert_array_equal(again[1], fresh[0])


def test_passage_vectors_of_another_passage_prefix_are_not_reused(tmp_path: Path) -> None:
    CachedEmbedder(HashEmbedder(), EmbeddingSettings(), tmp_path).embed_passages(["§ 2 Begriffe"])
    inner = CountingEmbedder()
    other = CachedEmbedder(inner, EmbeddingSettings(passage_prefix="absatz: "), tmp_path)
    other.embed_passages(["§ 2 Begriffe"])
    assert inner.passages_embedded == 1


def test_a_query_and_a_passage_of_the_same_text_are_cached_apart(tmp_path: Path) -> None:
    cache = CachedEmbedder(HashEmbedder(), EmbeddingSettings(), tmp_path)
    cache.embed_passages(["Wer entscheidet?"])
    cache.embed_query("Wer entscheidet?")
    assert cache.stats.queries() == {"cached": 0, "embedded": 1}
