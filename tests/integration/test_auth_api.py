"""Authentication, scope, audit and limits through the real app (real store, real database; embedder faked)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.errors import ConfigurationError
from service.accounts import add_user, create_token, revoke_token
from service.app import create_app
from service.audit import AuditLog
from service.config import Settings
from service.db import Database, open_database
from service.principal import Membership, Role
from tests.fakes import HashEmbedder, ScriptedLLM

DOCS = {
    "ki-gruppe.md": ("AK KI", "group", "Das Pilotbudget des AK KI beträgt 320.000 EUR."),
    "rz-gruppe.md": ("AK RZ", "group", "Das Pilotbudget des AK RZ beträgt 410.000 EUR."),
    "rz-vertraulich.md": ("AK RZ", "confidential", "Das Pilotbudget für Standort Köln ist vertraulich."),
    "oeffentlich.md": ("AK RZ", "public", "Das Pilotbudget des Verbands ist öffentlich."),
}


def _settings(tmp_path: Path, **auth: object) -> Settings:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5
    for key, value in auth.items():
        setattr(settings.auth, key, value)
    return settings


def _database(settings: Settings) -> Database:
    return open_database(settings.database_url())


def _seed(tmp_path: Path) -> None:
    """Ingest the documents once as the local admin (mode none), like `kb ingest` on the embedded store."""
    with TestClient(create_app(_settings(tmp_path), embedder=HashEmbedder(), llm=_llm())) as client:
        for name, (group, visibility, text) in DOCS.items():
            response = client.post(
                "/v1/documents",
                files={"files": (name, f"# {name}\n\n{text}\n".encode())},
                data={"working_group": group, "visibility": visibility},
            )
            assert response.status_code == 200 and not response.json()["failed"], response.text


def _llm() -> ScriptedLLM:
    return ScriptedLLM({"antwort": "Das Pilotbudget beträgt 320.000 EUR.", "quellen": [1]})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A store with the documents and a database with four users and their tokens, built once per module."""
    root = tmp_path_factory.mktemp("world")
    _seed(root)
    db = _database(_settings(root))
    try:
        add_user(db, "kira", [Membership("AK KI", Role.READER)])
        add_user(db, "ralf", [Membership("AK RZ", Role.EDITOR)])
        add_user(db, "niemand", [])
        add_user(db, "root", [], is_admin=True)
        return root, {name: create_token(db, name)[1] for name in ("kira", "ralf", "niemand", "root")}
    finally:
        db.close()


