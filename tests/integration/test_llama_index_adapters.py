"""Our retriever and LLM inside llama-index: nodes keep provenance and scope; a chat engine remembers context."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.config import IngestSettings
from ingest.domain import AccessScope
from ingest.metadata import MetadataOverrides
from ingest.pipeline import IngestPipeline
from ingest.store import EdgeStore
from service.config import RetrievalSettings
from service.llama_index_adapters import ScopedRetriever, chat_engine
from service.retrieval import Retriever
from tests.fakes import HashEmbedder, ScriptedLLM


@pytest.fixture
def retriever(tmp_path: Path) -> Iterator[Retriever]:
    emb = HashEmbedder()
    store = EdgeStore(str(tmp_path / "store"), emb.dim)
    doc = tmp_path / "notiz.md"
    doc.write_text("# Notiz\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR.\n", encoding="utf-8")
    IngestPipeline(store, emb, IngestSettings()).ingest_paths(
        [doc], MetadataOverrides(working_group="ak-ki", visibility="group")
    )
    yield Retriever(store, emb, RetrievalSettings(min_dense_score=2.0))
    store.close()


def test_nodes_carry_provenance_and_respect_the_scope(retriever: Retriever) -> None:
    nodes = ScopedRetriever(retriever, AccessScope.everything()).retrieve("Pilotbudget AK KI")
    node = nodes[0].node
    assert node.metadata["doc_id"] == "notiz.md" and node.metadata["revision"]
    assert node.start_char_idx is not None and "320.000" in node.get_content()
    assert ScopedRetriever(retriever, AccessScope.for_groups(["ak-rz"])).retrieve("Pilotbudget AK KI") == []


def test_chat_engine_uses_retrieved_context_and_memory(retriever: Retriever) -> None:
    llm = ScriptedLLM("Pilotbudget AK KI", "Das Pilotbudget beträgt 320.000 EUR.")
    engine = chat_engine(retriever, llm, AccessScope.everything())
    engine.chat("Wie hoch ist das Pilotbudget des AK KI?")
    reply = engine.chat("Und wofür?")
    assert "320.000" in str(reply)
    prompts = ["\n".join(m["content"] for m in call) for call in llm.calls]
    assert any("320.000 EUR" in p for p in prompts), "retrieved passage reaches the model"
    assert any("Wie hoch ist das Pilotbudget" in p for p in prompts[1:]), "history reaches the model"
