"""Gold sets (JSONL, see the datasets README) and the location of gold passages in the parsed text.

A relevant item names its passage in one of two ways:
- `{"doc", "text"}`: `text` is a verbatim substring of the raw file, but chunk offsets index the parser's text
  (front matter stripped, NFC, lines re-joined, trailing spaces dropped). So each gold passage is searched in the
  parsed text after collapsing whitespace, with an offset map back to parsed-text offsets; if that fails, after
  dropping everything but letters and digits (Markdown markup the parser removed). Located spans are cached.
- `{"doc", "start", "end"}`: a character span of the document's text as the parser extracts it
  (`ingest.parsers.parse_file(doc).text`), so that a gold file need not copy the documents' text. The passage
  text is derived from the document when the file is loaded, and the span is the gold span as it stands.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.metrics import Gold, Span
from ingest.errors import KBError
from ingest.metadata import read_sidecar
from ingest.parsers import parse_file
from ingest.pipeline import discover, document_id


class EvalInputError(KBError):
    """A gold set or corpus that cannot be evaluated (malformed line, unknown document …)."""

    code = "eval_input"
    http_status = 422


@dataclass(frozen=True)
class GoldItem:
    """One relevant passage as the gold file states it; `path` is the resolved file it names. `span` is set when
    the gold file gives the passage as a span of the parsed text (`text` is then derived from it)."""

    doc: str
    path: Path
    text: str
    span: Span | None = None


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    relevant: tuple[GoldItem, ...]
    kind: str | None = None  # question type for per-kind reporting (fact, number, date, decision, legal, who)


def load_questions(path: Path, limit: int | None = None) -> list[Question]:
    """The first `limit` questions of a gold JSONL file; `doc` paths are relative to the file's folder."""
    dataset_dir = path.resolve().parent
    texts = ParsedTexts()
    questions: list[Question] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if limit is not None and len(questions) >= limit:
                break
            questions.append(_question(line, dataset_dir, f"{path}:{number}", texts))
    return questions


class ParsedTexts:
    """Each document's parsed text, parsed once per loaded gold file."""

    def __init__(self) -> None:
        self._texts: dict[Path, str] = {}

    def get(self, path: Path) -> str:
        if path not in self._texts:
            self._texts[path] = parse_file(path).text
        return self._texts[path]


def _question(line: str, dataset_dir: Path, where: str, texts: ParsedTexts) -> Question:
    try:
        raw: dict[str, Any] = json.loads(line)
        relevant = tuple(gold_item(r, dataset_dir, texts) for r in raw["relevant"])
        kind = raw.get("kind")
        return Question(
            str(raw["id"]),
            str(raw["question"]),
            tuple(str(a) for a in raw.get("answers") or ()),
            relevant,
            None if kind is None else str(kind),
        )
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise EvalInputError(f"not a gold record ({exc.__class__.__name__}: {exc})", path=where) from exc
    except KBError as exc:
        raise EvalInputError(f"gold document cannot be parsed ({exc.code}: {exc})", path=where) from exc


def gold_item(raw: dict[str, Any], dataset_dir: Path, texts: ParsedTexts) -> GoldItem:
    doc = str(raw["doc"])
    path = (dataset_dir / doc).resolve()
    if "text" in raw:
        return GoldItem(doc, path, str(raw["text"]))
    start, end = raw["start"], raw["end"]
    if (
        not (isinstance(start, int) and isinstance(end, int))
        or isinstance(start, bool)
        or isinstance(end, bool)
    ):
        raise TypeError(f"start and end of {doc} must be integers")
    text = texts.get(path)
    if not 0 <= start < end <= len(text):
        raise ValueError(f"span {start}:{end} lies outside the {len(text)} characters of {doc}")
    return GoldItem(doc, path, text[start:end], (start, end))


Corpus = Path | Sequence[Path]
"""One corpus folder, or several searched together (each file's doc id keeps its own folder's name)."""


def corpus_roots(corpus: Corpus) -> list[Path]:
    """The corpus folders; several must have distinct names, which prefix their files' doc ids."""
    roots = [corpus] if isinstance(corpus, Path) else [Path(c) for c in corpus]
    if not roots:
        raise EvalInputError("no corpus folder given")
    names = [r.resolve().name for r in roots]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise EvalInputError(f"corpus folders need distinct names (doc ids start with them): {clash}")
    return roots


