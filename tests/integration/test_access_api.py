"""401/403/404 semantics per endpoint and the write gaps of issue 9, through the real app in token mode (real
store, real database, real tokens; only the embedder and the model are fakes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.accounts import add_user, create_token
from service.app import create_app
from service.db import open_database
from service.principal import Membership, Role
from tests.fakes import HashEmbedder, ScriptedLLM
from tests.integration.access_setup import access_settings, note_md

A, B = "AK Alpha", "AK Beta"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    root = tmp_path_factory.mktemp("access")
    llm = ScriptedLLM({"antwort": "Keine Angabe.", "quellen": []})
    with TestClient(create_app(access_settings(root, "none"), embedder=HashEmbedder(), llm=llm)) as admin:
        for name, group, visibility, text in (
            ("bericht.md", A, "group", "Der Bericht des AK Alpha nennt den Wert ALPHAGEHEIM."),
            ("offen.md", A, "public", "Die öffentliche Notiz des AK Alpha."),
        ):
            r = admin.post(
                "/v1/documents",
                params={"working_group": group},
                files={"files": (name, note_md(text))},
                data={"visibility": visibility},
            )
            assert r.status_code == 200 and not r.json()["failed"], r.text
    db = open_database(access_settings(root, "token").database_url())
    users = {
        "alpha-editor": [Membership(A, Role.EDITOR)],
        "alpha-reader": [Membership(A, Role.READER)],
        "beta-editor": [Membership(B, Role.EDITOR)],
        "two-groups": [Membership(A, Role.EDITOR), Membership(B, Role.EDITOR)],
        "ohne": [],
    }
    try:
        tokens = {}
        for name, memberships in users.items():
            add_user(db, name, memberships)
            tokens[name] = {"Authorization": f"Bearer {create_token(db, name)[1]}"}
    finally:
        db.close()
    app = create_app(access_settings(root, "token"), embedder=HashEmbedder(), llm=llm)
    with TestClient(app) as client:
        yield client, tokens


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _upload(
    client: TestClient, headers: dict[str, str], name: str, text: str, group: str | None = None, **data: str
) -> Any:
    return client.post(
        "/v1/documents",
        params={"working_group": group} if group else None,
        files={"files": (name, note_md(text))},
        data=data,
        headers=headers,
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/v1/search", {"json": {"query": "Bericht"}}),
        ("POST", "/v1/answers", {"json": {"question": "Bericht?"}}),
        ("POST", "/v1/answers", {"json": {"question": "Bericht?", "stream": True}}),
        ("GET", "/v1/documents", {}),
        ("GET", "/v1/documents/bericht.md", {}),
        ("GET", "/v1/documents/bericht.md/original", {}),
        ("DELETE", "/v1/documents/bericht.md", {}),
        ("POST", "/v1/documents", {"files": {"files": ("x.md", b"# x\n\nText\n")}}),
        ("GET", "/v1/decisions", {}),
    ],
)
def test_every_document_route_answers_401_without_a_token(
    env: tuple[TestClient, dict[str, dict[str, str]]], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    client, _ = env
    _problem(client.request(method, path, **kwargs), 401, "unauthenticated")
    bad = {"Authorization": "Bearer kb_falsch"}
    _problem(client.request(method, path, headers=bad, **kwargs), 401, "unauthenticated")


def test_a_document_one_may_not_read_answers_404_like_a_missing_one(
    env: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, tokens = env
    for who in ("beta-editor", "ohne"):
        hidden = _problem(
            client.get("/v1/documents/bericht.md", headers=tokens[who]), 404, "document_not_found"
        )
        missing = _problem(
            client.get("/v1/documents/fehlt.md", headers=tokens[who]), 404, "document_not_found"
        )
        assert hidden.keys() == missing.keys() and hidden["title"] == missing["title"]
        assert hidden["detail"].replace("bericht.md", "X") == missing["detail"].replace("fehlt.md", "X")
        assert "ALPHAGEHEIM" not in str(hidden)
        deleted = _problem(
            client.delete("/v1/documents/bericht.md", headers=tokens[who]), 404, "document_not_found"
        )
        assert deleted["detail"] == hidden["detail"]
    body = client.get("/v1/documents/bericht.md", headers=tokens["alpha-reader"]).json()
    assert body["doc_id"] == "bericht.md" and body["current"]["working_group"] == A
    assert [r["current"] for r in body["revisions"]] == [True]


def test_upload_without_editor_role_is_refused_before_the_body_is_read(
    env: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """A body that is not even valid multipart still gets 403: the check runs before the body is parsed."""
    client, tokens = env
    garbage = {"content": b"kein multipart", "headers": {"Content-Type": "multipart/form-data; boundary=zz"}}
    for who, group in (("alpha-reader", A), ("beta-editor", A), ("ohne", B)):
        headers = {**tokens[who], **garbage["headers"]}
        r = client.post(
            "/v1/documents", params={"working_group": group}, content=garbage["content"], headers=headers
        )
        assert group in _problem(r, 403, "forbidden")["detail"]
    # Without any group: a caller who may write nowhere is refused before the body, too.
    r = client.post(
        "/v1/documents", content=garbage["content"], headers={**tokens["alpha-reader"], **garbage["headers"]}
    )
    _problem(r, 403, "forbidden")
    # A group named only in the form is checked after parsing, before any file is ingested.
    _problem(_upload(client, tokens["beta-editor"], "f.md", "Formular", working_group=A), 403, "forbidden")
    assert "f.md" not in {
        d["doc_id"] for d in client.get("/v1/documents", headers=tokens["beta-editor"]).json()
    }


def test_upload_group_defaults_to_the_only_editor_group_and_visibility_to_group(
    env: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, tokens = env
    r = _upload(client, tokens["beta-editor"], "beta-ohne-gruppe.md", "Beta ohne Angabe einer Gruppe")
    assert r.status_code == 200 and r.json()["outcomes"][0]["status"] == "ingested", r.text
    doc = client.get("/v1/documents/beta-ohne-gruppe.md", headers=tokens["beta-editor"]).json()["current"]
    assert (doc["working_group"], doc["visibility"]) == (B, "group")
    r = _upload(client, tokens["two-groups"], "zwei.md", "Zwei Gruppen")
    assert "working_group" in _problem(r, 400, "working_group_required")["detail"]
    r = _upload(client, tokens["two-groups"], "zwei.md", "Zwei Gruppen", group=A, working_group=B)
    _problem(r, 409, "working_group_conflict")
    # A sidecar naming another group does not get the file into it: the request's group outranks it.
    r = _upload(
        client, tokens["beta-editor"], "seit.md", "Seitenwagen", sidecars='{"working_group": "AK Alpha"}'
    )
    assert r.json()["outcomes"][0]["status"] == "ingested", r.text
    doc = client.get("/v1/documents/seit.md", headers=tokens["beta-editor"]).json()["current"]
    assert doc["working_group"] == B


def test_an_upload_named_like_another_groups_document_does_not_replace_it(
    env: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, tokens = env
    before = client.get("/v1/documents/bericht.md", headers=tokens["alpha-reader"]).json()
    r = _upload(client, tokens["beta-editor"], "bericht.md", "Beta überschreibt den Bericht", group=B)
    outcome = r.json()["outcomes"][0]
    assert r.status_code == 200 and outcome["status"] == "failed" and outcome["code"] == "forbidden"
    assert "ALPHAGEHEIM" not in r.text
    after = client.get("/v1/documents/bericht.md", headers=tokens["alpha-reader"]).json()
    assert after == before
    hits = client.post("/v1/search", json={"query": "ALPHAGEHEIM"}, headers=tokens["alpha-reader"]).json()[
        "hits"
    ]
    assert any("ALPHAGEHEIM" in h["text"] for h in hits)
    # Its own editor may replace it.
    r = _upload(client, tokens["alpha-editor"], "bericht.md", "Neuer Bericht ALPHAGEHEIM zwei", group=A)
    assert r.json()["outcomes"][0]["status"] == "replaced", r.text


def test_delete_needs_editor_of_the_documents_group(
    env: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, tokens = env
    assert (
        _upload(
            client, tokens["alpha-editor"], "weg.md", "Zu löschen", group=A, visibility="public"
        ).status_code
        == 200
    )
    for who in ("alpha-reader", "beta-editor"):  # both can read the public document
        _problem(client.delete("/v1/documents/weg.md", headers=tokens[who]), 403, "forbidden")
    assert client.get("/v1/documents/weg.md", headers=tokens["beta-editor"]).status_code == 200
    r = client.delete("/v1/documents/weg.md", headers=tokens["alpha-editor"])
    assert r.status_code == 200 and r.json()["deleted_points"] >= 1
    _problem(client.get("/v1/documents/weg.md", headers=tokens["alpha-editor"]), 404, "document_not_found")


def test_duplicates_only_within_what_the_uploader_reads_and_never_of_a_deleted_document(
    env: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, tokens = env
    text = "Der Inhalt, den beide Arbeitskreise haben."
    assert (
        _upload(client, tokens["alpha-editor"], "a-kopie.md", text, group=A).json()["outcomes"][0]["status"]
        == "ingested"
    )
    # The same bytes in group B: no "duplicate of a-kopie.md" oracle, the file is stored for B.
    outcome = _upload(client, tokens["beta-editor"], "b-kopie.md", text, group=B).json()["outcomes"][0]
    assert (outcome["status"], outcome["duplicate_of"]) == ("ingested", None)
    # Within what one reads, a duplicate is still found ...
    outcome = _upload(client, tokens["alpha-editor"], "a-kopie-2.md", text, group=A).json()["outcomes"][0]
    assert (outcome["status"], outcome["duplicate_of"]) == ("duplicate", "a-kopie.md")
    # ... but a deleted document no longer counts.
    assert client.delete("/v1/documents/a-kopie.md", headers=tokens["alpha-editor"]).status_code == 200
    outcome = _upload(client, tokens["alpha-editor"], "a-kopie-3.md", text, group=A).json()["outcomes"][0]
    assert (outcome["status"], outcome["duplicate_of"]) == ("ingested", None)


def test_request_filters_only_narrow_the_scope(env: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, tokens = env
    beta = tokens["beta-editor"]
    listed = client.get("/v1/documents", params={"working_group": A}, headers=beta).json()
    assert {d["visibility"] for d in listed} <= {"public"}
    revision = client.get("/v1/documents/bericht.md", headers=tokens["alpha-reader"]).json()["revisions"][0][
        "revision"
    ]
    for filters in (
        {"working_group": [A]},
        {"doc_id": ["bericht.md"]},
        {"revision": revision},
        {"as_of": "2999-01-01"},
    ):
        hits = client.post(
            "/v1/search", json={"query": "ALPHAGEHEIM Bericht", "filters": filters}, headers=beta
        ).json()["hits"]
        assert all(h["doc_id"] != "bericht.md" for h in hits), filters
    history = client.get("/v1/documents", params={"include_history": "true"}, headers=beta).json()
    assert "bericht.md" not in {d["doc_id"] for d in history}
