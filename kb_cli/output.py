"""What a person reads: ingest outcomes, passages, decisions and documents laid out for 80 columns.

Rules: a file name or document id is never cut or split (it stands on its own line, however long); prose may
wrap; one record is one block (a heading line, then indented `Label: value` lines). Colour and highlighting
only on a terminal (rich drops them when the output is piped).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from ingest.pipeline import FileOutcome, Status
from service.citations import content_terms

INDENT = "  "
LABEL_WIDTH = 12
MATCHING_SENTENCES = 3
_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|\w+(?:-\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ„\"(])")
# A full stop after these does not end a sentence ("Art. 4", "z. B. die", "am 2. August").
_NOT_AN_END = re.compile(
    r"(?:\b(?:Art|Abs|Nr|Ziff|lit|Dr|Prof|bzw|ca|vgl|ggf|inkl|z|B|u|a|d|h|i|e|S|St|Kap|Anl)|\d)\.$"
)


def stdout() -> Console:
    # soft_wrap: rich inserts no line breaks of its own, so a long name stays on one line at any width.
    return Console(soft_wrap=True, highlight=False)


def stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _width(console: Console) -> int:
    return max(40, min(console.width, 100))


def _field(console: Console, label: str, value: str, *, wrap: bool = False) -> None:
    head = f"{INDENT}{label + ':':<{LABEL_WIDTH}}"
    if wrap:
        value = textwrap.fill(
            " ".join(value.split()),
            width=_width(console),
            initial_indent=head,
            subsequent_indent=" " * len(head),
            break_long_words=False,
            break_on_hyphens=False,
        )
        console.print(Text(value))
    else:
        console.print(Text(head + value))


def page_text(page_start: int | None, page_end: int | None = None) -> str:
    """ "S. 3", "S. 3–4", or "" for a format without pages."""
    if not page_start:
        return ""
    return f"S. {page_start}" if page_end in (None, page_start) else f"S. {page_start}–{page_end}"


def _where(doc_id: str, page_start: int | None, page_end: int | None, ocr: bool = False) -> Text:
    where = Text(doc_id, style="cyan")
    pages = page_text(page_start, page_end)
    if pages:
        where.append(f", {pages}")
    if ocr:  # read by OCR from a scan: the text may hold misreadings
        where.append(" (OCR)", style="yellow")
    return where


# -- ingest -------------------------------------------------------------------------------------------------
def print_outcomes(console: Console, outcomes: Sequence[FileOutcome]) -> None:
    """Failed and duplicate files one block each (the whole name on one line), then a summary."""
    problems = [o for o in outcomes if o.status in (Status.FAILED, Status.DUPLICATE)]
    if problems:
        console.print(Text("files not ingested:", style="bold"))
        for o in problems:
            console.print(Text(f"{INDENT}{o.path}"))
            reason = (
                f"{o.status.value}"
                + (f" [{o.code}]" if o.code else "")
                + (f" {o.message}" if o.message else "")
            )
            console.print(
                Text(f"{INDENT * 2}{reason}", style="red" if o.status is Status.FAILED else "yellow")
            )
    warned = [o for o in outcomes if o.status is not Status.FAILED and getattr(o, "warnings", None)]
    if warned:
        # What the PDF library complained about while reading a file that was still ingested.
        console.print(Text("files ingested with warnings:", style="bold"))
        for o in warned:
            console.print(Text(f"{INDENT}{o.path}"))
            for warning in o.warnings:
                console.print(Text(f"{INDENT * 2}{warning}", style="yellow"))
    console.print(Text("ingest summary:", style="bold"))
    for status in Status:
        picked = [o for o in outcomes if o.status is status]
        if picked:
            chunks = sum(o.chunks for o in picked)
            pages = sum(o.pages for o in picked)
            console.print(
                Text(f"{INDENT}{status.value:<10} {len(picked):>5} files {chunks:>7} chunks {pages:>6} pages")
            )


# -- search -------------------------------------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    """A passage split into sentences, German abbreviations and ordinals kept inside their sentence."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(" ".join(text.split())):
        if out and _NOT_AN_END.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return [s for s in out if s]


def matching_sentences(text: str, query: str, most: int = MATCHING_SENTENCES) -> list[str]:
    """The sentences of a passage that share most content words with the query, in passage order.

    Passages without any shared word give their first sentence, so a hit never shows nothing."""
    wanted = content_terms(query)
    found = sentences(text)
    scored = [(len(content_terms(s) & wanted), i) for i, s in enumerate(found)]
    best = sorted((item for item in scored if item[0] > 0), key=lambda item: (-item[0], item[1]))[:most]
    if not best:
        return found[:1]
    return [found[i] for _, i in sorted(best, key=lambda item: item[1])]