@pytest.fixture
def home(world: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    """A private copy of the world (store and database) for a test that changes it or needs other settings."""
    shutil.copytree(world[0], tmp_path / "w")
    return tmp_path / "w"


@pytest.fixture(scope="module")
def tokens(world: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return world[1]


@pytest.fixture(scope="module")
def token_client(
    world: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """Read-only tests share one token-mode app on a copy of the world (the world itself stays pristine)."""
    shared = tmp_path_factory.mktemp("shared") / "w"
    shutil.copytree(world[0], shared)
    app = create_app(_settings(shared, mode="token"), embedder=HashEmbedder(), llm=_llm())
    with TestClient(app) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _docs(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get("/v1/documents", headers=headers)
    assert response.status_code == 200, response.text
    return {d["doc_id"] for d in response.json()}


def _assert_401(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/search", {"query": "Pilotbudget"}),
        ("POST", "/v1/answers", {"question": "Wie hoch ist das Pilotbudget?"}),
        ("GET", "/v1/documents", None),
        ("GET", "/v1/decisions", None),
        ("DELETE", "/v1/documents/rz-gruppe.md", None),
    ],
)
def test_every_document_route_answers_401_without_credentials(
    token_client: TestClient, method: str, path: str, body: object
) -> None:
    _assert_401(token_client.request(method, path, json=body))
    _assert_401(token_client.request(method, path, json=body, headers={"Authorization": "Bearer kb_x_y"}))
    _assert_401(token_client.request(method, path, json=body, headers={"Authorization": "Basic a2I6a2I="}))


def test_upload_answers_401_without_credentials(token_client: TestClient) -> None:
    response = token_client.post("/v1/documents", files={"files": ("x.md", b"# X\n\nText.\n")})
    _assert_401(response)


def test_revoked_and_expired_tokens_answer_401(home: Path, tokens: dict[str, str]) -> None:
    db = _database(_settings(home))
    try:
        revoke_token(db, tokens["kira"].split("_")[1])
        _, short = create_token(db, "ralf", expires_days=1)
        from sqlalchemy import text

        with db.engine.begin() as connection:
            connection.execute(
                text("UPDATE api_tokens SET expires_at = '2020-01-01 00:00:00' WHERE expires_at IS NOT NULL")
            )
    finally:
        db.close()
    with TestClient(create_app(_settings(home, mode="token"), embedder=HashEmbedder(), llm=_llm())) as client:
        _assert_401(client.get("/v1/documents", headers=_bearer(tokens["kira"])))
        _assert_401(client.get("/v1/documents", headers=_bearer(short)))
        assert client.get("/v1/documents", headers=_bearer(tokens["ralf"])).status_code == 200


def test_health_docs_and_schema_need_no_credentials(token_client: TestClient) -> None:
    assert token_client.get("/healthz").status_code == 200
    assert token_client.get("/openapi.json").status_code == 200
    assert token_client.get("/docs").status_code == 200


def test_token_principal_reads_exactly_its_scope(token_client: TestClient, tokens: dict[str, str]) -> None:
    assert _docs(token_client, _bearer(tokens["niemand"])) == {"oeffentlich.md"}
    assert _docs(token_client, _bearer(tokens["kira"])) == {"oeffentlich.md", "ki-gruppe.md"}
    assert _docs(token_client, _bearer(tokens["ralf"])) == {
        "oeffentlich.md",
        "rz-gruppe.md",
        "rz-vertraulich.md",
    }
    assert _docs(token_client, _bearer(tokens["root"])) == set(DOCS)
    hits = token_client.post(
        "/v1/search", json={"query": "Pilotbudget"}, headers=_bearer(tokens["kira"])
    ).json()
    assert {h["doc_id"] for h in hits["hits"]} <= {"oeffentlich.md", "ki-gruppe.md"}
    narrowed = token_client.post(
        "/v1/search",
        json={"query": "Pilotbudget", "filters": {"working_group": ["AK RZ"]}},
        headers=_bearer(tokens["kira"]),
    ).json()
    assert {h["doc_id"] for h in narrowed["hits"]} <= {"oeffentlich.md"}
    delete = token_client.delete("/v1/documents/rz-vertraulich.md", headers=_bearer(tokens["kira"]))
    assert delete.status_code == 404


def test_requests_are_audited_with_principal_points_and_outcome(home: Path, tokens: dict[str, str]) -> None:
    with TestClient(create_app(_settings(home, mode="token"), embedder=HashEmbedder(), llm=_llm())) as client:
        client.post("/v1/search", json={"query": "Pilotbudget"}, headers=_bearer(tokens["kira"]))
        client.get("/v1/documents")  # refused: audited as 401 without a principal
        client.get("/healthz")  # touches no document: not audited
    db = _database(_settings(home))
    try:
        log = AuditLog(db)
        entries = [e for e in log.entries() if e.principal != "local"]
        assert log.verify().ok
    finally:
        db.close()
    assert [(e.principal, e.endpoint, e.outcome) for e in entries] == [
        ("kira", "POST /v1/search", "200"),
        ("-", "GET /v1/documents", "401"),
    ]
    search = entries[0]
    assert search.query is not None and search.query.startswith("sha256:")  # KB_AUDIT__QUERY_TEXT=hash
    assert search.points and all(len(revision) == 64 for _, revision in search.points)


def test_rate_limit_answers_429_with_retry_after(home: Path, tokens: dict[str, str]) -> None:
    app = create_app(_settings(home, mode="token", rate_limit_per_min=2), embedder=HashEmbedder(), llm=_llm())
    with TestClient(app) as client:
        statuses = [
            client.get("/v1/documents", headers=_bearer(tokens["kira"])).status_code for _ in range(3)
        ]
        assert statuses[:2] == [200, 200]
        refused = client.get("/v1/documents", headers=_bearer(tokens["kira"]))
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert client.get("/v1/documents", headers=_bearer(tokens["ralf"])).status_code == 200


def test_trusted_proxy_headers_count_only_from_the_configured_address(home: Path) -> None:
    settings = _settings(home, mode="trusted_proxy", trusted_proxies="10.0.0.5, 192.168.7.0/24")
    app = create_app(settings, embedder=HashEmbedder(), llm=_llm())
    identity = {"X-KB-User": "kira", "X-KB-Groups": "AK KI:reader"}
    with TestClient(app, client=("10.0.0.5", 40000)) as proxy:
        assert _docs(proxy, identity) == {"oeffentlich.md", "ki-gruppe.md"}
        assert _docs(proxy, {"X-KB-User": "kira"}) == {"oeffentlich.md", "ki-gruppe.md"}  # from the database
        assert _docs(proxy, {"X-KB-User": "fremd"}) == {"oeffentlich.md"}  # unknown user, no groups
        _assert_401(proxy.get("/v1/documents"))  # no user header
    with TestClient(app, client=("192.168.7.20", 40000)) as proxy_in_network:
        assert _docs(proxy_in_network, identity) == {"oeffentlich.md", "ki-gruppe.md"}
    with TestClient(app, client=("10.0.0.6", 40000)) as elsewhere:
        _assert_401(elsewhere.get("/v1/documents", headers=identity))
        _assert_401(elsewhere.get("/v1/documents", headers={"X-KB-User": "root"}))


def test_trusted_proxy_takes_memberships_and_admin_flag_from_the_database(home: Path) -> None:
    settings = _settings(home, mode="trusted_proxy", trusted_proxies="127.0.0.1")
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=_llm()), client=("127.0.0.1", 1)) as c:
        assert "rz-vertraulich.md" in _docs(c, {"X-KB-User": "ralf"})
        assert _docs(c, {"X-KB-User": "root"}) == set(DOCS)
        # A groups header replaces the memberships for this request; it can never grant global admin.
        assert _docs(c, {"X-KB-User": "ralf", "X-KB-Groups": "AK KI"}) == {"oeffentlich.md", "ki-gruppe.md"}
        _assert_401(c.get("/v1/documents", headers={"X-KB-User": "ralf", "X-KB-Groups": "AK KI:owner"}))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "kb.example.org"])
