"""Drafts through the real app: corpus/ in a real Qdrant Edge store, real checker, real pandoc export,
real database; only the model edge is faked (HashEmbedder, ScriptedLLM)."""

from __future__ import annotations

import json
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from ingest.domain import AccessScope
from ingest.store import SearchFilters
from service.app import create_app
from service.citations import check_statement
from service.cited_generation import SourceBook
from service.config import Settings
from service.drafting.decisions import decision_statements
from service.drafting.writing import judging
from service.llm import Generation, GenerationStats
from service.support_judge import JUDGE_SCHEMA, NOT_BACKED
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder, ScriptedLLM

TOPIC = "Pilotbudget KI-Wissensassistent"
GROUP = "AK KI und Automatisierung"
SUPPORTED = "Der AK beschließt das Pilotprojekt „KI-Wissensassistent“ mit einem Pilotbudget von 250.000 EUR."
INVENTED = "Das Pilotbudget beträgt 999.000 EUR."
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _reply(*statements: tuple[str, list[int]]) -> dict[str, Any]:
    return {"aussagen": [{"text": text, "quellen": sources} for text, sources in statements]}


def _settings(home: Path, **auth: object) -> Settings:
    settings = Settings()
    settings.store.path = home / "store"
    settings.retrieval.min_dense_score = 2.0  # the hash embedder is not e5: relevance by term overlap
    for key, value in auth.items():
        setattr(settings.auth, key, value)
    return settings


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("seeded")
    with TestClient(create_app(_settings(home), embedder=HashEmbedder(), llm=ScriptedLLM("{}"))) as c:
        report = c.app.state.services.pipeline.ingest_paths([CORPUS])  # type: ignore[attr-defined]
        assert not report.failed
    return home


@pytest.fixture
def home(seeded: Path, tmp_path: Path) -> Path:
    shutil.copytree(seeded, tmp_path / "home")
    return tmp_path / "home"


def _client(home: Path, llm: ScriptedLLM, settings: Settings | None = None) -> TestClient:
    return TestClient(create_app(settings or _settings(home), embedder=HashEmbedder(), llm=llm))


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    with _client(home, ScriptedLLM(_reply((SUPPORTED, [1]), (INVENTED, [1])))) as c:
        yield c


