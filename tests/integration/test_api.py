"""The HTTP API through the real ASGI app, real parsers and a real Qdrant Edge store; model edge faked."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM

NOTE = "# Notiz AK KI\n\nDas Pilotbudget des AK KI beträgt 320.000 EUR für das Jahr 2026.\n"


def _client(
    tmp_path: Path, llm: ScriptedLLM, *, proxy: bool = False, prompt_file: str | None = None
) -> TestClient:
    """The app on `tmp_path`; with `proxy`, in trusted_proxy mode with the test client as the trusted proxy (the
    caller's memberships come from `X-KB-User` / `X-KB-Groups`); `prompt_file` replaces the answer prompt."""
    settings = Settings()
    settings.store.path = tmp_path / "store"
    if prompt_file:
        settings.answer.prompt_file = prompt_file
    # The hash embedder is not e5: relevance is decided on term overlap alone here.
    settings.retrieval.min_dense_score = 2.0
    if proxy:
        settings.auth.mode = "trusted_proxy"
        settings.auth.trusted_proxies = "127.0.0.1"
        return TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm), client=("127.0.0.1", 50000))
    return TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm))


def _member(groups: str) -> dict[str, str]:
    return {"X-KB-User": "mitglied", "X-KB-Groups": groups}


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM({"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]})


@pytest.fixture
def client(tmp_path: Path, llm: ScriptedLLM) -> Iterator[TestClient]:
    with _client(tmp_path, llm) as c:
        response = c.post(
            "/v1/documents",
            files={"files": ("notiz.md", NOTE.encode())},
            data={"working_group": "ak-ki", "visibility": "group"},
        )
        assert response.status_code == 200, response.text
        yield c


def test_upload_list_and_delete(client: TestClient) -> None:
    docs = client.get("/v1/documents").json()
    assert [d["doc_id"] for d in docs] == ["notiz.md"]
    assert docs[0]["working_group"] == "ak-ki" and docs[0]["visibility"] == "group"
    again = client.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())}).json()
    assert again["outcomes"][0]["status"] == "unchanged"
    assert client.delete("/v1/documents/notiz.md").json()["deleted_points"] >= 1
    assert client.get("/v1/documents").json() == []
    missing = client.delete("/v1/documents/notiz.md")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "document_not_found"


def test_bad_upload_is_a_per_file_outcome(client: TestClient) -> None:
    response = client.post(
        "/v1/documents",
        files=[("files", ("kaputt.pdf", b"%PDF-1.4 garbage")), ("files", ("ok.md", b"# Ok\n\nInhalt.\n"))],
    )
    body = response.json()
    assert body["failed"] == 1
    assert [o["status"] for o in body["outcomes"]] == ["failed", "ingested"]
    assert body["outcomes"][0]["code"] == "corrupt_file"


def test_search_returns_passage_with_provenance(client: TestClient) -> None:
    body = client.post("/v1/search", json={"query": "Pilotbudget AK KI"}).json()
    hit = body["hits"][0]
    assert "320.000" in hit["text"] and hit["doc_id"] == "notiz.md"
    assert hit["revision"] and hit["char_end"] > hit["char_start"]


def test_answer_cites_the_source(client: TestClient, llm: ScriptedLLM) -> None:
    body = client.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget des AK KI?"}).json()
    assert not body["declined"], body
    assert body["answer"].endswith("[1]")
    assert body["citations"][0]["doc_id"] == "notiz.md"
    assert llm.schemas[0]["properties"]["quellen"]["items"]["enum"] == [1]
    assert list(llm.schemas[0]["properties"]) == [
        "antwort",
        "quellen",
    ]  # the default asks for no short answer