def test_mode_none_refuses_a_non_loopback_address(tmp_path: Path, host: str) -> None:
    settings = _settings(tmp_path)
    settings.server.host = host
    with pytest.raises(ConfigurationError, match="KB_AUTH__MODE=none"):
        create_app(settings, embedder=HashEmbedder())


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_mode_none_serves_on_loopback(tmp_path: Path, host: str) -> None:
    settings = _settings(tmp_path)
    settings.server.host = host
    create_app(settings, embedder=HashEmbedder())


def test_token_mode_may_listen_on_every_address(tmp_path: Path) -> None:
    settings = _settings(tmp_path, mode="token")
    settings.server.host = "0.0.0.0"
    create_app(settings, embedder=HashEmbedder())


def test_oversized_upload_is_refused_from_content_length_before_the_body(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.server.max_upload_bytes = 1000
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=_llm())) as client:
        body = b"# Gross\n\n" + b"Text. " * 20_000
        response = client.post("/v1/documents", files={"files": ("gross.md", body)})
        assert response.status_code == 413 and response.json()["code"] == "file_too_large"
        assert response.headers["content-type"].startswith("application/problem+json")
        small = client.post("/v1/documents", files={"files": ("klein.md", b"# Klein\n\nKurzer Text.\n")})
        assert small.status_code == 200


def test_chunked_upload_without_content_length_stops_reading_at_the_limit(tmp_path: Path) -> None:
    import asyncio

    import httpx

    settings = _settings(tmp_path)
    settings.server.max_upload_bytes = 1000
    app = create_app(settings, embedder=HashEmbedder(), llm=_llm())
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="gross.md"\r\n\r\n'
        for _ in range(20_000):
            sent += 100
            yield b"Text " * 20
        yield b"\r\n--b--\r\n"

    async def upload() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://kb") as client:
                headers = {"content-type": "multipart/form-data; boundary=b"}
                return await client.post("/v1/documents", content=body(), headers=headers)

    response = asyncio.run(upload())
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert sent < 100_000  # of 2,000,000 bytes offered