def corpus_doc_ids(corpus: Corpus) -> dict[Path, str]:
    """Resolved file path → the doc id ingestion gives it (`<folder>/<relative path>` or the sidecar's)."""
    sources, _ = discover(corpus_roots(corpus))
    return {s.path.resolve(): document_id(s, read_sidecar(s.path)) for s in sources}


# -- locating passages -------------------------------------------------------------------------------------
def collapse_with_map(text: str, keep: Callable[[str], bool] | None = None) -> tuple[str, list[int]]:
    """Text with whitespace runs collapsed to one space (or, with `keep`, only the kept characters,
    lowercased) and, for each character of the result, its offset in `text`."""
    out: list[str] = []
    offsets: list[int] = []
    pending_space = False
    for index, ch in enumerate(text):
        if keep is not None:
            if keep(ch):
                out.append(ch.lower())
                offsets.append(index)
            continue
        if ch.isspace():
            pending_space = bool(out)
            continue
        if pending_space:
            out.append(" ")
            offsets.append(index - 1)
            pending_space = False
        out.append(ch)
        offsets.append(index)
    return "".join(out), offsets


def locate(parsed_text: str, passage: str) -> tuple[Span, ...]:
    """Every occurrence of `passage` in `parsed_text` as (start, end) offsets of `parsed_text`."""
    passage = unicodedata.normalize("NFC", passage)
    for keep in (None, str.isalnum):
        haystack, offsets = collapse_with_map(parsed_text, keep)
        needle, _ = collapse_with_map(passage, keep)
        spans = _find_all(haystack, needle, offsets)
        if spans:
            return spans
    return ()


def _find_all(haystack: str, needle: str, offsets: list[int]) -> tuple[Span, ...]:
    spans: list[Span] = []
    if not needle:
        return ()
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        spans.append((offsets[start], offsets[end - 1] + 1))
        start = haystack.find(needle, end)
    return tuple(spans)


class SpanLocator:
    """Gold passages → `Gold` items with parsed-text spans; parses each file once, caches spans as JSON."""

    def __init__(self, doc_ids: dict[Path, str], cache_file: Path | None = None) -> None:
        self._doc_ids = doc_ids
        self._cache_file = cache_file
        self._cache: dict[str, list[list[int]]] = self._load()
        self._texts: dict[Path, str] = {}
        self._hashes: dict[Path, str] = {}
        self._dirty = False
        self.unlocated: list[GoldItem] = []

    def gold(self, item: GoldItem) -> Gold:
        doc_id = self._doc_ids.get(item.path)
        if doc_id is None:
            raise EvalInputError(f"gold document {item.doc} is not a file of the corpus", path=str(item.path))
        if item.span is not None:
            return Gold(doc_id, (item.span,))
        key = hashlib.sha256(
            f"{item.path}\x1f{self._file_hash(item.path)}\x1f{item.text}".encode()
        ).hexdigest()
        if key not in self._cache:
            self._cache[key] = [list(span) for span in locate(self._parsed(item.path), item.text)]
            self._dirty = True
        spans = tuple((start, end) for start, end in self._cache[key])
        if not spans:
            self.unlocated.append(item)
        return Gold(doc_id, spans)

    def golds(self, items: Iterable[GoldItem]) -> tuple[Gold, ...]:
        return tuple(self.gold(item) for item in items)

    def save(self) -> None:
        if self._cache_file is not None and self._dirty:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._cache), encoding="utf-8")
            tmp.replace(self._cache_file)
            self._dirty = False

    def _load(self) -> dict[str, list[list[int]]]:
        if self._cache_file is None or not self._cache_file.is_file():
            return {}
        try:
            loaded = json.loads(self._cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _parsed(self, path: Path) -> str:
        if path not in self._texts:
            self._texts[path] = parse_file(path).text
        return self._texts[path]

    def _file_hash(self, path: Path) -> str:
        if path not in self._hashes:
            self._hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._hashes[path]
