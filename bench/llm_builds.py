"""llama.cpp builds side by side: prompt and generation tokens/s of each portable build (and whether a native one
runs at all) on this CPU, with the 1.5B model on the same ~800-token German prompt.

Each build is a wheel in the set-up's cache, `~/.cache/kb/wheels/llama-cpp-python-<version>-<variant>-<hash>/`
(built by scripts/setup.sh; `--build` builds missing ones the same way: `KB_LLAMA_VARIANT=<variant>` flags from
scripts/llama_build_flags.sh, `pip wheel --no-cache-dir`; `native` is `-DGGML_NATIVE=ON`, what a plain
`pip install llama-cpp-python` compiles). Each wheel is installed with `pip install --target /tmp/llama-<variant>
--no-deps`, and every measurement is a child process with `PYTHONPATH=/tmp/llama-<variant>`, so the builds never
mix and a segfault of one is recorded, not suffered. The runs are interleaved (run 1 of every build, then run 2,
…), since the machine is shared.

One run: load the model (n_ctx 2048, all cores), `llama.eval` the prompt tokens (prompt tokens/s), then 64 greedy
tokens one by one (`sample` + `eval`: generation tokens/s).

    .venv/bin/python bench/llm_builds.py --variants avx512,avx2,native --runs 3 [--build]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, RunInfo, cpu_model, fmt, md_table, median, write_section
from service.model_files import MODELS, default_model_dir

VERSION = "0.3.36"
WHEELS = Path(os.path.expanduser("~/.cache/kb/wheels"))
GENERATED = 64

_CHILD = r"""
import json, sys, time
import llama_cpp
from llama_cpp import Llama
model, prompt_file, generated = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(prompt_file, encoding="utf-8").read()
start = time.perf_counter()
llama = Llama(model_path=model, n_ctx=2048, seed=1, verbose=False)
load_s = time.perf_counter() - start
tokens = llama.tokenize(text.encode("utf-8"), add_bos=True)
llama.reset()
start = time.perf_counter()
llama.eval(tokens)
prompt_s = time.perf_counter() - start
start = time.perf_counter()
for _ in range(generated):
    token = llama.sample(temp=0.0)
    llama.eval([token])
gen_s = time.perf_counter() - start
print(json.dumps({
    "module": llama_cpp.__file__, "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    "load_s": load_s, "prompt_tokens": len(tokens), "prompt_s": prompt_s, "generated": generated, "gen_s": gen_s,
}))
"""


def wheel_dir(variant: str) -> Path | None:
    found = sorted(WHEELS.glob(f"llama-cpp-python-{VERSION}-{variant}-*[!p]"))
    found = [d for d in found if not d.name.endswith(".tmp") and list(d.glob("*.whl"))]
    return found[-1] if found else None


def cmake_args(variant: str) -> str:
    if variant == "native":
        return "-DGGML_NATIVE=ON -DLLAMA_CURL=OFF"
    env = {**os.environ, "KB_LLAMA_VARIANT": variant}
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "llama_build_flags.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def build(variant: str) -> Path:
    """The wheel as scripts/setup.sh builds it (same cache layout and key), for one variant."""
    import hashlib

    flags = cmake_args(variant)
    key = hashlib.sha256(f"{VERSION} {flags}".encode()).hexdigest()[:12]
    target = WHEELS / f"llama-cpp-python-{VERSION}-{variant}-{key}"
    if list(target.glob("*.whl")):
        return target
    tmp = target.with_name(target.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"building {variant}: {flags} (about 5 minutes on 2 cores)", flush=True)
    env = {
        **os.environ,
        "CMAKE_ARGS": flags,
        "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count()),
        "FORCE_CMAKE": "1",
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-cache-dir",
            "--no-deps",
            "-w",
            str(tmp),
            f"llama-cpp-python=={VERSION}",
        ],
        env=env,
        check=True,
    )
    (tmp / "CMAKE_ARGS").write_text(flags + "\n")
    tmp.rename(target)
    return target


def install(variant: str, wheels: Path) -> Path:
    target = Path(f"/tmp/llama-{variant}")
    wheel = next(wheels.glob("*.whl"))
    stamp = target / ".wheel"
    if not (stamp.is_file() and stamp.read_text() == str(wheel)):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--target",
                str(target),
                "--no-deps",
                "--upgrade",
                str(wheel),
            ],
            check=True,
        )
        stamp.write_text(str(wheel))
    return target


def german_prompt(tokens: int = 800) -> str:
    """~`tokens` tokens of the project's German sample minutes (about 3.3 characters per token)."""
    text = "\n\n".join(
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("protokoll-*.md"))
    )
    return text[: int(tokens * 3.3)]


