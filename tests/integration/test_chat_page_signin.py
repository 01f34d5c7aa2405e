"""The chat page in token mode in headless Chromium (Debian's /usr/bin/chromium via Playwright): sign in with a
token, ask a corpus question, ask a follow-up answered from the stored first turn, rate it, reload and find the
conversation with its turns. The real app on a loopback port; only the model edge is scripted."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.accounts import add_user, create_token
from service.app import create_app
from service.config import Settings
from service.db import open_database
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM
from tests.integration.live_server import corpus_settings, serve
from tests.integration.test_chat_page import ARGS, CHROMIUM, FIRST, FOLLOW_UP, REWRITTEN

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def signed_in_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    if not Path(CHROMIUM).is_file() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed")
    settings: Settings = corpus_settings(tmp_path_factory.mktemp("signin-page"), CORPUS, HashEmbedder())
    settings.auth.mode = "token"
    db = open_database(settings.database_url())
    try:
        add_user(db, "kira", [], is_admin=True)
        _info, token = create_token(db, "kira")
    finally:
        db.close()
    llm = ScriptedLLM(
        {"antwort": "Der Rollout beginnt im April 2027 mit zehn Mitgliedern.", "quellen": [1]},
        {"suchanfrage": REWRITTEN},
        {"antwort": "Alle 28 Mitglieder sollen bis Dezember 2027 angeschlossen sein.", "quellen": [1]},
    )
    with serve(create_app(settings, embedder=HashEmbedder(), llm=llm)) as url:
        yield url, token


def test_sign_in_ask_follow_up_rate_and_find_conversation_after_reload(
    signed_in_world: tuple[str, str],
) -> None:
    from playwright.sync_api import sync_playwright

    url, token = signed_in_world
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            assert page.url.endswith("/anmelden")
            page.fill("#token", token)
            page.click("#signin")
            page.wait_for_url(url + "/")
            cookie = next(c for c in page.context.cookies() if c["name"] == "kb_session")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

            page.fill("#question", FIRST)
            page.click("#send")
            first = page.locator("article.turn").nth(0)
            first.locator(".answer button.chip.cite").first.wait_for(timeout=20_000)
            assert "April 2027" in first.locator(".answer").inner_text()
            # The page takes the next question once the turn is stored (feedback buttons) and the send button is
            # enabled again; a question sent before that is not lost but waits in the field (state.busy).
            first.locator(".feedback .fb-yes").wait_for(timeout=20_000)
            page.wait_for_function("!document.getElementById('send').disabled", timeout=20_000)

            page.fill("#question", FOLLOW_UP)
            page.keyboard.press("Enter")
            second = page.locator("article.turn").nth(1)
            second.locator(".feedback .fb-yes").wait_for(timeout=20_000)
            assert "Dezember 2027" in second.locator(".answer").inner_text()
            assert second.locator(".searched").inner_text() == f"Gesucht: {REWRITTEN}"
            second.locator(".feedback input").fill("genau richtig")
            second.locator(".feedback .fb-yes").click()
            second.locator(".feedback .thanks", has_text="Danke").wait_for(timeout=5_000)

            page.reload()
            listed = page.locator("#conversation-list li.active .conv-open")
            listed.wait_for(timeout=10_000)
            assert listed.inner_text() == FIRST
            page.locator("article.turn").nth(1).wait_for(timeout=10_000)
            turns = page.locator("article.turn")
            assert turns.count() == 2
            assert "April 2027" in turns.nth(0).locator(".answer").inner_text()
            assert turns.nth(0).locator(".answer button.chip.cite").count() >= 1
            assert "Dezember 2027" in turns.nth(1).locator(".answer").inner_text()
            assert turns.nth(1).locator(".feedback .thanks").inner_text() == "Als hilfreich bewertet"
        finally:
            browser.close()
