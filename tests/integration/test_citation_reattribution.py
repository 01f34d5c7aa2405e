"""The answer path end to end: a model that cites the wrong passage gets its citation moved to the right one.

Real ASGI app, real PDF parser, real Qdrant Edge store; only the model edge is faked (HashEmbedder,
ScriptedLLM). The Grundgesetz is read from the shared datasets at test time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.fakes import HashEmbedder, ScriptedLLM
from tests.unit.test_citation_cases import GG, datasets_dir

QUESTION = "Auf wie viele Jahre wird der Bundestag gewählt?"
ART_39 = "auf vier Jahre gewählt"


def test_answer_citing_a_passage_without_the_number_is_reattributed_to_art_39(tmp_path: Path) -> None:
    root = datasets_dir()
    if root is None or not (root / GG).is_file():
        pytest.skip("GG.pdf not available in the shared datasets")
    llm = ScriptedLLM({"antwort": "Keine Quelle gefunden.", "quellen": []})
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.answer.max_sources, settings.answer.prompt_budget_tokens = 8, 8000
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance from term overlap
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
        upload = client.post("/v1/documents", files={"files": ("GG.pdf", (root / GG).read_bytes())})
        assert upload.status_code == 200, upload.text
        first = client.post("/v1/answers", json={"question": QUESTION}).json()
        sources = {s["number"]: s for s in first["sources"]}
        right = [n for n, s in sources.items() if ART_39 in " ".join(s["text"].split())]
        wrong = [n for n, s in sources.items() if n not in right and "Jahre" in s["text"]]
        assert right and wrong, "retrieval must offer Art. 39 and another passage that says 'Jahre'"
        # Same question, same retrieval: now the model answers and cites the wrong passage.
        llm.outputs = [f'{{"antwort": "vier Jahre [{wrong[0]}]", "quellen": [{wrong[0]}]}}']
        body = client.post("/v1/answers", json={"question": QUESTION}).json()
    assert not body["declined"], body
    assert body["unsupported_citations"] == [wrong[0]]
    assert body["reattributed_citations"] == [right[0]]
    assert [c["number"] for c in body["citations"]] == [right[0]]
    assert body["answer"] == f"vier Jahre [{right[0]}]"
    assert body["citations"][0]["doc_id"] == "GG.pdf" and body["citations"][0]["page_start"] == 11