def measure(variant: str, target: Path, model: Path, prompt_file: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model), str(prompt_file), str(GENERATED)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        status = done.returncode
        what = f"killed by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
        return {"variant": variant, "failed": what, "stderr": done.stderr.strip().splitlines()[-3:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["module"].startswith(str(target)):
        raise SystemExit(f"{variant}: loaded {result['module']}, not the build under {target}")
    return {"variant": variant, **result}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--variants", default="avx512,avx2", help="comma-separated: avx512, avx2, sse, native"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="qwen2.5-1.5b")
    parser.add_argument("--build", action="store_true", help="build missing wheels first")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    model = default_model_dir() / MODELS[args.model].filename
    info = RunInfo()
    targets: dict[str, Path] = {}
    flags: dict[str, str] = {}
    for variant in variants:
        wheels = build(variant) if args.build else wheel_dir(variant)
        if wheels is None:
            raise SystemExit(f"no wheel for {variant} in {WHEELS}; run with --build")
        flags[variant] = (wheels / "CMAKE_ARGS").read_text().strip()
        targets[variant] = install(variant, wheels)
    prompt_file = Path("/tmp/kb-bench-llm-prompt.txt")
    prompt_file.write_text(german_prompt(), encoding="utf-8")
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for run in range(1, args.runs + 1):
        for variant in variants:
            result = measure(variant, targets[variant], model, prompt_file)
            results[variant].append(result)
            if "failed" in result:
                print(f"run {run} {variant}: FAILED {result['failed']}", flush=True)
            else:
                pp = result["prompt_tokens"] / result["prompt_s"]
                tg = result["generated"] / result["gen_s"]
                print(f"run {run} {variant}: prompt {pp:.1f} tok/s, generation {tg:.1f} tok/s", flush=True)
    info.finish()
    rows = []
    base = variants[0]
    base_ok = [r for r in results[base] if "failed" not in r]
    base_pp = median([r["prompt_tokens"] / r["prompt_s"] for r in base_ok]) if base_ok else float("nan")
    for variant in variants:
        ok = [r for r in results[variant] if "failed" not in r]
        failed = [r["failed"] for r in results[variant] if "failed" in r]
        if not ok:
            rows.append(
                [variant, "—", "—", "—", "—", f"crashed in every run ({', '.join(sorted(set(failed)))})"]
            )
            continue
        pp = [r["prompt_tokens"] / r["prompt_s"] for r in ok]
        tg = [r["generated"] / r["gen_s"] for r in ok]
        rows.append(
            [
                variant,
                " / ".join(fmt(v, 1) for v in pp),
                fmt(median(pp), 1),
                " / ".join(fmt(v, 1) for v in tg),
                fmt(median(tg), 1),
                f"prompt {fmt(median(pp) / base_pp)}× of {base}"
                + (f"; {len(failed)} crashed" if failed else ""),
            ]
        )
    first_ok = next((r for rs in results.values() for r in rs if "failed" not in r), None)
    prompt_tokens = first_ok["prompt_tokens"] if first_ok else "?"
    body = (
        f"{info.markdown()}"
        f"- model: {args.model} ({MODELS[args.model].filename}), prompt {prompt_tokens} "
        f"tokens of German minutes from `corpus/`, then {GENERATED} greedy tokens; n_ctx 2048, all cores; "
        f"{args.runs} runs per build, interleaved; each run a fresh child process\n"
        f"- CPU flags of note: {', '.join(sorted(_cpu_flags_of_note()))}\n\n"
        + md_table(
            [
                "build",
                "prompt tok/s (runs)",
                "prompt median",
                "generation tok/s (runs)",
                "generation median",
                "note",
            ],
            rows,
        )
        + "\nCMake flags of each build:\n\n"
        + "".join(f"- {v}: `{flags[v]}`\n" for v in variants)
        + "\nllama.cpp system info of each build:\n\n"
        + "".join(
            f"- {v}: `{next((r['system_info'] for r in results[v] if 'failed' not in r), 'did not run')}`\n"
            for v in variants
        )
    )
    crashed = {v: rs for v, rs in results.items() if any("failed" in r for r in rs)}
    for variant, rs in crashed.items():
        first_failure = next(r for r in rs if "failed" in r)
        tail = " | ".join(first_failure["stderr"])
        body += f"\n{variant} failed: {first_failure['failed']}; last stderr lines: `{tail}`\n"
    print("\n" + body)
    if not args.no_write:
        write_section(
            "llm-builds", "(l) llama.cpp builds: portable AVX-512 vs AVX2 (vs native) on this CPU", body
        )


def _cpu_flags_of_note() -> set[str]:
    text = Path("/proc/cpuinfo").read_text()
    line = next(line for line in text.splitlines() if line.startswith("flags"))
    return {f for f in line.split(":", 1)[1].split() if f.startswith(("avx512", "amx", "avx2", "avx_vnni"))}


if __name__ == "__main__":
    print(cpu_model())
    main()
