"""`GET /v1/documents/{doc_id}/original` through the real app in token mode: the kept original files (real
store, real database, real tokens, a real PDF of corpus/; only the embedder and the model are fakes)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.domain import AccessScope
from ingest.metadata import MetadataOverrides
from ingest.originals import Originals
from ingest.pipeline import IngestPipeline, Status
from ingest.store import SearchFilters, StoredChunk, build_store
from service.accounts import add_user, create_token
from service.app import create_app
from service.config import Settings
from service.db import open_database
from service.principal import Membership, Role
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM
from tests.integration.access_setup import access_settings, note_md

A, B = "AK Alpha", "AK Beta"
PDF = CORPUS / "positionspapier-ki-infrastruktur.pdf"
PDF_ID = "alpha/positionspapier.pdf"
PDF_NAME = "Positionspapier KI-Infrastruktur.pdf"
OLD_ID = "alt.md"  # ingested before originals were kept
LEVELS = ("public", "internal", "group", "confidential")
# Who reads which visibility level of an AK Alpha document (service.principal: the four levels).
READS = {
    "alpha-editor": {"public", "internal", "group", "confidential"},
    "alpha-reader": {"public", "internal", "group"},
    "beta-editor": {"public", "internal"},
    "ohne": {"public"},
}


@dataclass(frozen=True)
class Env:
    client: TestClient
    tokens: dict[str, dict[str, str]]
    root: Path
    originals: Originals


def _ingest_without_originals(settings: Settings, name: str, data: bytes) -> None:
    """What a store made before originals were kept holds: the revision, no original file."""
    embedder = HashEmbedder()
    store = build_store(settings.store, embedder.dim)
    pipeline = IngestPipeline(store, embedder, settings.ingest.model_copy(update={"parse_isolation": False}))
    try:
        outcome = pipeline.ingest_upload(data, name, overrides=MetadataOverrides(working_group=A))
        assert outcome.status is Status.INGESTED, outcome
    finally:
        pipeline.close()
        store.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("originals")
    llm = ScriptedLLM({"antwort": "Keine Angabe.", "quellen": []})
    _ingest_without_originals(
        access_settings(root, "none"), OLD_ID, note_md("Eine alte Notiz ohne Original.")
    )
    with TestClient(create_app(access_settings(root, "none"), embedder=HashEmbedder(), llm=llm)) as admin:
        uploads = [
            (PDF_NAME, PDF.read_bytes(), {"doc_id": PDF_ID, "visibility": "group"}),
            *(
                (f"{level}.md", note_md(f"Notiz der Stufe {level}."), {"visibility": level})
                for level in LEVELS
            ),
        ]
        for name, data, form in uploads:
            r = admin.post(
                "/v1/documents", params={"working_group": A}, files={"files": (name, data)}, data=form
            )
            assert r.status_code == 200 and not r.json()["failed"], r.text
    db = open_database(access_settings(root, "token").database_url())
    users = {
        "alpha-editor": [Membership(A, Role.EDITOR)],
        "alpha-reader": [Membership(A, Role.READER)],
        "beta-editor": [Membership(B, Role.EDITOR)],
        "ohne": [],
    }
    try:
        tokens = {}
        for name, memberships in users.items():
            add_user(db, name, memberships)
            tokens[name] = {"Authorization": f"Bearer {create_token(db, name)[1]}"}
    finally:
        db.close()
    settings = access_settings(root, "token")
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
        yield Env(client, tokens, root, Originals(settings.store.originals_dir()))


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _upload(env: Env, who: str, name: str, data: bytes, group: str, **form: str) -> dict[str, Any]:
    r = env.client.post(
        "/v1/documents",
        params={"working_group": group},
        files={"files": (name, data)},
        data=form,
        headers=env.tokens[who],
    )
    assert r.status_code == 200, r.text
    outcome: dict[str, Any] = r.json()["outcomes"][0]
    return outcome


def test_the_owner_downloads_the_exact_pdf_inline_under_its_own_file_name(env: Env) -> None:
    r = env.client.get(f"/v1/documents/{PDF_ID}/original", headers=env.tokens["alpha-reader"])
    assert r.status_code == 200, r.text
    assert r.content == PDF.read_bytes()
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("inline;")
    assert disposition.endswith("filename*=UTF-8''Positionspapier%20KI-Infrastruktur.pdf")


def test_another_groups_member_gets_the_404_of_a_missing_document_with_no_title(env: Env) -> None:
    title = env.client.get(f"/v1/documents/{PDF_ID}", headers=env.tokens["alpha-reader"]).json()["current"][
        "title"
    ]
    for who in ("beta-editor", "ohne"):
        r = env.client.get(f"/v1/documents/{PDF_ID}/original", headers=env.tokens[who])
        hidden = _problem(r, 404, "document_not_found")
        missing = _problem(
            env.client.get("/v1/documents/alpha/fehlt.pdf/original", headers=env.tokens[who]),
            404,
            "document_not_found",
        )
        assert hidden["detail"].replace(PDF_ID, "X") == missing["detail"].replace("alpha/fehlt.pdf", "X")
        assert title not in r.text and PDF_NAME not in r.text and "Positionspapier" not in r.text
        assert "content-disposition" not in r.headers


def test_the_original_is_readable_exactly_where_the_search_reads_the_document(env: Env) -> None:
    """The four visibility levels, decided by the same scope as the search (which must agree here)."""
    for who, readable in READS.items():
        for level in LEVELS:
            doc_id = f"{level}.md"
            found = env.client.post(
                "/v1/search",
                json={"query": f"Notiz der Stufe {level}", "filters": {"doc_id": [doc_id]}},
                headers=env.tokens[who],
            ).json()["hits"]
            r = env.client.get(f"/v1/documents/{doc_id}/original", headers=env.tokens[who])
            expected = level in readable
            assert bool(found) is expected, (who, level)
            if expected:
                assert r.status_code == 200 and r.content == note_md(f"Notiz der Stufe {level}."), (
                    who,
                    level,
                )
            else:
                _problem(r, 404, "document_not_found")


def test_markdown_is_served_as_text_that_runs_nothing(env: Env) -> None:
    r = env.client.get("/v1/documents/public.md/original", headers=env.tokens["ohne"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert r.headers["content-security-policy"].split(";")[0] == "sandbox"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].endswith("filename*=UTF-8''public.md")


def test_revision_parameter_serves_an_older_revision_of_the_same_document(env: Env) -> None:
    first, second = note_md("Fassung eins."), note_md("Fassung zwei.")
    assert _upload(env, "alpha-editor", "verlauf.md", first, A)["status"] == "ingested"
    assert _upload(env, "alpha-editor", "verlauf.md", second, A)["status"] == "replaced"
    url, reader = "/v1/documents/verlauf.md/original", env.tokens["alpha-reader"]
    assert env.client.get(url, headers=reader).content == second
    old = hashlib.sha256(first).hexdigest()
    assert env.client.get(url, params={"revision": old}, headers=reader).content == first
    # A revision of another document, or one the caller may not read, is not found; a non-sha256 is refused.
    other = hashlib.sha256(note_md("Notiz der Stufe public.")).hexdigest()
    _problem(env.client.get(url, params={"revision": other}, headers=reader), 404, "document_not_found")
    _problem(
        env.client.get(url, params={"revision": old}, headers=env.tokens["beta-editor"]),
        404,
        "document_not_found",
    )
    for bad in ("../../etc/passwd", old.upper(), old[:-1]):
        _problem(env.client.get(url, params={"revision": bad}, headers=reader), 422, "invalid_request")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/documents/..%2F..%2F..%2F..%2Fetc%2Fpasswd/original",
        "/v1/documents/%2Fetc%2Fpasswd/original",
        "/v1/documents/..%2Foriginals/original",
        "/v1/documents/..%2F..%2Fkb.sqlite3/original",
    ],
)
def test_path_traversal_in_the_doc_id_is_not_found_and_reads_no_file(env: Env, path: str) -> None:
    r = env.client.get(path, headers=env.tokens["alpha-editor"])
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "root:" not in r.text and "SQLite" not in r.text and str(env.root) not in r.text


def test_a_document_ingested_before_originals_were_kept_answers_original_not_kept_until_ingested_again(
    env: Env,
) -> None:
    url = f"/v1/documents/{OLD_ID}/original"
    body = _problem(env.client.get(url, headers=env.tokens["alpha-reader"]), 404, "original_not_kept")
    assert str(env.root) not in str(body)
    # Only a reader learns that the document exists: everybody else gets the answer of a missing one.
    _problem(env.client.get(url, headers=env.tokens["beta-editor"]), 404, "document_not_found")
    data = note_md("Eine alte Notiz ohne Original.")
    assert _upload(env, "alpha-editor", OLD_ID, data, A)["status"] == "unchanged"
    r = env.client.get(url, headers=env.tokens["alpha-reader"])
    assert r.status_code == 200 and r.content == data


def test_no_response_of_the_original_route_names_a_server_path(env: Env) -> None:
    outcome = _upload(env, "alpha-editor", "C:\\Users\\kim\\Ablage\\Notiz (privat).md", note_md("Privat."), A)
    assert outcome["doc_id"] == "Notiz (privat).md"
    responses = [
        env.client.get("/v1/documents/Notiz (privat).md/original", headers=env.tokens["alpha-reader"]),
        env.client.get(f"/v1/documents/{PDF_ID}/original", headers=env.tokens["alpha-editor"]),
        env.client.get(f"/v1/documents/{PDF_ID}/original", headers=env.tokens["ohne"]),
        env.client.get("/v1/documents/fehlt.md/original", headers=env.tokens["alpha-editor"]),
    ]
    secrets = (str(env.root), str(env.originals.root), "/tmp/", "Users", "kim", "Ablage")
    for r in responses:
        shown = " ".join(f"{k}: {v}" for k, v in r.headers.items())
        if r.headers["content-type"].startswith("application/problem+json"):
            shown += r.text
        assert not any(s in shown for s in secrets), shown
    disposition = responses[0].headers["content-disposition"]
    assert disposition.endswith("filename*=UTF-8''Notiz%20%28privat%29.md")


def test_deleting_a_document_removes_the_originals_no_stored_revision_refers_to(env: Env) -> None:
    shared = note_md("Gleicher Inhalt in zwei Arbeitskreisen.")
    own = note_md("Nur im AK Alpha.")
    revision, own_revision = hashlib.sha256(shared).hexdigest(), hashlib.sha256(own).hexdigest()
    assert _upload(env, "alpha-editor", "geteilt.md", shared, A)["status"] == "ingested"
    assert _upload(env, "alpha-editor", "geteilt.md", own, A)["status"] == "replaced"
    # Back to the first bytes: that stored revision becomes current again.
    assert _upload(env, "alpha-editor", "geteilt.md", shared, A)["status"] == "unchanged"
    # AK Beta cannot see AK Alpha's copy, so its upload of the same bytes is a document of its own.
    assert _upload(env, "beta-editor", "kopie.md", shared, B)["status"] == "ingested"
    assert env.originals.has(revision) and env.originals.has(own_revision)

    r = env.client.delete("/v1/documents/geteilt.md", headers=env.tokens["alpha-editor"])
    assert r.status_code == 200, r.text
    assert not env.originals.has(own_revision)  # only geteilt.md's old revision held it
    assert env.originals.has(revision)  # kopie.md still holds these bytes
    r = env.client.get("/v1/documents/kopie.md/original", headers=env.tokens["beta-editor"])
    assert r.status_code == 200 and r.content == shared

    assert env.client.delete("/v1/documents/kopie.md", headers=env.tokens["beta-editor"]).status_code == 200
    assert not env.originals.has(revision)
    store = env.client.app.state.services.store  # type: ignore[attr-defined]
    kept = set(env.originals.revisions())
    heads = store.scroll(AccessScope.everything(), SearchFilters(only_heads=True, include_history=True))
    assert kept <= {StoredChunk.of(h).provenance.revision for h in heads}


def test_the_signed_in_page_opens_an_original_with_its_session_cookie_alone(env: Env) -> None:
    token = env.tokens["alpha-reader"]["Authorization"].removeprefix("Bearer ")
    # The app's lifespan runs in `env.client`; these clients only hold (or lack) the cookie, as a browser does.
    browser = TestClient(env.client.app)
    r = browser.post("/anmelden", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303 and "kb_session" in browser.cookies
    r = browser.get(f"/v1/documents/{PDF_ID}/original")
    assert r.status_code == 200 and r.content == PDF.read_bytes()
    stranger = TestClient(env.client.app)
    _problem(stranger.get(f"/v1/documents/{PDF_ID}/original"), 401, "unauthenticated")
    stranger.cookies.set("kb_session", "erfunden")
    _problem(stranger.get(f"/v1/documents/{PDF_ID}/original"), 401, "unauthenticated")


def test_downloading_an_original_is_audited_with_the_caller_and_the_revision(env: Env) -> None:
    r = env.client.get("/v1/documents/internal.md/original", headers=env.tokens["beta-editor"])
    assert r.status_code == 200
    audit_log = env.client.app.state.services.audit_log  # type: ignore[attr-defined]
    entries = [e for e in audit_log.entries(user="beta-editor") if e.endpoint.endswith("/original")]
    last = entries[-1]
    assert last.endpoint == "GET /v1/documents/internal.md/original" and last.outcome == "200"
    assert last.doc_id == "internal.md"
    assert [v for _, v in last.points] == [hashlib.sha256(note_md("Notiz der Stufe internal.")).hexdigest()]
    assert audit_log.verify().ok


def test_the_openapi_schema_documents_the_original_route(env: Env) -> None:
    operation = env.client.get("/openapi.json").json()["paths"]["/v1/documents/{doc_id}/original"]["get"]
    assert {"application/pdf", "text/markdown"} <= set(operation["responses"]["200"]["content"])
    assert "Content-Disposition" in operation["responses"]["200"]["headers"]
    assert {"401", "404", "422"} <= set(operation["responses"])
    assert "original_not_kept" in operation["description"]