def _draft(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/drafts", json={"topic": TOPIC, "template": "kurzvermerk", "working_group": GROUP, **body}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_plan_comes_first_and_its_sub_questions_can_be_edited_before_writing(client: TestClient) -> None:
    plan = _draft(client, plan_only=True)
    assert plan["status"] == "planned"
    assert [s["title"] for s in plan["sections"]] == ["Sachstand", "Bisherige Beschlüsse"]
    assert all(1 <= len(s["questions"]) <= 3 and TOPIC in s["questions"][0] for s in plan["sections"])
    assert any("Protokoll" in title for title in plan["overview"])  # the first search on the topic
    edited = client.patch(
        f"/v1/drafts/{plan['id']}", json={"questions": [["Wie hoch ist das Pilotbudget?"], []]}
    ).json()
    assert edited["sections"][0]["questions"] == ["Wie hoch ist das Pilotbudget?"]
    written = client.post(f"/v1/drafts/{plan['id']}/write", json={}).json()
    assert written["status"] == "draft"
    assert written["sections"][0]["retrieval"][0]["question"] == "Wie hoch ist das Pilotbudget?"
    late = client.patch(f"/v1/drafts/{plan['id']}", json={"questions": [["zu spät"]]})
    assert late.status_code == 409 and late.json()["code"] == "draft_state_conflict"
    again = client.post(f"/v1/drafts/{plan['id']}/write", json={"stream": True})
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


def test_statements_are_verified_and_the_invented_figure_is_removed(client: TestClient) -> None:
    draft = _draft(client)
    sachstand = draft["sections"][0]
    assert [s["text"] for s in sachstand["statements"]] == [SUPPORTED]
    assert [s["text"] for s in sachstand["removed"]] == [INVENTED]
    assert sachstand["removed"][0]["reasons"] and not sachstand["removed"][0]["supported"]
    # Server-owned numbers: every cited number names a stored source that contains the figure.
    sources = {s["number"]: s for s in draft["sources"]}
    assert len(sources) == len(draft["sources"])
    [number] = sachstand["statements"][0]["sources"]
    assert "250.000 EUR" in sources[number]["text"]


def test_unsupported_statements_are_marked_when_configured(home: Path) -> None:
    settings = _settings(home)
    settings.draft.unsupported = "mark"
    with _client(home, ScriptedLLM(_reply((SUPPORTED, [1]), (INVENTED, [1]))), settings) as c:
        sachstand = _draft(c)["sections"][0]
        assert [(s["text"], s["marked"]) for s in sachstand["statements"]] == [
            (SUPPORTED, False),
            (INVENTED, True),
        ]
        markdown = c.get(f"/v1/drafts/{_draft(c)['id']}/export").text
        assert "999.000 EUR. **[nicht belegt]**" in markdown.replace("\\", "")


def test_section_without_a_supported_statement_says_so(home: Path) -> None:
    with _client(home, ScriptedLLM(_reply((INVENTED, [1])))) as c:
        sachstand = _draft(c)["sections"][0]
        assert sachstand["statements"] == [] and sachstand["note"] == "Keine belastbare Quelle gefunden."
        assert "Keine belastbare Quelle gefunden." in c.get(f"/v1/drafts/{_draft(c)['id']}/export").text


def test_decisions_section_comes_from_the_minutes_records_without_the_model(home: Path) -> None:
    llm = ScriptedLLM(_reply((SUPPORTED, [1])))
    with _client(home, llm) as c:
        draft = _draft(c)
        assert len(llm.calls) == 1  # one model call: the Sachstand section only
        decisions = draft["sections"][1]["statements"]
        texts = [s["text"] for s in decisions]
        # The meeting's date, body and agenda item lead the statement as its provenance (from the minutes'
        # metadata); the statement itself is the decision and vote as the cited passage records them.
        leads = [s["lead"] for s in decisions]
        assert "Sitzung vom 18.09.2025, AK KI und Automatisierung, TOP 3: Pilotprojekt" in " ".join(leads)
        raised = next(t for t in texts if "320.000 EUR" in t)
        assert "Abstimmung: 7 Ja, 1 Nein, 1 Enthaltung" in raised
        sources = {s["number"]: s for s in draft["sources"]}
        for statement in decisions:
            assert statement["origin"] == "decision" and statement["supported"]
            [number] = statement["sources"]
            assert sources[number]["doc_id"].startswith("corpus/protokoll-")
            # One checker: every figure of the statement is in the passage it cites.
            assert check_statement(statement["text"], sources[number]["text"], min_support=0.5).supported
        markdown = c.get(f"/v1/drafts/{draft['id']}/export").text
        assert "*Sitzung vom 20.11.2025, AK KI und Automatisierung, TOP 3: Pilotprojekt" in markdown
        # The minutes of 20.11.2025 are not approved yet (status draft): their citation says so.
        assert (
            sources[next(s["sources"][0] for s in decisions if "320.000" in s["text"])]["marked"] == "Entwurf"
        )


def test_decisions_on_the_financing_topic_are_those_about_it_not_every_shared_word(home: Path) -> None:
    """The real minutes of corpus/: a financing topic once got the emergency-drill decision of the AK
    Informationssicherheit ("gemeinsame Notfallübung" shares "gemeinsam"); only decisions saying two of the
    topic's words are about it."""
    topic = "Finanzierung der gemeinsamen KI-Infrastruktur der Verbandsmitglieder"
    with _client(home, ScriptedLLM("{}")) as c:
        store = c.app.state.services.store  # type: ignore[attr-defined]
        statements = decision_statements(
            store, AccessScope.everything(), topic, SourceBook(), min_support=0.5
        )
    leads = [s.lead or "" for s in statements]
    assert len(leads) == 2, leads
    assert leads[0].startswith(
        "Sitzung vom 18.09.2025, AK KI und Automatisierung, TOP 2: Entwurf des Position"
    )
    assert leads[1].startswith("Sitzung vom 20.11.2025, AK KI und Automatisierung, TOP 4: Beschlussfassung")
    assert not any("Notfallübung" in s.text or "Notfallübung" in (s.lead or "") for s in statements)
    assert all(s.supported and "Finanzierungsmodells" in statements[0].text for s in statements)


def test_edited_statement_is_verified_again(client: TestClient) -> None:
    draft = _draft(client)
    [number] = draft["sections"][0]["statements"][0]["sources"]
    wrong = client.patch(
        f"/v1/drafts/{draft['id']}", json={"statements": [{"section": 0, "index": 0, "text": INVENTED}]}
    ).json()
    statement = wrong["sections"][0]["statements"][0]
    assert statement["text"] == INVENTED and not statement["supported"] and statement["marked"]
    assert any("999.000" in reason for reason in statement["reasons"])
    assert wrong["sections"][0]["note"] == "Keine belastbare Quelle gefunden."
    fixed = client.patch(
        f"/v1/drafts/{draft['id']}",
        json={"statements": [{"section": 0, "index": 0, "text": "Das Pilotbudget beträgt 250.000 EUR."}]},
    ).json()
    assert fixed["sections"][0]["statements"][0]["supported"]
    assert fixed["sections"][0]["statements"][0]["sources"] == [number]
    removed = client.patch(f"/v1/drafts/{draft['id']}", json={"remove_sources": [number]}).json()
    assert not removed["sections"][0]["statements"][0]["supported"]
    assert removed["sections"][0]["statements"][0]["sources"] == []


def test_docx_has_a_word_footnote_per_citation_each_matching_a_stored_source(
    client: TestClient, tmp_path: Path
) -> None:
    draft = _draft(client)
    response = client.get(f"/v1/drafts/{draft['id']}/export", params={"format": "docx"})
    assert response.status_code == 200
    path = tmp_path / "entwurf.docx"
    path.write_bytes(response.content)
    with zipfile.ZipFile(path) as docx:
        assert "word/footnotes.xml" in docx.namelist()
        root = ElementTree.fromstring(docx.read("word/footnotes.xml"))
    notes = [
        "".join(t.text or "" for t in note.iter(f"{W}t")).strip()
        for note in root.iter(f"{W}footnote")
        if note.get(f"{W}type") is None  # separators have a type
    ]
    citations = [n for s in draft["sections"] for st in s["statements"] for n in st["sources"]]
    assert len(notes) == len(citations) >= 2
    stored = {s["number"]: s for s in draft["sources"]}
    for note, number in zip(notes, citations, strict=True):
        source = stored[number]
        assert note == source["footnote"].replace("  ", " ")
        assert f"(Revision {source['revision'][:8]})" in note and note.startswith(source["title"])
    import docx as python_docx

    body = "\n".join(p.text for p in python_docx.Document(str(path)).paragraphs)
    assert "Sachstand" in body and "Quellen" in body and "999.000" not in body


def test_progress_streams_one_sse_event_per_section(client: TestClient) -> None:
    plan = _draft(client, plan_only=True)
    with client.stream("POST", f"/v1/drafts/{plan['id']}/write", json={"stream": True}) as response:
        body = "".join(response.iter_text())
    kinds = [line[7:] for line in body.splitlines() if line.startswith("event: ")]
    assert kinds == ["plan", "section", "section", "done"]
    done = json.loads(body.split("event: done\ndata: ", 1)[1].split("\n", 1)[0])
    assert done["status"] == "draft" and all(s["written"] for s in done["sections"])


def test_review_then_approve_ingests_the_draft_as_adopted_recommendation(client: TestClient) -> None:
    draft = _draft(client)
    skip = client.patch(f"/v1/drafts/{draft['id']}", json={"status": "approved"})
    assert skip.status_code == 409  # draft → approved skips the review
    assert (
        client.patch(f"/v1/drafts/{draft['id']}", json={"status": "in_review"}).json()["status"]
        == "in_review"
    )
    approved = client.patch(f"/v1/drafts/{draft['id']}", json={"status": "approved"}).json()
    assert approved["status"] == "approved" and approved["adopted_doc_id"] == f"empfehlung-{draft['id']}"
    docs = {d["doc_id"]: d for d in client.get("/v1/documents").json()}
    doc = docs[approved["adopted_doc_id"]]
    assert (doc["doc_type"], doc["status"], doc["working_group"]) == ("recommendation", "adopted", GROUP)
    frozen = client.patch(
        f"/v1/drafts/{draft['id']}", json={"statements": [{"section": 0, "index": 0, "text": "x"}]}
    )
    assert frozen.status_code == 409


def test_replay_of_the_record_regenerates_the_same_text(client: TestClient) -> None:
    draft = _draft(client)
    record = client.get(f"/v1/drafts/{draft['id']}/record").json()
    assert record["prompt_sha256"] and record["template_sha256"] and record["seed"] == 42
    assert {c["point_id"] for c in record["chunks"]} == {s["point_id"] for s in draft["sources"]}
    assert all(len(c["revision"]) == 64 for c in record["chunks"])
    replayed = client.post("/v1/drafts", json={"replay": record}).json()
    assert replayed["record"]["replay_matches"] is True
    assert replayed["record"]["text_sha256"] == record["text_sha256"]


def test_drafts_of_other_users_are_not_found(home: Path) -> None:
    settings = _settings(home, mode="trusted_proxy", trusted_proxies="127.0.0.1")
    llm = ScriptedLLM(_reply((SUPPORTED, [1])))
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm), client=("127.0.0.1", 1)) as c:
        alice = {"X-KB-User": "alice", "X-KB-Groups": f"{GROUP}:editor"}
        plan = c.post("/v1/drafts", json={"topic": TOPIC, "plan_only": True}, headers=alice).json()
        other = c.get(f"/v1/drafts/{plan['id']}", headers={"X-KB-User": "bob", "X-KB-Groups": GROUP})
        assert other.status_code == 404 and other.json()["code"] == "draft_not_found"


