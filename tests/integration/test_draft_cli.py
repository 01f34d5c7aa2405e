"""`kb draft` as an HTTP client of /v1/drafts, given the in-process app's client (model edge scripted)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.config import Settings
from service.draft_cli import app
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM

TOPIC = "Pilotbudget KI-Wissensassistent"
REPLY = {
    "aussagen": [
        {
            "text": "Der AK beschließt das Pilotprojekt „KI-Wissensassistent“ mit einem Pilotbudget von 250.000 EUR.",
            "quellen": [1],
        }
    ]
}


def test_kb_draft_writes_docx_with_footnotes_prints_json_and_replays(tmp_path: Path) -> None:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0
    runner = CliRunner()
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM(REPLY))) as client:
        client.app.state.services.pipeline.ingest_paths([CORPUS])  # type: ignore[attr-defined]
        out = tmp_path / "entwurf.docx"
        result = runner.invoke(app, [TOPIC, "--template", "kurzvermerk", "--out", str(out)], obj=client)
        assert result.exit_code == 0, result.output
        assert "Sachstand: 1 belegte Aussagen" in result.output
        with zipfile.ZipFile(out) as docx:
            assert "word/footnotes.xml" in docx.namelist()

        as_json = runner.invoke(app, [TOPIC, "--template", "kurzvermerk", "--json"], obj=client)
        assert as_json.exit_code == 0, as_json.output
        draft = json.loads(as_json.stdout)
        assert draft["status"] == "draft" and draft["sections"][0]["statements"] and draft["sources"]

        planned = runner.invoke(
            app, [TOPIC, "--template", "kurzvermerk", "--plan-only", "--json"], obj=client
        )
        assert json.loads(planned.stdout)["status"] == "planned"

        record = tmp_path / "record.json"
        record.write_text(json.dumps(client.get(f"/v1/drafts/{draft['id']}/record").json()), encoding="utf-8")
        replayed = runner.invoke(app, ["--replay", str(record)], obj=client)
        assert replayed.exit_code == 0, replayed.output
        assert "Replay: gleicher Text" in replayed.output

        unknown = runner.invoke(app, [TOPIC, "--template", "gibtsnicht"], obj=client)
        assert unknown.exit_code == 1 and "draft_template_not_found" in unknown.output
