"""What a person reads from `kb`, and `kb ask`: through the CLI's own entry point against an app the test builds
(real routes, real Qdrant Edge on tmp_path; only the model edge faked), and once as a piped subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ingest.errors import KBError
from kb_cli.client import ServiceClient, in_process, record_service, running_service
from kb_cli.commands import CliContext
from kb_cli.main import app, main
from service.app import create_app
from service.config import Settings
from tests.conftest import CORPUS, REPO
from tests.fakes import HashEmbedder, ScriptedLLM

LONG = "protokoll-des-arbeitskreises-ki-und-automatisierung-sitzung-15-vom-2025-11-20"
NOTE = "# Notiz AK KI\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"


def _settings(tmp_path: Path) -> Settings:
    settings = Settings()
    settings.store.path = tmp_path / "data" / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap alone
    return settings


def _connector(settings: Settings, llm: Any = None) -> Any:
    def connect(_: Settings) -> AbstractContextManager[ServiceClient]:
        return in_process(create_app(settings, embedder=HashEmbedder(), llm=llm or ScriptedLLM("{}")))

    return connect


def _run(capsys: pytest.CaptureFixture[str], connector: Any, *args: str) -> tuple[int, str, str]:
    code = main(list(args), connector)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


# -- minutes as a paged PDF, so that decisions carry pages ---------------------------------------------------
def _minutes_pdf(folder: Path, name: str) -> Path:
    """The AK KI minutes of 20.11.2025 typeset as a PDF of several pages (the sidecar carries the metadata)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    text = (CORPUS / "protokoll-ak-ki-2025-11-20.md").read_text(encoding="utf-8")
    front, body = text.split("---\n", 2)[1:]
    path = folder / name
    pdf = canvas.Canvas(str(path), pagesize=A4)
    y = 800
    for paragraph in body.splitlines():
        for line in textwrap.wrap(paragraph.replace("**", "").lstrip("# "), 90) or [""]:
            if y < 60:
                pdf.showPage()
                y = 800
            pdf.setFont("Helvetica", 10)
            pdf.drawString(50, y, line)
            y -= 14
    pdf.save()
    path.with_name(name + ".meta.yaml").write_text(front, encoding="utf-8")
    return path


@pytest.fixture
def minutes_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    folder = tmp_path / "protokolle"
    folder.mkdir()
    _minutes_pdf(folder, f"{LONG}.pdf")
    connector = _connector(_settings(tmp_path))
    code, out, err = _run(capsys, connector, "ingest", str(folder))
    assert code == 0, out + err
    return connector


