"""Time to first token: the focused answer prompt vs the current one, side by side on one `Llama`.

Set-up: `corpus/` is ingested into a temporary Qdrant Edge store (default embedder, hybrid search); with
`--xquad N` also the first N questions of the xquad-de dev set over its corpus, through the eval index cache
(`eval.runner.ensure_index`, built once if missing). For each question retrieval runs once, and two `Answerer`s
build their prompt from the same hits (`Answerer.prompt`):

- current: whole passages, `max_sources` 4 (focus_sentences 0, decisive_sources 0);
- focused: focus_sentences 3, decisive_sources 2 (focused passages, fewer sources when the ranking is decisive;
  opt-in settings since the 100-question check in eval/results/focus-xquad100).

Both run through one real `Llama` (qwen2.5-1.5b from `service.model_files`, the in-process backend, the same
`create_chat_completion` call with the JSON schema as the worker makes), interleaved per question:

- current cold: `llama.reset()` first, the whole prompt is evaluated (stopped after the first token);
- current warm / focused warm: the KV state the previous question's prompt of the same kind left behind is
  restored first (`save_state`/`load_state`, outside the timing), so llama-cpp-python reuses the longest common
  token prefix — at least the fixed system prompt — exactly as the worker's one `Llama` does between two requests
  for different questions; these two are generated to the end and their answers compared;
The order of the three runs rotates with the question, so a change of machine load spreads over all of them.
TTFT = time to the first non-empty content delta. "reused" = prompt tokens whose KV state was reused.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import DATASETS, ROOT, RunInfo, fmt, md_table, median, percentile, write_section
from ingest.config import StoreSettings
from ingest.domain import AccessScope
from service.answering import Answerer, AnswerPrompt, parse_model_output
from service.app import build_services
from service.config import LLMSettings, Settings
from service.llm import build_llm

KINDS = ("current cold", "current warm", "focused warm")


def chat_tokens(llama: Any, messages: list[dict[str, str]]) -> list[int]:
    """The prompt tokens `create_chat_completion` evaluates for `messages` (the GGUF's chat template)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata["tokenizer.chat_template"]
    eos = llama._model.token_get_text(llama._model.token_eos())
    bos = llama._model.token_get_text(llama._model.token_bos())
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    prompt = formatter(messages=messages).prompt
    return list(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def run(llama: Any, prompt: AnswerPrompt, max_tokens: int, *, full: bool) -> dict[str, Any]:
    """One generation; `full` False stops after the first token (TTFT only)."""
    before = list(llama._input_ids[: llama.n_tokens])
    t0 = time.perf_counter()
    stream = llama.create_chat_completion(
        messages=prompt.messages,
        response_format={"type": "json_object", "schema": prompt.schema},
        stream=True,
        temperature=0.0,
        max_tokens=max_tokens,
    )
    first: float | None = None
    parts: list[str] = []
    for event in stream:
        delta = event["choices"][0].get("delta", {}).get("content") or ""
        if delta:
            if first is None:
                first = time.perf_counter() - t0
            parts.append(delta)
            if not full:
                stream.close()
                break
    total = time.perf_counter() - t0
    tokens = chat_tokens(llama, prompt.messages)
    return {
        "ttft": first or total,
        "total": total,
        "prompt_tokens": len(tokens),
        "reused": common_prefix(before, tokens),
        "output": "".join(parts),
    }


def load_questions(path: Path, n: int) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines()[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-n",
        "--questions",
        type=int,
        default=9,
        help="Questions of corpus/questions.jsonl (the last warms up).",
    )
    parser.add_argument("--xquad", type=int, default=0, help="Also the first N xquad-de dev questions.")
    parser.add_argument(
        "--prompts-only", action="store_true", help="Only count prompt tokens, no generation."
    )
    parser.add_argument("--no-write", action="store_true", help="Do not write bench/RESULTS.md.")
    args = parser.parse_args()

    run_info = RunInfo()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    llm_settings = LLMSettings(isolation=False)
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-ttft-"))
    settings = Settings(store=StoreSettings(backend="edge", path=tmp / "store"), llm=llm_settings)
    llm = build_llm(settings.llm)
    llama: Any = llm.llama  # type: ignore[attr-defined]
    current_settings = settings.answer.model_copy(update={"focus_sentences": 0, "decisive_sources": 0})
    focused_settings = settings.answer.model_copy(update={"focus_sentences": 3, "decisive_sources": 2})
    sets: list[tuple[str, Any, list[str]]] = []
    services = build_services(settings, llm=llm)
    closers: list[Any] = [services.store]
    try:
        report = services.pipeline.ingest_paths([ROOT / "corpus"])
        print(f"ingested corpus/: {report.chunks} chunks; model {llm.name}", flush=True)
        sets.append(("corpus", services, load_questions(ROOT / "corpus" / "questions.jsonl", args.questions)))
        if args.xquad:
            sets.append(("xquad-de dev", *xquad_services(settings, llm, args.xquad, closers)))
        rows: list[dict[str, Any]] = []
        for set_name, svc, questions in sets:
            focused = Answerer(svc.retriever, llm, svc.template, focused_settings, settings.llm)
            current = Answerer(svc.retriever, llm, svc.template, current_settings, settings.llm)
            prompts = []
            for question in questions:
                retrieval = svc.retriever.search(question, AccessScope.everything())
                if not retrieval.relevant:
                    print(f"skip (no relevant source): {question}")
                    continue
                prompts.append(
                    (
                        question,
                        current.prompt(question, retrieval.hits),
                        focused.prompt(question, retrieval.hits),
                    )
                )
            rows += measure(llama, set_name, prompts, settings.llm.max_tokens, prompts_only=args.prompts_only)
    finally:
        for closer in closers:
            closer.close()
        shutil.rmtree(tmp, ignore_errors=True)
    run_info.finish()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    report_rows(rows, run_info, llm.name, settings, cpu_s, args)


def xquad_services(settings: Settings, llm: Any, n: int, closers: list[Any]) -> tuple[Any, list[str]]:
    from eval.runner import default_cache_dir, ensure_index, eval_settings
    from ingest.embedding import build_embedder

    dataset = DATASETS / "xquad-de"
    embedder = build_embedder(settings.embedding)
    index = ensure_index(dataset / "corpus", settings, embedder, default_cache_dir(), print)
    services = build_services(eval_settings(settings, index.store_path), embedder=embedder, llm=llm)
    closers.append(services.store)
    return services, load_questions(dataset / "questions-dev.jsonl", n)


def measure(
    llama: Any,
    set_name: str,
    prompts: list[tuple[str, AnswerPrompt, AnswerPrompt]],
    max_tokens: int,
    *,
    prompts_only: bool,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if prompts_only:
        for question, cur, foc in prompts:
            ct, ft = chat_tokens(llama, cur.messages), chat_tokens(llama, foc.messages)
            print(
                f"{set_name}: {len(ct):5d} → {len(ft):4d} tokens, "
                f"{len(cur.sources)} → {len(foc.sources)} sources: {question}"
            )
            rows.append(
                {
                    "set": set_name,
                    "question": question,
                    "current cold": {"prompt_tokens": len(ct)},
                    "focused warm": {"prompt_tokens": len(ft)},
                    "sources": (len(cur.sources), len(foc.sources)),
                }
            )
        return rows
    # Warm-up (untimed) with the focused prompt of the last question: loads the weights and leaves the KV state
    # that the first timed warm run of each kind starts from (a different question's prompt; the reusable
    # prefix of two questions' prompts is the system prompt and the first source number either way).
    _, _, foc_last = prompts[-1]
    llama.reset()
    run(llama, foc_last, 1, full=False)
    first_state = llama.save_state()
    states = {"current warm": first_state, "focused warm": first_state}
    for i, (question, cur, foc) in enumerate(prompts[:-1] if len(prompts) > 1 else prompts):
        row: dict[str, Any] = {
            "set": set_name,
            "question": question,
            "sources": (len(cur.sources), len(foc.sources)),
        }
        order = KINDS[i % 3 :] + KINDS[: i % 3]
        for kind in order:
            prompt = cur if kind.startswith("current") else foc
            if kind.endswith("cold"):
                llama.reset()
                row[kind] = run(llama, prompt, max_tokens, full=False)
            else:
                llama.load_state(states[kind])
                row[kind] = run(llama, prompt, max_tokens, full=True)
                states[kind] = llama.save_state()
        same = row["current warm"]["output"] == row["focused warm"]["output"]
        row["same_answer"] = same
        print(
            f"{set_name} q{i + 1}: "
            + ", ".join(
                f"{k} {row[k]['ttft']:.2f} s ({row[k]['prompt_tokens']} tok, {row[k]['reused']} reused)"
                for k in KINDS
            )
            + f"; same answer: {same}",
            flush=True,
        )
        rows.append(row)
    return rows


def answer_text(output: str) -> str:
    parsed = parse_model_output(output)
    return parsed[0] if parsed else output


def report_rows(
    rows: list[dict[str, Any]],
    run_info: RunInfo,
    model: str,
    settings: Settings,
    cpu_s: float,
    args: argparse.Namespace,
) -> None:
    if args.prompts_only:
        return
    summary = []
    for set_name in dict.fromkeys(r["set"] for r in rows):
        these = [r for r in rows if r["set"] == set_name]
        for kind in KINDS:
            ttft = [r[kind]["ttft"] for r in these]
            summary.append(
                [
                    set_name,
                    kind,
                    len(these),
                    fmt(median([r[kind]["prompt_tokens"] for r in these]), 0),
                    fmt(median([r[kind]["reused"] for r in these]), 0),
                    fmt(median([r[kind]["prompt_tokens"] - r[kind]["reused"] for r in these]), 0),
                    fmt(median(ttft)),
                    fmt(percentile(ttft, 95)),
                ]
            )
    table = md_table(
        [
            "set",
            "prompt",
            "questions",
            "prompt tokens p50",
            "reused p50",
            "evaluated p50",
            "TTFT p50 s",
            "TTFT p95 s",
        ],
        summary,
    )
    per_question = md_table(
        [
            "set",
            "question",
            "sources cur → foc",
            *[f"{k} TTFT s" for k in KINDS],
            "same answer",
            "current answer",
            "focused answer",
        ],
        [
            [
                r["set"],
                r["question"],
                f"{r['sources'][0]} → {r['sources'][1]}",
                *[fmt(r[k]["ttft"]) for k in KINDS],
                "yes" if r["same_answer"] else "no",
                answer_text(r["current warm"]["output"])[:120],
                answer_text(r["focused warm"]["output"])[:120],
            ]
            for r in rows
        ],
    )
    same = sum(r["same_answer"] for r in rows)
    a = settings.answer.model_copy(update={"focus_sentences": 3, "decisive_sources": 2})
    body = (
        run_info.markdown()
        + f"- model: `{model}` in process (one `Llama`), n_ctx {settings.llm.n_ctx}, threads "
        f"{settings.llm.n_threads or 'all'}, temperature {settings.llm.temperature}, "
        f"max_tokens {settings.llm.max_tokens}\n"
        f"- focused: focus_sentences {a.focus_sentences}, focus_max_tokens {a.focus_max_tokens}, "
        f"decisive_margin {a.decisive_margin}, decisive_sources {a.decisive_sources}; current = focus_sentences 0, "
        f"decisive_sources 0 (whole passages, up to max_sources {a.max_sources}, budget {a.prompt_budget_tokens})\n"
        f"- warm = the KV state of the previous question's prompt of the same kind restored before the run "
        f"(what the worker's `Llama` holds after answering a different question); cold = `llama.reset()`\n"
        f"- identical answer text (current warm vs focused warm): {same} of {len(rows)}\n"
        f"- CPU time of the run: {cpu_s:.0f} s\n\n" + table + "\nPer question:\n\n" + per_question
    )
    print("\n" + table + "\n" + per_question)
    if not args.no_write:
        write_section("answer_ttft", "(o) Time to first token: focused prompt vs current", body)


if __name__ == "__main__":
    main()