def highlighted(sentence: str, query: str) -> Text:
    """The sentence with the words that match the query in bold (styles show on a terminal only)."""
    wanted = content_terms(query)
    out = Text()
    position = 0
    for match in _WORD.finditer(sentence):
        if content_terms(match.group()) & wanted:
            out.append(sentence[position : match.start()])
            out.append(match.group(), style="bold yellow")
            position = match.end()
    out.append(sentence[position:])
    return out


def print_hits(console: Console, data: dict[str, Any]) -> None:
    query = str(data.get("query") or "")
    for hit in data["hits"]:
        heading = Text(f"{hit['rank']}. ", style="bold")
        heading.append_text(
            _where(hit["doc_id"], hit.get("page_start"), hit.get("page_end"), bool(hit.get("ocr")))
        )
        heading.append(f"  ({hit['score']:.3f})")
        console.print(heading)
        _field(console, "Titel", str(hit.get("title") or ""), wrap=True)
        if hit.get("section_path"):
            _field(console, "Abschnitt", " › ".join(hit["section_path"]), wrap=True)
        for sentence in matching_sentences(hit["text"], query):
            line = Text(INDENT + "» ")
            line.append_text(highlighted(sentence, query))
            console.print(line)
    if not data.get("relevant", True):
        console.print(Text("Hinweis: keine der Passagen scheint zur Frage zu passen.", style="yellow"))


# -- answers ------------------------------------------------------------------------------------------------
def print_answer(console: Console, data: dict[str, Any]) -> None:
    console.print()
    if data.get("short_answer"):
        # The asked fact alone; the cited answer below is what backs it.
        console.print(Text(f"Kurz: {data['short_answer']}", style="bold"))
        console.print(Text(data["answer"]))
    else:
        console.print(Text(data["answer"], style="bold"))
    console.print()
    if data["declined"]:
        console.print(Text(f"({data['reason']})", style="yellow"))
    for c in data["citations"]:
        line = Text(f"{INDENT}[{c['number']}] ")
        line.append_text(_where(c["doc_id"], c.get("page_start"), c.get("page_end"), bool(c.get("ocr"))))
        section = c.get("section_path") or []
        line.append(f" – {c['title']}" + (f" – {section[-1]}" if section else ""))
        console.print(line)
    if data["invalid_markers"]:
        console.print(Text(f"Ungültige Quellenangaben: {data['invalid_markers']}", style="red"))
    if data.get("reattributed_citations"):
        console.print(
            Text(f"Quellenangabe korrigiert, belegt durch: {data['reattributed_citations']}", style="yellow")
        )
    if data["unsupported_citations"]:
        console.print(
            Text(f"Nicht belegte Quellenangaben entfernt: {data['unsupported_citations']}", style="yellow")
        )


# -- documents and decisions --------------------------------------------------------------------------------
def print_documents(console: Console, rows: Iterable[dict[str, Any]]) -> None:
    for r in rows:
        console.print(Text(r["doc_id"], style="bold cyan"))
        _field(console, "Titel", r["title"], wrap=True)
        _field(
            console,
            "Typ",
            f"{r['doc_type']} · {r['visibility']}" + (f" · {r['status']}" if r.get("status") else ""),
        )
        _field(console, "AK", r["working_group"])
        if r.get("date"):
            _field(console, "Datum", r["date"])
        pages = f", {r['pages']} Seiten" if r.get("pages") else ""
        _field(console, "Umfang", f"{r['chunks']} Passagen{pages}")
        _field(console, "Revision", r["revision"][:16])
        console.print()


def print_decisions(console: Console, rows: Iterable[dict[str, Any]]) -> None:
    for r in rows:
        head = " · ".join(x for x in (r.get("date"), r.get("working_group"), r.get("agenda_item")) if x)
        console.print(Text(head or r["doc_id"], style="bold"))
        _field(console, "Dokument", r["doc_id"])
        _field(console, "Seite", str(r["page"]) if r.get("page") else "– (ohne Seitenzählung)")
        _field(console, "Beschluss", r["text"], wrap=True)
        if r.get("vote"):
            _field(console, "Abstimmung", r["vote"], wrap=True)
        console.print()
