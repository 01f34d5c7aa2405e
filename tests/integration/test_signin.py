"""Sign-in to the chat page with a token: session cookie, CSRF on cookie-authenticated writes, sign-out.
The real app and database; no documents are needed (an empty store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.accounts import add_user, create_token, revoke_token
from service.app import create_app
from service.config import Settings
from service.db import open_database
from tests.fakes import HashEmbedder, ScriptedLLM


def _settings(tmp_path: Path, mode: str = "token") -> Settings:
    settings = Settings()
    settings.store.path = tmp_path / "store"
    settings.auth.mode = mode  # type: ignore[assignment]
    return settings


@pytest.fixture
def token_app(tmp_path: Path) -> tuple[Settings, str]:
    settings = _settings(tmp_path)
    db = open_database(settings.database_url())
    try:
        add_user(db, "kira", [])
        _info, token = create_token(db, "kira")
    finally:
        db.close()
    return settings, token


def _csrf(page: str) -> str:
    marker = '<meta name="csrf-token" content="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_page_without_session_redirects_to_signin_and_api_answers_401(
    token_app: tuple[Settings, str],
) -> None:
    settings, _ = token_app
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        page = client.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/anmelden"
        assert client.get("/anmelden").status_code == 200
        assert client.get("/v1/conversations").status_code == 401


def test_wrong_token_is_refused_on_the_signin_page(token_app: tuple[Settings, str]) -> None:
    settings, _ = token_app
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        response = client.post("/anmelden", data={"token": "kb_nope_nope"}, follow_redirects=False)
        assert response.status_code == 401 and "Token ungültig" in response.text
        assert "set-cookie" not in response.headers


def test_signin_sets_httponly_strict_cookie_and_cookie_writes_need_csrf(
    token_app: tuple[Settings, str],
) -> None:
    settings, token = token_app
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        response = client.post("/anmelden", data={"token": token}, follow_redirects=False)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "kb_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert token not in response.headers["set-cookie"]
        page = client.get("/")
        assert page.status_code == 200 and "Abmelden" in page.text
        csrf = _csrf(page.text)
        assert client.get("/v1/conversations").json() == []  # reads need no CSRF token
        assert client.post("/v1/conversations", json={}).status_code == 403
        wrong = client.post("/v1/conversations", json={}, headers={"X-CSRF-Token": "x" * len(csrf)})
        assert wrong.status_code == 403 and wrong.json()["code"] == "csrf_rejected"
        assert client.post("/v1/conversations", json={}, headers={"X-CSRF-Token": csrf}).status_code == 201
        # Bearer requests need no CSRF token (a browser never sends that header by itself).
        client.cookies.clear()
        bearer = client.post("/v1/conversations", json={}, headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 201
        assert len(client.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"}).json()) == 2


def test_signout_and_token_revocation_end_the_session(token_app: tuple[Settings, str]) -> None:
    settings, token = token_app
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        client.post("/anmelden", data={"token": token})
        csrf = _csrf(client.get("/").text)
        kept = dict(client.cookies)
        assert client.post("/abmelden", data={"csrf": "falsch"}).status_code == 403
        out = client.post("/abmelden", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/anmelden"
        # The old cookie value is dead on the server, not only deleted in this browser.
        client.cookies.update(kept)
        assert client.get("/v1/conversations").status_code == 401

        client.cookies.clear()
        client.post("/anmelden", data={"token": token})
        assert client.get("/v1/conversations").status_code == 200
        db = open_database(settings.database_url())
        try:
            revoke_token(db, token.split("_")[1])
        finally:
            db.close()
        assert client.get("/v1/conversations").status_code == 401


def test_signin_from_another_site_is_refused(token_app: tuple[Settings, str]) -> None:
    settings, token = token_app
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        response = client.post(
            "/anmelden",
            data={"token": token},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert response.status_code == 403 and "set-cookie" not in response.headers


def test_single_user_mode_has_no_signin(tmp_path: Path) -> None:
    with TestClient(
        create_app(_settings(tmp_path, "none"), embedder=HashEmbedder(), llm=ScriptedLLM())
    ) as client:
        assert client.get("/anmelden", follow_redirects=False).headers["location"] == "/"
        page = client.get("/")
        assert page.status_code == 200 and "Abmelden" not in page.text
        assert client.post("/v1/conversations", json={}).status_code == 201
