"""Draft topics (JSONL): what a recommendation draft on a topic must say, with the gold source of each key fact.

One line per topic::

    {"id": "drafts-1", "topic": "…", "working_group": "AK …" (optional),
     "key_facts": [{"id": "drafts-1-a", "fact": "…", "values": ["4,8 Mio. EUR"] (optional),
                    "source": {"doc": "../../../corpus/positionspapier-ki-infrastruktur.pdf", "start": 1, "end": 2}}]}

`source` follows the span convention of the other gold sets (`eval.gold`): `doc` is relative to the topics
file's folder, `start`/`end` a span of the text the project's parser extracts from it. Spans are validated when
the file is loaded; an error names the topic, the fact and the document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.gold import EvalInputError, GoldItem, ParsedTexts, gold_item
from ingest.errors import KBError

MIN_FACTS, MAX_FACTS = 2, 5


@dataclass(frozen=True)
class KeyFact:
    id: str
    fact: str
    values: tuple[str, ...]
    source: GoldItem


@dataclass(frozen=True)
class Topic:
    id: str
    topic: str
    working_group: str | None
    key_facts: tuple[KeyFact, ...]


def load_topics(path: Path, limit: int | None = None) -> list[Topic]:
    """The first `limit` topics of a topics file, every gold span checked against its document."""
    folder = path.resolve().parent
    texts = ParsedTexts()
    topics: list[Topic] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if limit is not None and len(topics) >= limit:
                break
            topics.append(_topic(line, folder, f"{path}:{number}", texts))
    ids = [t.id for t in topics]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise EvalInputError(f"topic ids occur more than once: {repeated}", path=str(path))
    return topics


def _topic(line: str, folder: Path, where: str, texts: ParsedTexts) -> Topic:
    try:
        raw: dict[str, Any] = json.loads(line)
        topic_id, text = str(raw["id"]), str(raw["topic"])
        facts_raw = raw["key_facts"]
        if not isinstance(facts_raw, list):
            raise TypeError("key_facts must be a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise EvalInputError(f"not a topic record ({exc.__class__.__name__}: {exc})", path=where) from exc
    if not MIN_FACTS <= len(facts_raw) <= MAX_FACTS:
        raise EvalInputError(
            f"topic {topic_id} has {len(facts_raw)} key facts; {MIN_FACTS} to {MAX_FACTS} are expected",
            path=where,
        )
    group = raw.get("working_group")
    facts = tuple(_fact(topic_id, f, folder, where, texts) for f in facts_raw)
    return Topic(topic_id, text, None if group is None else str(group), facts)


def _fact(topic_id: str, raw: Any, folder: Path, where: str, texts: ParsedTexts) -> KeyFact:
    doc = raw.get("source", {}).get("doc") if isinstance(raw, dict) else None
    named = f"topic {topic_id}, key fact {raw.get('id') if isinstance(raw, dict) else '?'}, document {doc}"
    try:
        source = raw["source"]
        if "text" in source:  # spans only: a topics file must not copy the documents' text
            raise ValueError("the source must be a span (doc, start, end), not copied text")
        values = raw.get("values") or []
        if not isinstance(values, list):
            raise TypeError("values must be a list")
        return KeyFact(
            str(raw["id"]), str(raw["fact"]), tuple(str(v) for v in values), gold_item(source, folder, texts)
        )
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise EvalInputError(f"{named}: {exc}", path=where) from exc
    except KBError as exc:
        raise EvalInputError(
            f"{named}: the document cannot be parsed ({exc.code}: {exc})", path=where
        ) from exc