def test_a_short_answer_in_the_cited_sentence_is_returned_above_it(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {"kurz": "320.000 EUR", "antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}
    )
    with _client(tmp_path, llm, prompt_file="answer_kurz.de.md") as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        body = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget?"}).json()
    assert not body["declined"] and body["short_answer"] == "320.000 EUR"
    assert body["answer"] == "Das Pilotbudget beträgt 320.000 EUR. [1]"
    # The short-answer prompt asks for the fact before the sentence (the order the grammar forces).
    assert list(llm.schemas[0]["properties"]) == ["kurz", "antwort", "quellen"]


def test_the_short_answer_streams_before_the_answer_and_done_carries_it_verified(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {"kurz": "320.000 EUR", "antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}
    )
    with _client(tmp_path, llm) as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        with c.stream("POST", "/v1/answers", json={"question": "Pilotbudget AK KI?", "stream": True}) as r:
            events = [
                (e.split("\n")[0][7:], json.loads(e.split("\n")[1][6:]))
                for e in r.read().decode().strip().split("\n\n")
            ]
    kinds = [k for k, _ in events]
    assert kinds.index("short") < kinds.index("delta")
    assert "".join(d["text"] for k, d in events if k == "short") == "320.000 EUR"
    assert "".join(d["text"] for k, d in events if k == "delta") == "Das Pilotbudget beträgt 320.000 EUR."
    assert events[-1][0] == "done" and events[-1][1]["short_answer"] == "320.000 EUR"


def test_a_short_answer_the_checked_sentence_does_not_contain_is_not_shown(tmp_path: Path) -> None:
    llm = ScriptedLLM(
        {"kurz": "350.000 EUR", "antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]}
    )
    with _client(tmp_path, llm) as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        body = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget?"}).json()
    assert not body["declined"] and body["short_answer"] is None


def test_a_declined_answer_shows_no_short_answer(tmp_path: Path) -> None:
    llm = ScriptedLLM({"kurz": "330 Meter", "antwort": "Der Eiffelturm ist 330 Meter hoch.", "quellen": [1]})
    with _client(tmp_path, llm) as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        body = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget?"}).json()
    assert body["declined"] and body["short_answer"] is None


def test_an_answer_is_declined_when_its_passage_lacks_what_the_question_asked_about(tmp_path: Path) -> None:
    # The passage holds the budget and the year, not the "Fraktion der Grünen" the question asks about; the
    # model's sentence wraps the passage's figure in the question's words (3 of its 5 content words are in the
    # passage: enough for the share rule alone, but neither word it takes over from the question).
    sentence = "Die Fraktion der Grünen: laut Notiz beträgt das Budget 320.000 EUR für 2026."
    llm = ScriptedLLM({"antwort": sentence, "quellen": [1]})
    with _client(tmp_path, llm) as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        asked = c.post(
            "/v1/answers",
            json={"question": "Wie hoch ist das Pilotbudget der Fraktion der Grünen im Jahr 2026?"},
        )
        plain = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget 2026?"})
    assert asked.json()["declined"] and asked.json()["reason"] == "citations_unsupported"
    assert not plain.json()["declined"]


def test_invalid_marker_is_reported(tmp_path: Path) -> None:
    llm = ScriptedLLM({"antwort": "Das Pilotbudget beträgt 320.000 EUR [4].", "quellen": [1, 9]})
    with _client(tmp_path, llm) as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        body = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget?"}).json()
    assert sorted(body["invalid_markers"]) == [4, 9]
    assert not body["declined"] and body["answer"] == "Das Pilotbudget beträgt 320.000 EUR. [1]"


def test_unsupported_citation_leads_to_decline(tmp_path: Path) -> None:
    llm = ScriptedLLM({"antwort": "Der Eiffelturm ist 330 Meter hoch.", "quellen": [1]})
    with _client(tmp_path, llm) as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        body = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget?"}).json()
    assert body["declined"] and body["reason"] == "citations_unsupported"
    assert body["unsupported_citations"] == [1]


def test_out_of_corpus_question_is_declined_without_calling_the_model(
    client: TestClient, llm: ScriptedLLM
) -> None:
    body = client.post("/v1/answers", json={"question": "Wann wurde der Eiffelturm gebaut?"}).json()
    assert body["declined"] and body["reason"] == "no_relevant_source"
    assert body["answer"] == "Keine Quelle gefunden." and llm.calls == []


def test_answer_streams_as_server_sent_events(client: TestClient) -> None:
    with client.stream("POST", "/v1/answers", json={"question": "Pilotbudget AK KI?", "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [
            (e.split("\n")[0][7:], json.loads(e.split("\n")[1][6:]))
            for e in r.read().decode().strip().split("\n\n")
        ]
    kinds = [k for k, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and "delta" in kinds
    streamed = "".join(d["text"] for k, d in events if k == "delta")
    assert streamed == "Das Pilotbudget beträgt 320.000 EUR."
    assert events[-1][1]["citations"][0]["doc_id"] == "notiz.md"


def test_validation_errors_are_problem_json(client: TestClient) -> None:
    response = client.post("/v1/search", json={"query": ""})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_request"


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and len(health["store_id"]) == 16
    assert "points" not in health and "/" not in health["store"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/answers", "/v1/documents", "/v1/decisions", "/healthz"} <= set(paths)


def test_decisions_from_minutes(tmp_path: Path, llm: ScriptedLLM) -> None:
    with _client(tmp_path, llm) as c:
        minutes = CORPUS / "protokoll-ak-ki-2025-09-18.md"
        c.post("/v1/documents", files={"files": (minutes.name, minutes.read_bytes())})
        rows = c.get("/v1/decisions").json()
        assert rows and all(r["doc_id"] == minutes.name for r in rows)
        assert any("TOP" in (r["agenda_item"] or "") for r in rows)
        assert c.get("/v1/decisions", params={"since": "2030-01-01"}).json() == []


def test_no_response_names_a_server_path(tmp_path: Path) -> None:
    """Ingest a folder given by its absolute path; no response (search, answers as JSON and SSE, documents,
    decisions, health, errors) contains that path. Passages name their file relative to the folder."""
    folder = tmp_path / "akten"
    (folder / "protokolle").mkdir(parents=True)
    (folder / "notiz.md").write_text(NOTE, encoding="utf-8")
    shutil.copy(CORPUS / "protokoll-ak-ki-2025-09-18.md", folder / "protokolle" / "ak-ki.md")
    (folder / "kaputt.pdf").write_bytes(b"%PDF-1.4 garbage")
    secret = str(tmp_path)
    bodies: list[str] = []
    llm = ScriptedLLM({"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]})
    with _client(tmp_path, llm) as c:
        report = c.app.state.services.pipeline.ingest_paths([folder.resolve()])  # type: ignore[attr-defined]
        assert [o.code for o in report.failed] == ["corrupt_file"]
        search = c.post("/v1/search", json={"query": "Pilotbudget AK KI"})
        hits = search.json()["hits"]
        assert {h["source_path"] for h in hits} >= {"notiz.md", "protokolle/ak-ki.md"}
        assert {h["doc_id"] for h in hits} >= {"akten/notiz.md", "akten/protokolle/ak-ki.md"}
        answer = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget des AK KI?"})
        assert answer.json()["citations"][0]["source_path"] in {"notiz.md", "protokolle/ak-ki.md"}
        with c.stream("POST", "/v1/answers", json={"question": "Pilotbudget AK KI?", "stream": True}) as r:
            bodies.append(r.read().decode())
        documents = c.get("/v1/documents", params={"include_history": True})
        assert {d["source_path"] for d in documents.json()} == {"notiz.md", "protokolle/ak-ki.md"}
        decisions = c.get("/v1/decisions")
        assert decisions.json()
        # An upload is stored and reported under its name, whatever path the client sends.
        upload = c.post(
            "/v1/documents",
            files=[
                ("files", (f"{folder}/../kaputt-hochgeladen.pdf", b"%PDF-1.4 garbage")),
                ("files", (f"{folder}/hochgeladen.md", b"# Hochgeladen\n\nInhalt zum Pilotbudget.\n")),
            ],
        )
        assert [o["path"] for o in upload.json()["outcomes"]] == ["kaputt-hochgeladen.pdf", "hochgeladen.md"]
        uploaded = c.post(
            "/v1/search", json={"query": "Hochgeladen Inhalt", "filters": {"doc_id": ["hochgeladen.md"]}}
        )
        assert [h["source_path"] for h in uploaded.json()["hits"]] == ["hochgeladen.md"]
        errors = [
            c.delete("/v1/documents/akten/fehlt.md"),
            c.post("/v1/search", json={"query": ""}),
            c.get("/v1/decisions", params={"since": 5}),
        ]
        responses = [search, answer, documents, decisions, upload, uploaded, *errors]
        responses += [c.get("/healthz"), c.get("/openapi.json")]
        bodies += [r.text for r in responses]
    # Without a model file the answer fails with 503; the message names the file, not where it is.
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0
    settings.llm.backend = "llama_cpp"
    settings.llm.model = "qwen2.5-0.5b"
    settings.llm.model_dir = tmp_path / "modelle"
    with TestClient(create_app(settings, embedder=HashEmbedder())) as c:
        missing_model = c.post("/v1/answers", json={"question": "Wie hoch ist das Pilotbudget des AK KI?"})
        assert missing_model.status_code == 503 and missing_model.json()["code"] == "model_unavailable"
        bodies.append(missing_model.text)
    assert all(r.status_code < 500 for r in responses)
    leaks = [body[:200] for body in bodies if secret in body]
    assert not leaks


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_references_no_other_host(tmp_path: Path, page: str) -> None:
    """An offline machine shows the API docs: every asset the page loads comes from the service itself."""
    with _client(tmp_path, ScriptedLLM("{}")) as c:
        response = c.get(page)
        assert response.status_code == 200
        html = response.text
        assert "://" not in html and not re.search(r"""["'(]//""", html), (
            "no absolute or protocol-relative URL"
        )
        assets = re.findall(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""", html)
        scripts = [a for a in assets if a.endswith(".js")]
        assert scripts and "/openapi.json" in assets
        for asset in assets:
            assert asset.startswith("/"), asset
            loaded = c.get(asset)
            assert loaded.status_code == 200 and len(loaded.content) > 100, asset


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_app_stops_its_parse_worker_at_shutdown(tmp_path: Path, llm: ScriptedLLM) -> None:
    with _client(tmp_path, llm) as c:
        c.post("/v1/documents", files={"files": ("notiz.md", NOTE.encode())})
        pid = c.app.state.services.pipeline.parser.pid  # type: ignore[attr-defined]
        assert pid is not None and _running(pid)
    assert not _running(pid)


PUBLIC_NOTE = (
    "# Verbandsnotiz\n\nDas Pilotbudget wird in den Arbeitskreisen beraten und ist hier nicht beziffert.\n"
)


def _stream(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> list[tuple[str, Any]]:
    with client.stream("POST", "/v1/answers", json={**body, "stream": True}, headers=headers) as r:
        assert r.status_code == 200
        return [
            (e.split("\n")[0][7:], json.loads(e.split("\n")[1][6:]))
            for e in r.read().decode().strip().split("\n\n")
        ]


def test_answers_keep_to_the_callers_scope_as_json_and_as_stream(tmp_path: Path, llm: ScriptedLLM) -> None:
    """The group note (ak-ki, visibility group) reaches neither the model nor the response for a caller outside
    its group or without any membership; a public note does. The caller's own group gets the cited answer."""
    with _client(tmp_path, llm, proxy=True) as client:
        for name, text, group, visibility in (
            ("notiz.md", NOTE, "ak-ki", "group"),
            ("verband.md", PUBLIC_NOTE, "allgemein", "public"),
        ):
            r = client.post(
                "/v1/documents",
                params={"working_group": group},
                files={"files": (name, text.encode())},
                data={"visibility": visibility},
                headers=_member(f"{group}:editor"),
            )
            assert r.status_code == 200 and not r.json()["failed"], r.text
        _answers_keep_to_the_callers_scope(client, llm)


def _answers_keep_to_the_callers_scope(client: TestClient, llm: ScriptedLLM) -> None:
    question = {"question": "Wie hoch ist das Pilotbudget des AK KI?"}
    outside = [_member("ak-rechenzentren"), _member("")]
    for headers in outside:
        body = client.post("/v1/answers", json=question, headers=headers).json()
        assert body["declined"], body
        assert {s["doc_id"] for s in body["sources"]} <= {"verband.md"} and body["citations"] == []
        events = _stream(client, question, headers)
        assert events[0][0] == "sources" and {s["doc_id"] for s in events[0][1]} <= {"verband.md"}
        assert events[-1][0] == "done" and events[-1][1]["declined"]
        assert {s["doc_id"] for s in events[-1][1]["sources"]} <= {"verband.md"}
    prompts = ["\n".join(m["content"] for m in call) for call in llm.calls]
    assert not any("320.000" in p for p in prompts), "no passage outside the scope reached the model"

    own = _member("ak-ki")
    body = client.post("/v1/answers", json=question, headers=own).json()
    assert not body["declined"] and body["citations"][0]["doc_id"] == "notiz.md"
    events = _stream(client, question, own)
    assert "notiz.md" in {s["doc_id"] for s in events[0][1]}
    assert events[-1][1]["citations"][0]["doc_id"] == "notiz.md"


def test_decisions_keep_to_the_callers_scope(tmp_path: Path, llm: ScriptedLLM) -> None:
    minutes = {
        "ak-ki": CORPUS / "protokoll-ak-ki-2025-09-18.md",
        "ak-is": CORPUS / "protokoll-ak-informationssicherheit-2025-10-07.md",
    }
    with _client(tmp_path, llm, proxy=True) as c:
        for group, path in minutes.items():
            c.post(
                "/v1/documents",
                params={"working_group": group},
                files={"files": (path.name, path.read_bytes())},
                data={"visibility": "group"},
                headers=_member(f"{group}:editor"),
            )

        def docs(headers: dict[str, str], **params: str) -> set[str]:
            response = c.get("/v1/decisions", headers=headers, params=params)
            assert response.status_code == 200
            return {row["doc_id"] for row in response.json()}

        both = _member("ak-ki,ak-is")
        assert docs(both) == {p.name for p in minutes.values()}, "every minutes file has decisions"
        assert docs(_member("ak-ki")) == {minutes["ak-ki"].name}
        assert docs(_member("ak-is")) == {minutes["ak-is"].name}
        assert docs(_member("ak-ki"), working_group="ak-is") == set(), "a filter does not widen the scope"
        assert docs(_member("ak-rechenzentren")) == set()
        assert docs(_member("")) == set()
