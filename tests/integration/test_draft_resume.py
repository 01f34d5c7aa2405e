"""A draft is a stored job: a process killed in the middle of writing loses nothing already written, and
writing resumes at the next unwritten section (real store, real database; model edge scripted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import CORPUS, REPO
from tests.fakes import HashEmbedder, ScriptedLLM

FIRST = "Der AK beschließt das Pilotprojekt „KI-Wissensassistent“ mit einem Pilotbudget von 250.000 EUR."
LATER = "Das Pilotbudget beträgt 250.000 EUR."

# The child writes the draft; the model answers the first section and hangs in the second, where it is killed.
CHILD = """
import json, sys, time
from pathlib import Path
from fastapi.testclient import TestClient
from service.app import create_app
from service.config import Settings
from tests.fakes import HashEmbedder, ScriptedLLM

home, draft_id = Path(sys.argv[1]), sys.argv[2]

class HangsInSecondSection(ScriptedLLM):
    def generate(self, messages, *, schema, max_tokens):
        if self.calls:
            (home / "hanging").write_text("1")
            time.sleep(600)
        return super().generate(messages, schema=schema, max_tokens=max_tokens)

settings = Settings()
settings.store.path = home / "store"
settings.retrieval.min_dense_score = 2.0
llm = HangsInSecondSection({"aussagen": [{"text": sys.argv[3], "quellen": [1]}]})
with TestClient(create_app(settings, embedder=HashEmbedder(), llm=llm)) as client:
    client.post(f"/v1/drafts/{draft_id}/write", json={})
"""


def _settings(home: Path) -> Settings:
    settings = Settings()
    settings.store.path = home / "store"
    settings.retrieval.min_dense_score = 2.0
    return settings


def test_draft_resumes_at_the_next_unwritten_section_after_a_killed_process(tmp_path: Path) -> None:
    home = tmp_path
    with TestClient(create_app(_settings(home), embedder=HashEmbedder(), llm=ScriptedLLM("{}"))) as c:
        c.app.state.services.pipeline.ingest_paths([CORPUS])  # type: ignore[attr-defined]
        plan = c.post(
            "/v1/drafts",
            json={"topic": "Pilotbudget KI-Wissensassistent", "template": "stellungnahme", "plan_only": True},
        ).json()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), plan["id"], FIRST], env=env, cwd=REPO, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (home / "hanging").exists():
            assert child.poll() is None, "the writer ended before it reached the second section"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
    llm = ScriptedLLM({"aussagen": [{"text": LATER, "quellen": [1]}]})
    with TestClient(create_app(_settings(home), embedder=HashEmbedder(), llm=llm)) as c:
        interrupted = c.get(f"/v1/drafts/{plan['id']}").json()
        assert interrupted["status"] == "writing"
        assert [s["written"] for s in interrupted["sections"]] == [True, False, False, False, False]
        assert [s["text"] for s in interrupted["sections"][0]["statements"]] == [FIRST]
        done = c.post(f"/v1/drafts/{plan['id']}/write", json={}).json()
    assert done["status"] == "draft" and all(s["written"] for s in done["sections"])
    # Only unwritten sections reach the model (4 is built from the minutes, without a model; a section whose
    # sub-questions find nothing relevant has no call either): section 1 is not written again.
    asked = [
        m["content"].split("Abschnitt: ", 1)[1].split("\n", 1)[0] for call in llm.calls for m in call[1:]
    ]
    assert asked and set(asked) <= {"Sachverhalt", "Rechtliche Würdigung", "Position"}
    assert [s["text"] for s in done["sections"][0]["statements"]] == [FIRST]
    first_numbers = interrupted["sections"][0]["statements"][0]["sources"]
    assert done["sections"][0]["statements"][0]["sources"] == first_numbers  # numbers stay stable
