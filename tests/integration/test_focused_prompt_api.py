"""The answer prompt carries focused passages; the user still gets whole passages with their pages.

Real app, real PDF parsing, real Qdrant Edge; the model edge is `ScriptedLLM`, which records the messages it was
given — this test is about the prompt."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.fakes import HashEmbedder, ScriptedLLM

PAPER = Path(__file__).resolve().parents[2] / "corpus" / "positionspapier-ki-infrastruktur.pdf"
QUESTION = "Wie hoch sind die jährlichen Betriebskosten der KI-Infrastruktur?"
ANSWER = {"antwort": "Die jährlichen Betriebskosten werden auf 1,44 Mio. EUR geschätzt.", "quellen": [1]}


def _ask(tmp_path: Path, llm: ScriptedLLM, **answer: Any) -> list[tuple[str, Any]]:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    for key, value in answer.items():
        setattr(settings.answer, key, value)
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
        response = client.post("/v1/documents", files={"files": (PAPER.name, PAPER.read_bytes())})
        assert response.status_code == 200, response.text
        with client.stream("POST", "/v1/answers", json={"question": QUESTION, "stream": True}) as r:
            raw = r.read().decode()
    return [
        (
            block.split("\n")[0].removeprefix("event: "),
            json.loads(block.split("\n")[1].removeprefix("data: ")),
        )
        for block in raw.strip().split("\n\n")
    ]


def _user_message(llm: ScriptedLLM) -> str:
    (call,) = llm.calls
    return next(m["content"] for m in call if m["role"] == "user")


def test_model_sees_focused_passages_while_sources_carry_whole_passages_and_pages(tmp_path: Path) -> None:
    before, after = ScriptedLLM(ANSWER), ScriptedLLM(ANSWER)
    events_before = _ask(tmp_path / "before", before, focus_sentences=0, decisive_sources=0)
    events_after = _ask(tmp_path / "after", after, focus_sentences=3, decisive_sources=2)

    prompt_before, prompt_after = _user_message(before), _user_message(after)
    assert len(prompt_after) < 0.8 * len(prompt_before)
    assert "1,44 Mio. EUR" in prompt_after

    whole_passages = {
        (s["label"], s["text"]) for k, s_list in events_before if k == "sources" for s in s_list
    }
    sources_after = [s for k, s_list in events_after if k == "sources" for s in s_list]
    assert sources_after
    for source in sources_after:
        # The user sees the whole stored passage, with its page, exactly as without focusing.
        assert (source["label"], source["text"]) in whole_passages
        assert source["page_start"] is not None
    # … and for at least one passage the model saw less than the user does.
    assert any(source["text"].strip() not in prompt_after for source in sources_after)

    done = next(d for k, d in events_after if k == "done")
    assert not done["declined"] and done["citations"][0]["page_start"] is not None


def test_a_citation_is_checked_against_what_the_model_saw(tmp_path: Path) -> None:
    """A statement backed only by a sentence focusing left out of the prompt is not accepted: the model cannot
    have read it there. With whole passages the same statement, citing the same passage, is accepted."""
    llm = ScriptedLLM(ANSWER)
    events = _ask(tmp_path / "probe", llm, focus_sentences=3, decisive_sources=2)
    prompt = _user_message(llm)
    sources = [s for k, s_list in events if k == "sources" for s in s_list]
    # A sentence of a passage's body with a figure (heading lines are part of the label line the model sees).
    left_out = [
        (number, sentence.strip())
        for number, source in enumerate(sources, start=1)
        for sentence in re.split(r"(?<=[.!?])\s+|\n\n", source["text"])
        if re.search(r"\d", sentence)
        and len(sentence) > 30
        and sentence.strip() not in prompt
        and "\n" not in sentence.strip()
    ]
    assert left_out, "no passage has a left-out sentence with a figure"
    number, sentence = left_out[0]

    probe = ScriptedLLM({"antwort": sentence, "quellen": [number]})
    done = next(
        d for k, d in _ask(tmp_path / "check", probe, focus_sentences=3, decisive_sources=2) if k == "done"
    )
    assert done["declined"] and done["reason"] == "citations_unsupported"

    whole_sources = [
        s
        for k, s_list in _ask(tmp_path / "order", ScriptedLLM(ANSWER), focus_sentences=0, decisive_sources=0)
        if k == "sources"
        for s in s_list
    ]
    [whole_number] = [
        n for n, s in enumerate(whole_sources, start=1) if s["text"] == sources[number - 1]["text"]
    ]
    whole = ScriptedLLM({"antwort": sentence, "quellen": [whole_number]})
    done_whole = next(
        d for k, d in _ask(tmp_path / "whole", whole, focus_sentences=0, decisive_sources=0) if k == "done"
    )
    assert not done_whole["declined"]
