"""A damaged PDF is ingested and its outcome names pypdf's warnings (real parser, real Qdrant Edge store)."""

from __future__ import annotations

from pathlib import Path

from reportlab.pdfgen import canvas

from ingest.config import IngestSettings
from ingest.pipeline import IngestPipeline, Status
from ingest.store import EdgeStore
from tests.fakes import HashEmbedder


def test_ingest_outcome_carries_pypdf_warnings_of_a_damaged_pdf(tmp_path: Path) -> None:
    path = tmp_path / "kaputt.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 750, "Der Arbeitskreis beschließt den Bericht.")
    pdf.showPage()
    pdf.save()
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"%%EOF")] + b"%%E")  # a torn end-of-file marker
    emb = HashEmbedder()
    store = EdgeStore(str(tmp_path / "store"), emb.dim)
    try:
        report = IngestPipeline(store, emb, IngestSettings()).ingest_paths([path])
    finally:
        store.close()
    [outcome] = report.outcomes
    assert outcome.status is Status.INGESTED
    assert any("EOF marker" in w for w in outcome.warnings), outcome.warnings


def test_upload_response_names_pypdf_warnings_of_a_damaged_pdf(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings
    from tests.fakes import ScriptedLLM

    path = tmp_path / "kaputt.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 750, "Der Arbeitskreis beschließt den Bericht.")
    pdf.showPage()
    pdf.save()
    data = path.read_bytes()
    torn = data[: data.rindex(b"%%EOF")] + b"%%E"
    settings = Settings()
    settings.store.path = tmp_path / "store"
    app = create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM({"antwort": "-", "quellen": []}))
    with TestClient(app) as client:
        body = client.post("/v1/documents", files={"files": ("kaputt.pdf", torn)}).json()
    [outcome] = body["outcomes"]
    assert outcome["status"] == "ingested"
    assert any("EOF marker" in w for w in outcome["warnings"]), outcome
