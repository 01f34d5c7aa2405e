"""Prefill rate of the 1.5B on this CPU: do llama.cpp settings or another quantisation shorten the wait for the
first token? (Issue 13: time to first token is the prefill of the answer prompt.)

One process, one `Llama` per variant, all loaded first; then `--runs` rounds, each evaluating the same 480 tokens
of German text (xquad-de's first article) on every variant in turn after `reset()`, then 16 greedy tokens.
Variants:

- `q4_k_m` (the shipped GGUF) with llama-cpp-python's defaults, with flash attention, and with smaller
  micro-batches (`n_ubatch` 128 / 256);
- the same weights requantised in place (`llama_model_quantize`, `allow_requantize`) to Q4_0 (the type
  llama.cpp's CPU repacking favours) and Q8_0 — written to a temporary folder, deleted afterwards; never
  shipped (requantising a Q4_K_M loses quality, so it would need its own answer evaluation).

Run from the repository root:  .venv/bin/python bench/prefill_levers.py
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import DATASETS, RunInfo, md_table, write_section
from service.model_files import MODELS, default_model_dir, ensure_model

PROMPT_TOKENS = 480
GENERATED = 16


def requantise(source: Path, target: Path, ftype: int) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"quantising to {target.name} failed ({rc})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    import llama_cpp
    from llama_cpp import Llama

    run = RunInfo()
    gguf = ensure_model(MODELS["qwen2.5-1.5b"], default_model_dir())
    text = (DATASETS / "xquad-de/corpus/00-super-bowl-50.md").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        q4_0, q8_0 = Path(tmp) / "q4_0.gguf", Path(tmp) / "q8_0.gguf"
        requantise(gguf, q4_0, llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0)
        requantise(gguf, q8_0, llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0)
        variants: dict[str, tuple[Path, dict[str, Any]]] = {
            "Q4_K_M, defaults (shipped)": (gguf, {}),
            "Q4_K_M, flash attention": (gguf, {"flash_attn": True}),
            "Q4_K_M, n_ubatch 256": (gguf, {"n_ubatch": 256}),
            "Q4_K_M, n_ubatch 128": (gguf, {"n_ubatch": 128}),
            "Q4_0 (requantised)": (q4_0, {}),
            "Q8_0 (requantised)": (q8_0, {}),
        }
        llms = {
            name: Llama(model_path=str(path), n_ctx=2048, seed=1, verbose=False, **kw)
            for name, (path, kw) in variants.items()
        }
        tokens = llms["Q4_K_M, defaults (shipped)"].tokenize(text.encode("utf-8"))[:PROMPT_TOKENS]
        prefill: dict[str, list[float]] = {name: [] for name in llms}
        generation: dict[str, list[float]] = {name: [] for name in llms}
        for _ in range(args.runs):
            for name, llm in llms.items():
                llm.reset()
                started = time.perf_counter()
                llm.eval(tokens)
                prefill[name].append(len(tokens) / (time.perf_counter() - started))
                started = time.perf_counter()
                for _ in range(GENERATED):
                    llm.eval([llm.sample(temp=0.0)])
                generation[name].append(GENERATED / (time.perf_counter() - started))
        llms.clear()
    run.finish()
    base = statistics.median(prefill["Q4_K_M, defaults (shipped)"])
    rows = []
    for name in variants:
        p, g = statistics.median(prefill[name]), statistics.median(generation[name])
        rows.append(
            [
                name,
                " / ".join(f"{x:.1f}" for x in prefill[name]),
                f"{p:.1f}",
                f"{p / base:.2f}×",
                f"{g:.1f}",
                f"{PROMPT_TOKENS / p:.1f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    headers = [
        "variant",
        "prefill tok/s (runs)",
        "median",
        "vs shipped",
        "generation tok/s",
        "480-token prefill s",
    ]
    body = "\n".join(
        [
            run.markdown(),
            f"- {PROMPT_TOKENS} prompt tokens of German text, then {GENERATED} greedy tokens; n_ctx 2048, all "
            f"cores; {args.runs} rounds, variants interleaved in each\n",
            md_table(headers, rows),
        ]
    )
    if not args.no_write:
        write_section("prefill_levers", "(r) Prefill rate: llama.cpp settings and quantisation", body)


if __name__ == "__main__":
    main()
