"""Cited generation as one reusable unit: passages in → numbered sources rendered from a named prompt file →
constrained output (statements, each with its source numbers) → verification of every statement with the one
checker of service.citations → renumbering into a caller-owned numbering (`SourceBook`).

Drafts use it per section; answers and chat turns are to compose it the same way (the answer schema is the
one-statement case). The model only ever sees local numbers 1..k; the numbers a reader sees are owned by the
`SourceBook`, so they stay stable across everything generated with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingest.domain import ScoredChunk
from ingest.store import Provenance
from service import citations
from service.focusing import FOCUS_OFF, Focus
from service.llm import LLM, GenerationStats
from service.prompting import (
    Offered,
    PromptTemplate,
    as_seen,
    format_offered,
    offer_passages,
    render,
    source_label,
)

if TYPE_CHECKING:
    from service.support_judge import SupportJudge

STATEMENTS_KEY = "aussagen"
TEXT_KEY = "text"
SOURCES_KEY = "quellen"


def statements_schema(source_count: int, *, max_statements: int = 6) -> dict[str, Any]:
    """JSON schema of a statements reply; source numbers are limited to the sources offered."""
    numbers: dict[str, Any] = {"type": "integer"}
    if source_count:
        numbers["enum"] = list(range(1, source_count + 1))
    return {
        "type": "object",
        "properties": {
            STATEMENTS_KEY: {
                "type": "array",
                "maxItems": max_statements,
                "items": {
                    "type": "object",
                    "properties": {
                        TEXT_KEY: {"type": "string"},
                        SOURCES_KEY: {"type": "array", "items": numbers},
                    },
                    "required": [TEXT_KEY, SOURCES_KEY],
                },
            }
        },
        "required": [STATEMENTS_KEY],
    }


def parse_statements(raw: str) -> list[tuple[str, list[int]]] | None:
    """(text, cited numbers) per statement from the model's JSON; None when the reply is not that JSON."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    items = data.get(STATEMENTS_KEY) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return _statements_of(items)


_ARRAY_START = re.compile(r'^\s*\{\s*"' + STATEMENTS_KEY + r'"\s*:\s*\[')


def salvage_statements(raw: str) -> list[tuple[str, list[int]]] | None:
    """The complete statements before the cut of a reply that stopped inside the JSON (the token cap): the
    prefix of the statements array is read item by item, the unfinished last item is dropped. None when the
    reply does not start as the statements object."""
    start = _ARRAY_START.match(raw)
    if start is None:
        return None
    decoder = json.JSONDecoder()
    items: list[Any] = []
    at = start.end()
    while True:
        while at < len(raw) and raw[at] in " \t\r\n,":
            at += 1
        if at >= len(raw) or raw[at] == "]":
            break
        try:
            item, at = decoder.raw_decode(raw, at)
        except json.JSONDecodeError:
            break  # the item the cap cut off
        items.append(item)
    return _statements_of(items)


def _statements_of(items: list[Any]) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get(TEXT_KEY), str):
            continue
        text = citations.strip_markers(item[TEXT_KEY]).strip()
        numbers = [
            int(n)
            for n in [*(item.get(SOURCES_KEY) or []), *citations.parse_markers(item[TEXT_KEY])]
            if isinstance(n, int) or str(n).isdigit()
        ]
        if text:
            out.append((text, list(dict.fromkeys(numbers))))
    return out


# Where a copied instruction ends and the statement begins: "<Anweisung>, ist, dass <Aussage>",
# "<Anweisung> sind: <Aussage>", "<Überschrift>: <Aussage>". Not a bare ", dass": "Der Zeitplan für … sieht
# vor, dass …" restates the topic with a verb of its own.
_ECHO_END = re.compile(
    r",?\s+(?:ist|sind|lautet|lauten|war|waren)(?:\s+wie\s+folgt)?\s*(?:,\s*dass\s+|dass\s+|:\s*)|:\s+"
)
# Share of the lead-in's content words that must come from the instructions for it to count as copied.
ECHO_SHARE = 0.75
_MIN_REST_TERMS = 3


def strip_echo(text: str, instructions: str) -> str:
    """The statement without a lead-in copied from the prompt's instructions. The small model sometimes
    opens with the section's guidance ("Der aktuelle Stand mit Zahlen, Daten, Fristen und Beteiligten, wie
    ihn die Quellen beschreiben, ist, dass der Rollout am 1. April 2027 beginnt …"); the checker then finds
    most of its words in no passage and removes a statement whose facts are all in the source. Safe: only a
    lead-in that ends in a connector ("ist, dass", ":"), whose content words come from the instructions
    (`ECHO_SHARE`) and which states no fact of its own is cut; what follows must still be a statement."""
    if not instructions:
        return text
    evidence = citations.Evidence.of(instructions)
    for match in _ECHO_END.finditer(text):
        lead, rest = text[: match.start()], text[match.end() :].strip()
        terms = citations.statement_terms(lead)
        if not terms or len(citations.statement_terms(rest)) < _MIN_REST_TERMS:
            continue
        copied = sum(1 for key, written in terms.items() if evidence.has_term(key, written))
        verdict = citations.check_statement(lead, evidence, min_support=0.0)
        own_facts = [f for f in verdict.missing if f.kind is not citations.FactKind.WORD]
        if copied / len(terms) >= ECHO_SHARE and not own_facts:
            return rest[:1].upper() + rest[1:]
        break  # only the first connector can end a copied lead-in
    return text