NOTES = {
    "notiz-a.md": (
        "AK A",
        "Sachstand Pilotbudget KI-Wissensassistent: Das Pilotbudget beträgt 320.000 EUR (Notiz A).",
    ),
    "notiz-b.md": (
        "AK B",
        "Sachstand Pilotbudget KI-Wissensassistent: Das Pilotbudget beträgt 410.000 EUR (Notiz B).",
    ),
}


def _upload_notes(home: Path) -> None:
    with _client(home, ScriptedLLM("{}")) as c:
        for name, (group, text) in NOTES.items():
            response = c.post(
                "/v1/documents",
                files={"files": (name, f"# Notiz {group}\n\n{text}\n".encode())},
                data={
                    "working_group": group,
                    "visibility": "group",
                    "doc_type": "position_paper",
                    "status": "adopted",
                },
            )
            assert response.status_code == 200 and not response.json()["failed"], response.text


def test_every_sub_search_stays_inside_the_callers_scope(home: Path) -> None:
    _upload_notes(home)
    settings = _settings(home, mode="trusted_proxy", trusted_proxies="127.0.0.1")
    llm = ScriptedLLM({"aussagen": []})
    with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm), client=("127.0.0.1", 1)) as c:
        member_of_a = {"X-KB-User": "anna", "X-KB-Groups": "AK A:editor"}
        asked = ["Welches Pilotbudget nennt die Notiz?", "Wie ist der Sachstand zum Pilotbudget?"]
        body = {"topic": TOPIC, "template": "stellungnahme", "questions": [asked] * 5}
        draft = c.post("/v1/drafts", json=body, headers=member_of_a).json()
        every = c.app.state.services.store.scroll(AccessScope.everything(), SearchFilters())  # type: ignore[attr-defined]
    payloads = {h.point_id: h.payload for h in every}
    searched = [r for s in draft["sections"] for r in s["retrieval"]]
    assert len(searched) == 8  # every sub-question of the four model-written sections
    found = {pid for r in searched for pid in r["point_ids"]} | {s["point_id"] for s in draft["sources"]}
    assert found
    for pid in found:  # group and confidential passages only of the caller's group
        p = payloads[pid]
        assert p["visibility"] in ("public", "internal") or p["working_group"] == "AK A", p["doc_id"]
    docs = {payloads[pid]["doc_id"] for pid in found}
    assert "notiz-a.md" in docs and "notiz-b.md" not in docs
    prompts = "\n".join(m["content"] for call in llm.calls for m in call)
    assert "Notiz A" in prompts and "Notiz B" not in prompts and "410.000" not in prompts


