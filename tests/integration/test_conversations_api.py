"""Stored conversations over the real app, store, corpus/ and database; only the model edge is scripted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eval.gold import load_questions
from service.accounts import add_user, create_token
from service.app import create_app
from service.config import Settings
from service.conversations import ConversationStore
from service.db import open_database
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM
from tests.integration.live_server import corpus_settings
from tests.integration.test_chat_api import FIRST, FIRST_ANSWER, FOLLOW_UP, FOLLOW_UP_ANSWER, REWRITE


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return corpus_settings(tmp_path_factory.mktemp("conv"), CORPUS, HashEmbedder())


def _fresh_db(settings: Settings, tmp_path: Path, mode: str = "none") -> Settings:
    fresh = settings.model_copy(deep=True)
    fresh.database.url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    fresh.auth.mode = mode  # type: ignore[assignment]
    return fresh


def _events(body: str) -> list[tuple[str, object]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_follow_up_takes_history_from_stored_turns_and_reload_returns_them(
    corpus_store: Settings, tmp_path: Path
) -> None:
    llm = ScriptedLLM(FIRST_ANSWER, REWRITE, FOLLOW_UP_ANSWER)
    settings = _fresh_db(corpus_store, tmp_path)
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
        conv = client.post("/v1/conversations", json={}).json()
        first = client.post(
            "/v1/chat/answers", json={"question": FIRST, "conversation_id": conv["id"], "stream": True}
        )
        kinds = [k for k, _ in _events(first.text)]
        assert kinds[-2:] == ["done", "turn"], kinds
        # The client sends no history: the server takes it from the stored first turn.
        second = client.post(
            "/v1/chat/answers", json={"question": FOLLOW_UP, "conversation_id": conv["id"], "history": []}
        ).json()
        assert second["searched"]["rewritten"] and second["turn_id"] is not None
        assert FIRST in llm.calls[1][1]["content"]
        listed = client.get("/v1/conversations").json()
        got = client.get(f"/v1/conversations/{conv['id']}").json()
    assert [c["id"] for c in listed] == [conv["id"]] and listed[0]["title"] == FIRST
    assert [t["question"] for t in got["turns"]] == [FIRST, FOLLOW_UP]
    assert got["turns"][1]["searched_query"] == REWRITE["suchanfrage"]
    assert got["turns"][0]["citations"][0]["page_start"] and "Dezember 2027" in got["turns"][1]["answer"]
    # The reopened conversation shows the short answer the live page showed (and none where there was none).
    assert [t["short_answer"] for t in got["turns"]] == ["April 2027", None]


def test_rename_and_delete_conversation(corpus_store: Settings, tmp_path: Path) -> None:
    settings = _fresh_db(corpus_store, tmp_path)
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=ScriptedLLM())) as client:
        conv = client.post("/v1/conversations", json={"title": "Alt"}).json()
        renamed = client.patch(f"/v1/conversations/{conv['id']}", json={"title": "Neu"}).json()
        assert renamed["title"] == "Neu"
        assert client.delete(f"/v1/conversations/{conv['id']}").status_code == 204
        assert client.get(f"/v1/conversations/{conv['id']}").status_code == 404
        assert client.get("/v1/conversations").json() == []


def test_users_see_only_their_own_conversations_and_feedback(corpus_store: Settings, tmp_path: Path) -> None:
    settings = _fresh_db(corpus_store, tmp_path, mode="token")
    db = open_database(settings.database_url())
    try:
        add_user(db, "kira", [])
        add_user(db, "ralf", [])
        add_user(db, "root", [], is_admin=True)
        tokens = {name: create_token(db, name)[1] for name in ("kira", "ralf", "root")}
    finally:
        db.close()
    auth = {name: {"Authorization": f"Bearer {t}"} for name, t in tokens.items()}
    llm = ScriptedLLM(FIRST_ANSWER)
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
        # root reads everything, so its answer has the corpus source; kira's and ralf's scope is empty.
        conv = client.post("/v1/conversations", json={}, headers=auth["root"]).json()
        answer = client.post(
            "/v1/chat/answers", json={"question": FIRST, "conversation_id": conv["id"]}, headers=auth["root"]
        ).json()
        turn = answer["turn_id"]
        for stranger in ("kira", "ralf"):
            assert client.get(f"/v1/conversations/{conv['id']}", headers=auth[stranger]).status_code == 404
            assert client.get("/v1/conversations", headers=auth[stranger]).json() == []
            assert (
                client.post(
                    "/v1/chat/answers",
                    json={"question": FIRST, "conversation_id": conv["id"]},
                    headers=auth[stranger],
                ).status_code
                == 404
            )
        feedback_url = f"/v1/conversations/{conv['id']}/turns/{turn}/feedback"
        assert client.post(feedback_url, json={"helpful": False}, headers=auth["kira"]).status_code == 404
        rated = client.post(feedback_url, json={"helpful": True, "comment": "passt"}, headers=auth["root"])
        assert rated.json()["feedback"] == {"helpful": True, "comment": "passt"}
        assert client.get("/v1/feedback/export", headers=auth["kira"]).text == ""
        assert client.get("/v1/feedback/export?all=true", headers=auth["kira"]).status_code == 403
        own = client.get("/v1/feedback/export", headers=auth["root"]).text
        everybody = client.get("/v1/feedback/export?all=true", headers=auth["root"]).text
    assert own == everybody
    seed = json.loads(own.strip())
    assert seed["question"] == FIRST and seed["answers"] == [answer["answer"]]
    cited = answer["citations"][0]
    assert [r["doc"] for r in seed["relevant"]] == [cited["doc_id"]]
    # The seed is a valid gold record: the eval loader reads it and its span is the cited passage.
    gold_dir = tmp_path / "gold"
    (gold_dir / cited["doc_id"]).parent.mkdir(parents=True, exist_ok=True)
    # A doc id names the ingested folder and the file in it: seeds sit next to that folder.
    shutil.copy(CORPUS.parent / cited["doc_id"], gold_dir / cited["doc_id"])
    (gold_dir / "seeds.jsonl").write_text(own, encoding="utf-8")
    [question] = load_questions(gold_dir / "seeds.jsonl")
    assert question.question == FIRST and "April 2027" in question.relevant[0].text


class _DeletingLLM(ScriptedLLM):
    """The model edge, scripted; while it writes, the user deletes the conversation in another tab."""

    def __init__(self, on_generate: Any, *outputs: Any) -> None:
        super().__init__(*outputs)
        self.on_generate = on_generate

    def generate(self, messages: Any, *, schema: Any, max_tokens: int) -> Any:
        self.on_generate()
        return super().generate(messages, schema=schema, max_tokens=max_tokens)


def test_conversation_deleted_during_the_answer_ends_the_stream_with_an_error_and_stores_nothing(
    corpus_store: Settings, tmp_path: Path
) -> None:
    settings = _fresh_db(corpus_store, tmp_path)
    conversation: dict[str, str] = {}

    def delete_it() -> None:
        db = open_database(settings.database_url())
        try:
            ConversationStore(db).delete(settings.auth.local_user, conversation["id"])
        finally:
            db.close()

    llm = _DeletingLLM(delete_it, FIRST_ANSWER)
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
        conversation.update(client.post("/v1/conversations", json={}).json())
        streamed = client.post(
            "/v1/chat/answers",
            json={"question": FIRST, "conversation_id": conversation["id"], "stream": True},
        )
        events = _events(streamed.text)
        assert [k for k, _ in events][-2:] == ["done", "error"]
        error = events[-1][1]
        assert isinstance(error, dict) and error["code"] == "conversation_not_found"
        assert client.get("/v1/conversations").json() == []