@dataclass(frozen=True)
class CheckedStatement:
    """A statement after verification. `sources` are the numbers (in the numbering given) of the passages
    that support it; `cited` what the model or editor cited; `reasons` why cited passages fail (German)."""

    text: str
    cited: tuple[int, ...]
    sources: tuple[int, ...]
    supported: bool
    reattributed: bool = False
    invalid_markers: tuple[int, ...] = ()
    reasons: tuple[str, ...] = ()


def check_statements(
    statements: Sequence[tuple[str, Sequence[int]]],
    passages: Mapping[int, str | citations.Evidence],
    *,
    min_support: float,
    reattribute: bool = True,
) -> list[CheckedStatement]:
    """Verify each statement against the passages it cites (by number). A statement none of its cited
    passages supports is attributed to the offered passage that supports it best, if one does (the small
    model often cites a neighbour of the right passage). Numbers that name no passage are reported."""
    evidence = {
        n: p if isinstance(p, citations.Evidence) else citations.Evidence.of(p) for n, p in passages.items()
    }
    out: list[CheckedStatement] = []
    for text, cited in statements:
        claim = citations.Claim.of(text)
        cited_t = tuple(dict.fromkeys(cited))
        invalid = tuple(n for n in cited_t if n not in evidence)
        valid = [n for n in cited_t if n in evidence]
        verdicts = {n: citations.check_statement(claim, evidence[n], min_support=min_support) for n in valid}
        backing = tuple(n for n in valid if verdicts[n].supported)
        reasons = tuple(r for n in valid if not verdicts[n].supported for r in verdicts[n].reasons)
        moved = False
        if not backing and reattribute:
            others = {
                n: citations.check_statement(claim, ev, min_support=min_support)
                for n, ev in evidence.items()
                if n not in verdicts
            }
            candidates = [n for n, v in others.items() if v.supported]
            if candidates:
                backing = (max(candidates, key=lambda n: (others[n].share, -n)),)
                moved = True
        out.append(
            CheckedStatement(
                claim.text,
                cited_t,
                backing,
                bool(backing),
                reattributed=moved,
                invalid_markers=invalid,
                reasons=() if backing else reasons or ("keine zitierte Quelle belegt die Aussage",),
            )
        )
    return out


@dataclass(frozen=True)
class BookEntry:
    """A passage in a `SourceBook`: its stable number and its provenance (the store's `Provenance` record)."""

    number: int
    point_id: str
    doc_id: str
    revision: str
    title: str
    label: str
    page_start: int | None
    page_end: int | None
    section_path: tuple[str, ...]
    text: str
    marked: str | None = None  # "Entwurf" / "überholt": used only because nothing current was found

    @classmethod
    def of(cls, number: int, hit: ScoredChunk, marked: str | None = None) -> BookEntry:
        p = Provenance.from_payload(hit.payload)
        return cls(
            number,
            hit.point_id,
            p.doc_id,
            p.revision,
            p.title,
            source_label(p),
            p.page_start,
            p.page_end,
            p.section_path,
            hit.text,
            marked,
        )

    @property
    def seen_text(self) -> str:
        return as_seen(self.title, self.section_path, self.text)

    @property
    def footnote(self) -> str:
        """ "Titel, S. N – Abschnitt (Revision abcdef12)": the form of a footnote in an exported draft."""
        text = f"{self.label} (Revision {self.revision[:8]})"
        return f"{text} [{self.marked}]" if self.marked else text


@dataclass
class SourceBook:
    """Server-owned citation numbers: a passage keeps the number it got first, for a whole document."""

    entries: dict[int, BookEntry] = field(default_factory=dict)

    def number_of(self, hit: ScoredChunk, marked: str | None = None) -> int:
        for entry in self.entries.values():
            if entry.point_id == hit.point_id:
                return entry.number
        number = max(self.entries, default=0) + 1
        self.entries[number] = BookEntry.of(number, hit, marked)
        return number

    def add(self, entry: BookEntry) -> None:
        self.entries[entry.number] = entry


@dataclass(frozen=True)
class Generated:
    """One generation: statements checked and renumbered into the `SourceBook`."""

    statements: list[CheckedStatement]
    offered: list[int]  # book numbers of the passages offered, in prompt order
    raw: str
    valid_output: bool  # the reply was the complete JSON
    stats: GenerationStats | None
    truncated: bool = False  # the reply stopped inside the JSON; `statements` are those completed before
    echoes_cut: int = 0  # sentences whose lead-in copied from the instructions was cut (`strip_echo`)