def test_two_cited_passages_with_different_budgets_are_flagged(home: Path) -> None:
    _upload_notes(home)
    llm = ScriptedLLM(
        _reply(("Das Pilotbudget beträgt 250.000 EUR.", [1]), ("Das Pilotbudget beträgt 320.000 EUR.", [1]))
    )
    with _client(home, llm) as c:
        sachstand = _draft(c, questions=[["Welches Pilotbudget nennt die Notiz?", "Pilotbudget 250.000 EUR"]])
        sachstand = sachstand["sections"][0]
        assert len(sachstand["statements"]) == 2 and all(s["supported"] for s in sachstand["statements"])
        assert any("250000 EUR" in c and "320000 EUR" in c for c in sachstand["conflicts"]), sachstand


class _EchoFirstSource:
    """Model edge: states the first sentence of source [1] of each prompt, citing [1] — a reply that depends
    only on the prompt, not on the order of calls (calls may come from several threads)."""

    name = "test/echo-first-source"

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def generate(self, messages: Any, *, schema: Any, max_tokens: int) -> Generation:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.3)  # a server's generation time, so that parallel calls overlap
        with self._lock:
            self.running -= 1
        user = messages[-1]["content"]
        passage = user.split("[1] ", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
        sentence = passage.replace("\n", " ").split(". ", 1)[0].rstrip(".") + "."
        text = json.dumps({"aussagen": [{"text": sentence, "quellen": [1]}]}, ensure_ascii=False)
        return Generation(iter([text]), GenerationStats(completion_tokens=1))


def test_sections_written_in_parallel_give_the_same_draft_as_one_after_another(home: Path) -> None:
    """Against a server that batches (backend openai, 3 generations at once) the model calls of three sections
    overlap; the draft is the same as the one written section by section."""
    drafts, calls, at_once = [], [], []
    for parallel in (1, 3):
        settings = _settings(home)
        settings.draft.parallel_sections = parallel
        settings.llm.backend = "openai"
        settings.llm.concurrency = parallel
        settings.draft.model_judge = "off"  # the judge is tested on its own; this is about the order
        llm = _EchoFirstSource()
        with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as c:  # type: ignore[arg-type]
            response = c.post(
                "/v1/drafts",
                json={"topic": TOPIC, "template": "handlungsempfehlung", "working_group": GROUP},
            )
            assert response.status_code == 200, response.text
            drafts.append(response.json())
            calls.append(llm.calls)
            at_once.append(llm.most_at_once)
    assert at_once == [1, 3]
    assert calls[0] == calls[1] >= 4  # one call per model-written section that found sources
    sequential, parallel = drafts

    def written(draft: dict[str, Any]) -> list[Any]:
        return [
            (s["title"], [(t["text"], t["sources"]) for t in s["statements"]], s["duplicates"])
            for s in draft["sections"]
        ]

    assert written(parallel) == written(sequential)
    assert [(s["number"], s["point_id"]) for s in parallel["sources"]] == [
        (s["number"], s["point_id"]) for s in sequential["sources"]
    ]
    assert any(s["statements"] for s in parallel["sections"])


def test_the_models_no_removes_a_statement_the_rules_accept_when_the_judge_is_on(home: Path) -> None:
    settings = _settings(home)
    settings.draft.model_judge = "on"
    llm = ScriptedLLM(_reply((SUPPORTED, [1])), {"belegt": False})
    with _client(home, llm, settings) as c:
        draft = _draft(c)
    sachstand = draft["sections"][0]
    assert sachstand["statements"] == [] and sachstand["note"] == "Keine belastbare Quelle gefunden."
    [removed] = sachstand["removed"]
    assert removed["text"] == SUPPORTED and removed["reasons"] == [NOT_BACKED]
    # The judge saw the statement and the passage that backs it, and answered in the yes/no schema.
    assert llm.schemas[1] == JUDGE_SCHEMA
    assert SUPPORTED in llm.calls[1][1]["content"] and "250.000 EUR" in llm.calls[1][1]["content"]
    assert draft["record"]["support_judge"]["prompt_sha256"]


def test_the_models_yes_keeps_the_statement_and_the_judge_is_off_for_the_local_model_by_default(
    home: Path,
) -> None:
    settings = _settings(home)
    settings.draft.model_judge = "on"
    with _client(home, ScriptedLLM(_reply((SUPPORTED, [1])), {"belegt": True}), settings) as c:
        assert [s["text"] for s in _draft(c)["sections"][0]["statements"]] == [SUPPORTED]
    default = ScriptedLLM(_reply((SUPPORTED, [1])))
    with _client(home, default) as c:
        draft = _draft(c)
    assert JUDGE_SCHEMA not in default.schemas and draft["record"]["support_judge"] is None
    assert [s["text"] for s in draft["sections"][0]["statements"]] == [SUPPORTED]


def test_an_edited_statement_is_judged_by_the_model_when_the_judge_is_on(home: Path) -> None:
    settings = _settings(home)
    settings.draft.model_judge = "on"
    llm = ScriptedLLM(_reply((SUPPORTED, [1])), {"belegt": True}, {"belegt": False})
    with _client(home, llm, settings) as c:
        draft = _draft(c)
        calls = len(llm.calls)
        edited = c.patch(
            f"/v1/drafts/{draft['id']}",
            json={"statements": [{"section": 0, "index": 0, "text": "Das Pilotbudget beträgt 250.000 EUR."}]},
        ).json()
    assert len(llm.calls) == calls + 1 and llm.schemas[-1] == JUDGE_SCHEMA
    statement = edited["sections"][0]["statements"][0]
    assert not statement["supported"] and statement["marked"] and statement["reasons"] == [NOT_BACKED]


def test_the_judge_is_on_by_default_only_against_an_openai_compatible_server() -> None:
    settings = Settings()
    assert not judging(settings)
    settings.llm.backend = "openai"
    assert judging(settings)
    settings.draft.model_judge = "off"
    assert not judging(settings)
    settings.llm.backend = "llama_cpp"
    settings.draft.model_judge = "on"
    assert judging(settings)
