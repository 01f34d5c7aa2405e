"""The chunks of each corpus file, as the index key needs them, cached per file so that a re-run parses nothing.

The index key (eval/runner.py) hashes every chunk ingestion would store: its id, span, pages and embedded text,
so that a change of parsing or chunking code is not hidden by an old index. Computing that means parsing and
chunking the whole corpus. This cache keeps, for each file, the lines the key hashes (`chunk_lines`), under a
key made of everything those lines depend on:

- the file's content (sha256 of its bytes, always computed: a few ms for a corpus of megabytes, so a file whose
  mtime changed but whose bytes did not is still a hit, and no mtime trick can serve stale chunks) and its
  sidecar's (`<file>.meta.yaml`) content;
- its doc id and stored name (the chunk ids derive from them; not the folder's location, so a moved corpus
  still hits);
- the ingest settings that decide chunks (chunking, size limit, parse isolation, OCR);
- the code version: the bytes of the modules in `CHUNK_CODE` and the versions of the parsing libraries.

Only files that yielded chunks are cached: a failure may be transient (timeout, memory limit, a crashed
worker, OCR not installed yet) and is parsed again on every run. The cache is a SQLite file shared by
concurrent runs (`<cache>/filechunks.sqlite3`); entries are never served across keys, so old ones are only
dead weight (delete the file to reclaim the space).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sqlite3
import subprocess
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.chunking import embedding_text
from ingest.config import IngestSettings
from ingest.errors import KBError
from ingest.metadata import SIDECAR_SUFFIX
from ingest.parse_worker import IsolatedParser
from ingest.pipeline import SourceFile, file_chunks

REPO = Path(__file__).resolve().parents[1]
CACHE_FILE = "filechunks.sqlite3"

# The code that decides a file's chunk lines, relative to the repository root (a folder: all its .py files):
# the parsers and the parse worker (the text and pages), OCR, structure and German patterns (headings, agenda
# items, legal outline), metadata (title, doc type, sidecars), chunking (spans and embedded text), the domain
# (chunk ids), the pipeline (`file_chunks`, `build_chunks`, `discover`), errors and the ingest settings, and this
# module (the line format). Any edit of one of them invalidates every entry.
CHUNK_CODE: tuple[str, ...] = (
    "ingest/parsers",
    "ingest/parse_worker.py",
    "ingest/child_process.py",
    "ingest/ocr.py",
    "ingest/structure.py",
    "ingest/german_patterns.py",
    "ingest/minutes.py",
    "ingest/legal_refs.py",
    "ingest/metadata.py",
    "ingest/chunking.py",
    "ingest/domain.py",
    "ingest/pipeline.py",
    "ingest/errors.py",
    "ingest/config.py",
    "eval/chunk_cache.py",
)
# Libraries whose output is the parsed text.
PARSING_LIBRARIES = ("pypdf", "pypdfium2", "python-docx", "charset-normalizer", "PyYAML")
# The ingest settings that change what a file parses and chunks into (not batch sizes, not worker limits:
# those only decide failures, which are not cached).
CHUNK_SETTINGS = {"chunking", "max_file_bytes", "parse_isolation", "ocr", "ocr_language"}


def code_files(root: Path = REPO) -> list[Path]:
    """The files of `CHUNK_CODE` under `root`, in a fixed order."""
    files: list[Path] = []
    for entry in CHUNK_CODE:
        path = root / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def code_version(root: Path = REPO) -> str:
    """sha256 over the relative paths and bytes of the chunk-deciding modules under `root`."""
    digest = hashlib.sha256()
    for file in code_files(root):
        digest.update(f"{file.relative_to(root).as_posix()}\x1f".encode())
        digest.update(file.read_bytes() if file.is_file() else b"\x00missing")
        digest.update(b"\n")
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PARSING_LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def ocr_engine(settings: IngestSettings) -> str | None:
    """tesseract's version line when OCR is on (its output is a PDF page's text), else None."""
    if not settings.ocr:
        return None
    try:
        done = subprocess.run(
            [settings.ocr_options().executable, "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def chunk_environment(settings: IngestSettings, root: Path = REPO) -> str:
    """One hash of everything besides the file itself that its chunk lines depend on."""
    material = {
        "code": code_version(root),
        "libraries": library_versions(),
        "ocr_engine": ocr_engine(settings),
        "settings": settings.model_dump(mode="json", include=CHUNK_SETTINGS),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def chunk_lines(
    source: SourceFile, settings: IngestSettings, parser: IsolatedParser
) -> tuple[list[str], bool]:
    """The lines the index key hashes for one file: per chunk its id, span, pages and embedded text; one
    `failed` line when the file cannot be ingested. The flag says whether the file yielded chunks."""
    try:
        chunks = file_chunks(source, settings, parser)
    except (KBError, OSError) as exc:
        return [f"{source.display}\x1ffailed\x1f{exc}\n"], False
    fields = (
        (c.point_id, c.char_start, c.char_end, c.page_start, c.page_end, embedding_text(c)) for c in chunks
    )
    return ["\x1f".join(str(f) for f in row) + "\n" for row in fields], True


@dataclass(frozen=True)
class ChunkCacheStats:
    """What one pass over a corpus took from the cache (`hits`) and what it parsed (`parsed`)."""

    files: int
    hits: int
    parsed: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "hits": self.hits,
            "parsed": self.parsed,
            "seconds": round(self.seconds, 2),
        }


class FileChunkCache:
    """Per-file chunk lines in `<cache_dir>/filechunks.sqlite3`, keyed as the module docstring says."""

    def __init__(self, cache_dir: Path) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(cache_dir / CACHE_FILE, timeout=60)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS file_chunks (key TEXT PRIMARY KEY, lines BLOB NOT NULL, "
                "created TEXT NOT NULL)"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FileChunkCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def corpus_lines(
        self, sources: Sequence[SourceFile], settings: IngestSettings, environment: str | None = None
    ) -> tuple[list[list[str]], ChunkCacheStats]:
        """Each source's chunk lines, in order; only files without a valid entry are parsed (one worker)."""
        started = time.perf_counter()
        environment = environment or chunk_environment(settings)
        keys = [entry_key(source, environment) for source in sources]
        found = self._lookup(keys)
        out: list[list[str]] = []
        fresh: list[tuple[str, bytes, str]] = []
        parsed = 0
        parser: IsolatedParser | None = None
        try:
            for source, key in zip(sources, keys, strict=True):
                if key in found:
                    out.append(found[key])
                    continue
                parser = parser or IsolatedParser()
                lines, ok = chunk_lines(source, settings, parser)
                parsed += 1
                out.append(lines)
                if ok:
                    fresh.append((key, zlib.compress("".join(lines).encode()), _now()))
                if len(fresh) >= 50:
                    self._store(fresh)
                    fresh = []
        finally:
            if parser is not None:
                parser.close()
            self._store(fresh)
        stats = ChunkCacheStats(len(sources), len(sources) - parsed, parsed, time.perf_counter() - started)
        return out, stats

    def _lookup(self, keys: Iterable[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[str]] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, lines FROM file_chunks WHERE key IN ({marks})", part)
            for key, blob in rows:
                found[key] = zlib.decompress(blob).decode().splitlines(keepends=True)
        return found

    def _store(self, rows: list[tuple[str, bytes, str]]) -> None:
        if rows:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO file_chunks VALUES (?, ?, ?)", rows)


def entry_key(source: SourceFile, environment: str) -> str:
    """The cache key of one file: its identity, its and its sidecar's content, and the environment."""
    sidecar = source.path.with_name(source.path.name + SIDECAR_SUFFIX)
    material = "\x1f".join(
        (
            environment,
            source.doc_id,
            source.name,
            _sha256(source.path),
            _sha256(sidecar) if sidecar.is_file() else "-",
        )
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:  # unreadable now: never matches a stored entry, the parse reports the error
        return f"unreadable:{exc.__class__.__name__}:{time.time_ns()}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