@dataclass(frozen=True)
class Prompted:
    """A generation's prompt, ready to send: the passages that fitted the budget (as the model sees them,
    focused or whole) and the chat messages."""

    offered: list[Offered]
    messages: list[dict[str, str]]
    instructions: str = ""  # the instruction variables' text, for `strip_echo`

    @property
    def fitted(self) -> list[ScoredChunk]:
        return [o.hit for o in self.offered]


@dataclass(frozen=True)
class Reply:
    """What the model returned for a `Prompted`."""

    raw: str
    stats: GenerationStats | None


@dataclass
class CitedGenerator:
    """`generate` = `prompt` → `complete` (the model call, the only slow step; callers may run several at
    once against a server that batches) → `check` (verification and numbering into the book, in the caller's
    order, so the numbers do not depend on which model call finished first)."""

    llm: LLM
    template: PromptTemplate
    budget_tokens: int
    max_tokens: int
    min_support: float
    # Off by default: drafts offer whole passages. When on, passages are focused on the prompt's variables
    # (service/focusing.py) and statements are verified against the focused text the model saw.
    focus: Focus = FOCUS_OFF
    # Prompt variables that instruct the model (a draft section's title, guidance, sub-questions): a lead-in
    # copied from them is cut from a statement before it is checked (`strip_echo`).
    instruction_variables: tuple[str, ...] = ()
    # The model's yes/no on each statement the rules accept (service/support_judge.py); None: rules only.
    judge: SupportJudge | None = None

    def generate(
        self,
        hits: Sequence[ScoredChunk],
        variables: Mapping[str, str],
        book: SourceBook,
        *,
        marks: Mapping[str, str] | None = None,
    ) -> Generated:
        """Offer `hits` (focused if set, fitted into the budget), generate statements, verify, renumber into
        `book`."""
        prompted = self.prompt(hits, variables)
        return self.check(prompted, self.complete(prompted), book, marks=marks)

    def prompt(self, hits: Sequence[ScoredChunk], variables: Mapping[str, str]) -> Prompted:
        if not hits:
            return Prompted([], [])
        offered = offer_passages(
            self.template,
            variables,
            hits,
            focus_query=" ".join(variables.values()),
            focus=self.focus,
            budget_tokens=self.budget_tokens,
            count_tokens=self.llm.count_tokens,
        )
        instructions = "\n".join(variables[name] for name in self.instruction_variables if name in variables)
        return Prompted(
            offered, render(self.template, sources=format_offered(offered), **variables), instructions
        )

    def complete(self, prompted: Prompted) -> Reply:
        if not prompted.fitted:
            return Reply("", None)
        generation = self.llm.generate(
            prompted.messages, schema=statements_schema(len(prompted.fitted)), max_tokens=self.max_tokens
        )
        raw = generation.text()
        return Reply(raw, generation.stats)

    def check(
        self,
        prompted: Prompted,
        reply: Reply,
        book: SourceBook,
        *,
        marks: Mapping[str, str] | None = None,
    ) -> Generated:
        fitted = prompted.fitted
        if not fitted:
            return Generated([], [], "", True, None)
        raw = reply.raw
        parsed = parse_statements(raw)
        # A reply cut by the token cap keeps the statements it completed before the cut.
        salvaged = salvage_statements(raw) if parsed is None else None
        marks = marks or {}
        to_book = {
            local: book.number_of(hit, marks.get(hit.point_id)) for local, hit in enumerate(fitted, start=1)
        }
        if parsed is None and not salvaged:
            return Generated(
                [], list(to_book.values()), raw, False, reply.stats, truncated=salvaged is not None
            )
        statements = parsed if parsed is not None else salvaged or []
        # A statement of several sentences is checked sentence by sentence (each keeps the statement's source
        # numbers): the small model often merges facts of two passages into one statement, which then no
        # single passage supports although every sentence of it is backed.
        written = [
            (sentence, cited) for text, cited in statements for sentence in citations.split_statements(text)
        ]
        sentences = [(strip_echo(sentence, prompted.instructions), cited) for sentence, cited in written]
        echoes = sum(1 for (before, _), (after, _) in zip(written, sentences, strict=True) if before != after)
        seen = {n: o.seen_text for n, o in enumerate(prompted.offered, start=1)}
        local_checks = check_statements(sentences, seen, min_support=self.min_support)
        if self.judge is not None:
            local_checks = self.judge.review(local_checks, seen)
        renumbered = [
            CheckedStatement(
                c.text,
                tuple(to_book[n] for n in c.cited if n in to_book),
                tuple(to_book[n] for n in c.sources),
                c.supported,
                c.reattributed,
                c.invalid_markers,
                c.reasons,
            )
            for c in local_checks
        ]
        return Generated(
            renumbered,
            list(to_book.values()),
            raw,
            parsed is not None,
            reply.stats,
            truncated=parsed is None,
            echoes_cut=echoes,
        )
