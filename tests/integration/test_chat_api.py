"""Conversational answers and the OpenAI-compatible API over the real app, real store and real corpus/;
the model edge is scripted. The OpenAI API is exercised with the official `openai` client over a socket."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM
from tests.integration.live_server import corpus_settings, serve

FIRST = "Wann beginnt der Rollout der gemeinsamen KI-Infrastruktur?"
FIRST_ANSWER = {
    "kurz": "April 2027",
    "antwort": "Der Rollout beginnt im April 2027 mit zehn Mitgliedern.",
    "quellen": [1],
}
FOLLOW_UP = "Und bis wann sollen alle angeschlossen sein?"
REWRITE = {"suchanfrage": "Bis wann sollen alle 28 Mitglieder an die KI-Infrastruktur angeschlossen sein?"}
# "31. Dezember" would be split into two statements by the citation check; the month alone is enough here.
FOLLOW_UP_ANSWER = {
    "antwort": "Alle 28 Mitglieder sollen bis Dezember 2027 angeschlossen sein.",
    "quellen": [1],
}


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return corpus_settings(tmp_path_factory.mktemp("chat"), CORPUS, HashEmbedder())


def _events(body: str) -> list[tuple[str, object]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_follow_up_is_rewritten_for_search_and_the_searched_query_is_reported(corpus_store: Settings) -> None:
    llm = ScriptedLLM(REWRITE, FOLLOW_UP_ANSWER)
    with TestClient(create_app(corpus_store, embedder=HashEmbedder(), llm=llm)) as client:
        response = client.post(
            "/v1/chat/answers",
            json={
                "question": FOLLOW_UP,
                "history": [{"question": FIRST, "answer": FIRST_ANSWER["antwort"]}],
                "stream": True,
            },
        )
    events = _events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["query", "sources"] and kinds[-1] == "done" and "delta" in kinds
    query = events[0][1]
    assert query["rewritten"] and query["query"] == REWRITE["suchanfrage"]
    # The rewrite prompt saw the earlier question; the answer prompt the standalone question.
    assert FIRST in llm.calls[0][1]["content"] and FOLLOW_UP in llm.calls[0][1]["content"]
    assert REWRITE["suchanfrage"] in llm.calls[1][1]["content"]
    done = events[-1][1]
    assert done["question"] == FOLLOW_UP and not done["declined"], done
    assert "Dezember 2027" in done["answer"] and done["citations"][0]["page_start"] == 4


def test_standalone_question_is_searched_unchanged_without_a_model_call(corpus_store: Settings) -> None:
    llm = ScriptedLLM(FOLLOW_UP_ANSWER)
    question = "Bis wann sollen alle 28 Mitglieder an die gemeinsame KI-Infrastruktur angeschlossen sein?"
    with TestClient(create_app(corpus_store, embedder=HashEmbedder(), llm=llm)) as client:
        body = client.post(
            "/v1/chat/answers", json={"question": question, "history": [{"question": FIRST}]}
        ).json()
    assert body["searched"] == {
        "question": question,
        "query": question,
        "rewritten": False,
        "reason": "standalone",
        "seconds": 0.0,
    }
    assert len(llm.calls) == 1 and not body["declined"]


@pytest.fixture
def openai_server(corpus_store: Settings) -> Iterator[tuple[str, ScriptedLLM]]:
    llm = ScriptedLLM(FIRST_ANSWER, REWRITE, FOLLOW_UP_ANSWER)
    with serve(create_app(corpus_store, embedder=HashEmbedder(), llm=llm)) as url:
        yield url, llm


def _client(url: str):  # type: ignore[no-untyped-def]
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30)


def test_openai_client_lists_the_model(openai_server: tuple[str, ScriptedLLM]) -> None:
    models = _client(openai_server[0]).models.list()
    assert [m.id for m in models.data] == ["kb-rag"]


def test_openai_client_non_streaming_answer_carries_citations(openai_server: tuple[str, ScriptedLLM]) -> None:
    completion = _client(openai_server[0]).chat.completions.create(
        model="kb-rag", messages=[{"role": "user", "content": FIRST}]
    )
    message = completion.choices[0].message
    content = message.content or ""
    answer, sources = content.split("\n\nQuellen:\n")
    citations = message.model_extra["citations"]  # type: ignore[index]
    n = citations[0]["n"]
    assert answer.startswith("**April 2027**\n\nDer Rollout") and answer.endswith(f"[{n}]")
    assert sources.startswith(f"[{n}] Positionspapier") and ", S. 4" in sources
    assert citations[0]["page"] == 4
    assert citations[0]["doc_id"] == "corpus/positionspapier-ki-infrastruktur.pdf"
    assert len(citations[0]["revision"]) == 64 and "April 2027" in citations[0]["quote"]
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.model_extra["search_query"] == FIRST  # type: ignore[index]


def test_openai_client_streams_a_follow_up_with_citations_on_the_last_chunk(
    openai_server: tuple[str, ScriptedLLM],
) -> None:
    url, llm = openai_server
    client = _client(url)
    first = client.chat.completions.create(model="kb-rag", messages=[{"role": "user", "content": FIRST}])
    stream = client.chat.completions.create(
        model="kb-rag",
        stream=True,
        messages=[
            {"role": "system", "content": "Du bist hilfreich."},
            {"role": "user", "content": FIRST},
            {"role": "assistant", "content": first.choices[0].message.content or ""},
            {"role": "user", "content": FOLLOW_UP},
        ],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    n = last.model_extra["citations"][0]["n"]  # type: ignore[index]
    assert "Dezember 2027" in text and f"[{n}]" in text and f"\n\nQuellen:\n[{n}] " in text
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"][0]["page"] == 4  # type: ignore[index]
    assert last.model_extra["search_query"] == REWRITE["suchanfrage"]  # type: ignore[index]
    assert last.usage is not None and last.usage.completion_tokens > 0
    # The earlier answer reached the rewrite prompt without its short-answer line and appended source list.
    rewrite_prompt = llm.calls[1][1]["content"]
    assert "Antwort: Der Rollout beginnt im April 2027 mit zehn Mitgliedern.\n" in rewrite_prompt
    assert "Quellen:" not in rewrite_prompt


def test_stream_ends_with_done_after_the_citations_chunk(openai_server: tuple[str, ScriptedLLM]) -> None:
    import httpx

    body = {"model": "kb-rag", "stream": True, "messages": [{"role": "user", "content": FIRST}]}
    lines = [
        line
        for line in httpx.post(
            f"{openai_server[0]}/v1/chat/completions", json=body, timeout=30
        ).text.splitlines()
        if line.startswith("data: ")
    ]
    assert lines[-1] == "data: [DONE]"
    assert "citations" in json.loads(lines[-2][6:])


def test_open_webui_task_prompt_is_answered_without_retrieval_or_model(
    openai_server: tuple[str, ScriptedLLM],
) -> None:
    url, llm = openai_server
    task = (
        "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
        '### Output:\nJSON format: { "title": "your concise title here" }\n'
        f"### Chat History:\n<chat_history>\nUSER: {FIRST}\nASSISTANT: Der Rollout beginnt …\n</chat_history>"
    )
    completion = _client(url).chat.completions.create(
        model="kb-rag", messages=[{"role": "user", "content": task}]
    )
    title = json.loads(completion.choices[0].message.content or "")["title"]
    assert title == "Wann beginnt der Rollout der gemeinsamen KI-Infrastruktur"
    assert llm.calls == []


def test_unknown_model_is_a_problem_response(openai_server: tuple[str, ScriptedLLM]) -> None:
    from openai import NotFoundError

    with pytest.raises(NotFoundError) as raised:
        _client(openai_server[0]).chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": FIRST}]
        )
    assert raised.value.response.json()["code"] == "model_not_found"


def test_out_of_corpus_question_is_declined_with_near_misses(corpus_store: Settings) -> None:
    llm = ScriptedLLM(FIRST_ANSWER)
    with TestClient(create_app(corpus_store, embedder=HashEmbedder(), llm=llm)) as client:
        body = client.post("/v1/chat/answers", json={"question": "Wann wurde der Eiffelturm gebaut?"}).json()
        completion = client.post(
            "/v1/chat/completions",
            json={
                "model": "kb-rag",
                "messages": [{"role": "user", "content": "Wann wurde der Eiffelturm gebaut?"}],
            },
        ).json()
    assert body["declined"] and body["reason"] == "no_relevant_source" and llm.calls == []
    assert body["sources"] == [] and 1 <= len(body["near_misses"]) <= 3
    assert body["near_misses"][0]["page_start"] or body["near_misses"][0]["doc_id"].endswith(".md")
    content = completion["choices"][0]["message"]["content"]
    assert content.startswith("Keine Quelle gefunden.\n\nÄhnliche Stellen:\n- ")
    assert completion["choices"][0]["message"]["citations"] == []