def test_decisions_show_file_name_and_page_uncut_at_80_columns(
    minutes_store: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    rows = json.loads(_run(capsys, minutes_store, "decisions", "--json")[1])
    assert rows and all(r["page"] for r in rows)
    code, out, _ = _run(capsys, minutes_store, "decisions")
    assert code == 0
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert len(blocks) == len(rows)
    for row, block in zip(rows, blocks, strict=True):
        lines = _lines(block)
        assert f"Dokument:   protokolle/{LONG}.pdf" in lines
        assert f"Seite:      {row['page']}" in lines
        assert any(line.startswith("Beschluss:") for line in lines)
        assert any(line.startswith("Abstimmung:") for line in lines) == bool(row["vote"])
        # prose wraps at 80 columns; the document id line is the only one allowed to be longer
        assert all(len(line) <= 80 for line in block.splitlines()[1:] if LONG not in line)


def test_documents_one_block_each_with_whole_id_at_80_columns(
    minutes_store: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = _run(capsys, minutes_store, "documents")
    assert code == 0
    lines = _lines(out)
    assert lines[0] == f"protokolle/{LONG}.pdf"
    assert "Titel:      Protokoll der 15. Sitzung des AK KI und Automatisierung" in lines
    assert "AK:         AK KI und Automatisierung" in lines
    listed = json.loads(_run(capsys, minutes_store, "documents", "--json")[1])
    assert [d["doc_id"] for d in listed] == [f"protokolle/{LONG}.pdf"]


# -- search ---------------------------------------------------------------------------------------------------
def test_search_shows_the_sentences_that_match_with_document_and_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("positionspapier-ki-infrastruktur.pdf", "positionspapier-ki-infrastruktur.pdf.meta.yaml"):
        shutil.copy(CORPUS / name, folder / name)
    connector = _connector(_settings(tmp_path))
    assert _run(capsys, connector, "ingest", str(folder))[0] == 0
    query = "Welche Verfügbarkeit soll in der Kernarbeitszeit gelten?"
    sentence = "Die Verfügbarkeit soll in der Kernarbeitszeit (montags bis freitags von 7 bis 18 Uhr) mindestens 99,5"

    data = json.loads(_run(capsys, connector, "search", query, "--mode", "bm25", "--json")[1])
    top = data["hits"][0]
    assert {"doc_id", "title", "section_path", "source_path", "page_start", "text"} <= set(top)
    assert sentence in " ".join(top["text"].split())
    assert " ".join(top["text"].split()).index(sentence) > 400  # beyond what the CLI used to print

    code, out, _ = _run(capsys, connector, "search", query, "--mode", "bm25")
    assert code == 0
    first = out.split("\n2. ")[0]
    assert first.startswith(f"1. docs/positionspapier-ki-infrastruktur.pdf, S. {top['page_start']}")
    assert sentence in first
    assert "\x1b[" not in out  # highlighting only on a terminal


# -- ask ------------------------------------------------------------------------------------------------------
def _note_store(tmp_path: Path, capsys: pytest.CaptureFixture[str], llm: Any) -> Any:
    folder = tmp_path / "notizen"
    folder.mkdir()
    (folder / "notiz.md").write_text(NOTE, encoding="utf-8")
    connector = _connector(_settings(tmp_path), llm)
    assert _run(capsys, connector, "ingest", str(folder))[0] == 0
    return connector


def test_ask_prints_the_cited_answer_with_its_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = ScriptedLLM({"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]})
    connector = _note_store(tmp_path, capsys, llm)
    code, out, err = _run(capsys, connector, "ask", "Wie hoch ist das Pilotbudget des AK KI?")
    assert code == 0, err
    assert "Das Pilotbudget beträgt 320.000 EUR. [1]" in out
    assert any(line.startswith("[1] notizen/notiz.md") for line in _lines(out))
    assert llm.calls and "320.000 EUR" in str(llm.calls[0])  # the passage reached the model
    data = json.loads(_run(capsys, connector, "ask", "Wie hoch ist das Pilotbudget des AK KI?", "--json")[1])
    assert [c["doc_id"] for c in data["citations"]] == ["notizen/notiz.md"]


def test_ask_prints_the_short_answer_above_the_cited_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = ScriptedLLM(
        {"kurz": "320.000 EUR", "antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}
    )
    connector = _note_store(tmp_path, capsys, llm)
    code, out, err = _run(capsys, connector, "ask", "Wie hoch ist das Pilotbudget des AK KI?")
    assert code == 0, err
    lines = _lines(out)
    short = lines.index("Kurz: 320.000 EUR")
    assert lines[short + 1] == "Das Pilotbudget beträgt 320.000 EUR. [1]"


class _ModelCrashed(KBError):
    code = "llm_crashed"
    http_status = 503


class _CrashingLLM(ScriptedLLM):
    """The model edge failing the way a crashed model worker reports it."""

    def generate(self, messages: Any, *, schema: Any, max_tokens: int) -> Any:
        raise _ModelCrashed("the model process died (signal 11); it is being restarted")


def test_ask_on_a_model_crash_prints_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connector = _note_store(tmp_path, capsys, _CrashingLLM())
    code, out, err = _run(capsys, connector, "ask", "Wie hoch ist das Pilotbudget des AK KI?")
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        "error [llm_crashed] the model process died (signal 11); it is being restarted"
    ]


def test_a_problem_from_a_route_is_one_line_with_its_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connector = _connector(_settings(tmp_path))
    code, out, err = _run(capsys, connector, "delete", "gibt-es-nicht.pdf")
    assert (code, out) == (1, "")
    assert err.strip().splitlines() == ["error [document_not_found] no document with id 'gibt-es-nicht.pdf'"]


def test_ingest_keeps_relative_ids_sidecar_metadata_and_kbignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "ablage"
    (folder / "gutachten").mkdir(parents=True)
    for name in (
        "organisationsgutachten-rechenzentren.pdf",
        "organisationsgutachten-rechenzentren.pdf.meta.yaml",
    ):
        shutil.copy(CORPUS / name, folder / "gutachten" / name)
    (folder / "entwurf.md").write_text(NOTE, encoding="utf-8")
    (folder / ".kbignore").write_text("entwurf.md\n", encoding="utf-8")
    connector = _connector(_settings(tmp_path))
    code, out, _ = _run(capsys, connector, "ingest", str(folder), "--json")
    assert code == 0
    outcomes = {o["path"]: o for o in map(json.loads, out.splitlines())}
    assert outcomes["ablage/entwurf.md"]["code"] == "ignored"
    assert outcomes["ablage/gutachten/organisationsgutachten-rechenzentren.pdf"]["status"] == "ingested"
    docs = json.loads(_run(capsys, connector, "documents", "--json")[1])
    assert [(d["doc_id"], d["working_group"], d["visibility"]) for d in docs] == [
        ("ablage/gutachten/organisationsgutachten-rechenzentren.pdf", "AK Rechenzentren", "confidential")
    ]


# -- ingest output, piped, 80 columns ---------------------------------------------------------------------
def test_ingest_prints_whole_file_names_relative_to_the_folder_when_piped(tmp_path: Path) -> None:
    folder = tmp_path / "eingang"
    (folder / "unterordner").mkdir(parents=True)
    broken = f"unterordner/{LONG}-beschaedigte-fassung.pdf"
    (folder / broken).write_bytes(b"%PDF-1.7\nnot really a pdf")
    shutil.copy(CORPUS / "protokoll-ak-ki-2025-11-20.md", folder / f"{LONG}.md")
    env = {**os.environ, "COLUMNS": "80", "KB_STORE__PATH": str(tmp_path / "data" / "store")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "kb_cli", "ingest", str(folder)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = _lines(done.stdout)
    assert f"eingang/{broken}" in lines
    assert "…" not in done.stdout
    assert any(re.match(r"failed \[corrupt_file\]", line) for line in lines)
    assert re.search(r"ingested\s+1 files", done.stdout)


# -- discovery of a running service -------------------------------------------------------------------------
@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Settings, str]]:
    import socket

    import uvicorn

    settings = _settings(tmp_path / "a")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, embedder=HashEmbedder()), host="127.0.0.1", port=port, log_level="error"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    try:
        yield settings, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_cli_uses_a_recorded_service_only_when_it_owns_our_store(
    serving: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, url = serving
    record_service(settings, url)
    assert running_service(settings) == url

    other = _settings(tmp_path / "b")
    record_service(other, url)  # a record pointing at a service that owns another store
    assert running_service(other) is None

    stale = _settings(tmp_path / "c")
    record_service(stale, "http://127.0.0.1:9")  # nothing listens there
    assert running_service(stale) is None


def test_commands_go_through_the_running_service(
    serving: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings, url = serving
    record_service(settings, url)
    monkeypatch.setenv("KB_STORE__PATH", str(settings.store.path))
    folder = tmp_path / "notizen"
    folder.mkdir()
    (folder / "notiz.md").write_text(NOTE, encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", str(folder)], obj=CliContext())
    assert result.exit_code == 0, result.output
    assert f"service at {url} owns the store" in result.output
    assert [d["doc_id"] for d in httpx.get(f"{url}/v1/documents").json()] == ["notizen/notiz.md"]


def test_an_uploaded_sidecar_is_validated_like_a_sidecar_on_disk(tmp_path: Path) -> None:
    connect = _connector(_settings(tmp_path))
    with connect(Settings()) as client:
        for sidecar in ("[1, 2]", "{not json", json.dumps({"arbeitskreis_farbe": "blau"})):
            reply = client.request(
                "POST", "/v1/documents", files={"files": ("n.md", NOTE.encode())}, data={"sidecars": sidecar}
            )
            assert reply["outcomes"][0]["status"] == "failed", sidecar
            assert reply["outcomes"][0]["code"] == "invalid_metadata", sidecar
        ok = client.request(
            "POST",
            "/v1/documents",
            files={"files": ("n.md", NOTE.encode())},
            data={"sidecars": json.dumps({"working_group": "AK KI", "doc_id": "notiz-ak-ki"})},
        )
        assert ok["outcomes"][0]["doc_id"] == "notiz-ak-ki"
        assert client.get("/v1/documents")[0]["working_group"] == "AK KI"


def test_ingest_lists_the_pdf_warnings_of_a_file_that_was_still_ingested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "eingang"
    folder.mkdir()
    pdf = _minutes_pdf(folder, "beschaedigtes-protokoll-mit-einem-recht-langen-namen.pdf")
    # A torn EOF marker ("%%E"): pypdf warns and still reads the file.
    pdf.write_bytes(pdf.read_bytes().rstrip()[:-3])
    code, out, _ = _run(capsys, _connector(_settings(tmp_path)), "ingest", str(folder))
    assert code == 0
    lines = _lines(out)
    assert "files ingested with warnings:" in lines
    assert "eingang/beschaedigtes-protokoll-mit-einem-recht-langen-namen.pdf" in lines
    assert any("EOF marker" in line for line in lines)
