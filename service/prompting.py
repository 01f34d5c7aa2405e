"""Prompt files and rendering: pure functions. Rendering fails loudly on a missing variable."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.domain import ScoredChunk
from ingest.errors import ConfigurationError
from ingest.store import Provenance
from service.focusing import Focus, FocusedPassage, focus_passages

SYSTEM_MARK = "=== system ==="
USER_MARK = "=== user ==="
ANSWER_KEY = "antwort"
SHORT_KEY = "kurz"  # the asked fact alone ("16 GPUs"), shown above the cited answer; "" when none is asked
SOURCES_KEY = "quellen"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    system: string.Template
    user: string.Template

    @property
    def variables(self) -> set[str]:
        names: set[str] = set()
        for template in (self.system, self.user):
            names.update(template.get_identifiers())
        return names


def load_prompt(path: Path) -> PromptTemplate:
    """A prompt file: a comment, then the system and user parts, each introduced by its mark alone on a line
    (a mark quoted inside the comment does not count)."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(rf"^(?:{re.escape(SYSTEM_MARK)}|{re.escape(USER_MARK)})[ \t]*$", text, flags=re.M)
    marks = re.findall(rf"^({re.escape(SYSTEM_MARK)}|{re.escape(USER_MARK)})[ \t]*$", text, flags=re.M)
    if marks != [SYSTEM_MARK, USER_MARK]:
        raise ConfigurationError(
            f"prompt file {path.name} needs one '{SYSTEM_MARK}' line, then one '{USER_MARK}' line"
        )
    _, system, user = parts
    return PromptTemplate(path.name, string.Template(system.strip()), string.Template(user.strip()))


def render(template: PromptTemplate, **variables: str) -> list[dict[str, str]]:
    """Chat messages from a template; a variable the template expects but is not given raises."""
    missing = template.variables - variables.keys()
    if missing:
        raise ConfigurationError(f"prompt {template.name} is missing variables: {', '.join(sorted(missing))}")
    return [
        {"role": "system", "content": template.system.substitute(variables)},
        {"role": "user", "content": template.user.substitute(variables)},
    ]


def source_label(p: Provenance) -> str:
    """ "Titel, S. 3–4 – Abschnitt" — the same label the user sees next to the answer."""
    label = p.title
    if p.page_start:
        pages = f"{p.page_start}" if p.page_end in (None, p.page_start) else f"{p.page_start}–{p.page_end}"
        label += f", S. {pages}"
    if p.section_path:
        label += f" – {p.section_path[-1]}"
    return label


def as_seen(title: str, section_path: Sequence[str], text: str) -> str:
    """A source as a statement citing it is verified against: the title and section heading of its label line
    (a law's "§ 4 …" often stands only in the heading) above the text the model saw — not the page, which is no
    evidence for a figure."""
    heading = f"{title} – {section_path[-1]}" if section_path else title
    return f"{heading}\n{text}"


def format_sources(hits: Sequence[ScoredChunk], texts: Sequence[str] | None = None) -> str:
    """The numbered passages of a prompt; `texts` (one per hit) replaces the passages' own text, e.g. with
    their focused form (service/focusing.py)."""
    shown = [hit.text for hit in hits] if texts is None else list(texts)[: len(hits)]
    return "\n\n".join(
        f"[{i}] {source_label(Provenance.from_payload(hit.payload))}\n{text.strip()}"
        for i, (hit, text) in enumerate(zip(hits, shown, strict=True), start=1)
    )


def asks_short_answer(template: PromptTemplate) -> bool:
    """Whether an answer prompt asks for the short fact ("kurz") besides the answer: `answer_kurz.de.md` does,
    the default `answer.de.md` does not (eval/results/answers-100: +0.10 F1 on xquad-de, but −0.10 citation
    recall on karlsruhe-qa)."""
    return f'"{SHORT_KEY}"' in template.system.template


def answer_schema(source_count: int, *, short: bool = False) -> dict[str, Any]:
    """JSON schema of the reply: the answer (streamed, checked) and the cited numbers; with `short`, the short
    fact before them — asked for after the answer, the 1.5B shortens the answer itself to the bare fact, which
    weakens the citation check; asked first, it writes the sentence after it. Source numbers are limited to the
    sources offered."""
    properties: dict[str, Any] = {SHORT_KEY: {"type": "string"}} if short else {}
    properties[ANSWER_KEY] = {"type": "string"}
    properties[SOURCES_KEY] = {
        "type": "array",
        "items": {"type": "integer", "enum": list(range(1, source_count + 1))},
    }
    return {"type": "object", "properties": properties, "required": list(properties)}


def fit_sources(
    template: PromptTemplate,
    question: str,
    hits: Sequence[ScoredChunk],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    texts: Sequence[str] | None = None,
) -> list[ScoredChunk]:
    """The longest prefix of `hits` whose rendered answer prompt stays within the token budget (at least one)."""
    return fit_passages(
        template,
        {"question": question},
        hits,
        budget_tokens=budget_tokens,
        count_tokens=count_tokens,
        texts=texts,
    )


def fit_passages(
    template: PromptTemplate,
    variables: Mapping[str, str],
    hits: Sequence[ScoredChunk],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    texts: Sequence[str] | None = None,
) -> list[ScoredChunk]:
    """The longest prefix of `hits` whose prompt, rendered with `variables` and the numbered passages as
    `sources` (their `texts` if given, one per hit), stays within the token budget (at least one)."""
    shown = [hit.text for hit in hits] if texts is None else list(texts)
    chosen: list[ScoredChunk] = []
    for hit in hits:
        candidate = [*chosen, hit]
        messages = render(template, sources=format_sources(candidate, shown), **variables)
        if count_tokens("\n".join(m["content"] for m in messages)) > budget_tokens and chosen:
            break
        chosen.append(hit)
    return chosen


@dataclass(frozen=True)
class Offered:
    """A passage as offered to the model: the hit (whole passage, provenance) and what the model sees of it."""

    hit: ScoredChunk
    passage: FocusedPassage

    @property
    def prompt_text(self) -> str:
        return self.passage.text

    @property
    def seen_text(self) -> str:
        p = Provenance.from_payload(self.hit.payload)
        return as_seen(p.title, p.section_path, self.passage.text)

    @classmethod
    def whole(cls, hit: ScoredChunk) -> Offered:
        return cls(hit, FocusedPassage.whole(hit.text))


def offer_passages(
    template: PromptTemplate,
    variables: Mapping[str, str],
    hits: Sequence[ScoredChunk],
    *,
    focus_query: str,
    focus: Focus,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[Offered]:
    """Focus each passage on `focus_query` (service/focusing.py; `FOCUS_OFF` keeps them whole), then keep the
    longest prefix whose prompt stays within the token budget (at least one). Shared by answers and drafts."""
    focused = focus_passages(
        [hit.text for hit in hits],
        focus_query,
        max_sentences=focus.max_sentences,
        max_tokens=focus.max_tokens,
        count_tokens=count_tokens,
    )
    fitted = fit_passages(
        template,
        variables,
        hits,
        budget_tokens=budget_tokens,
        count_tokens=count_tokens,
        texts=[f.text for f in focused],
    )
    return [Offered(hit, passage) for hit, passage in zip(fitted, focused, strict=False)]


def format_offered(offered: Sequence[Offered]) -> str:
    return format_sources([o.hit for o in offered], [o.prompt_text for o in offered])


def decisive_count(
    hits: Sequence[ScoredChunk], *, max_sources: int, margin: float, decisive_sources: int
) -> int:
    """How many of `hits` to offer: `max_sources`, or `decisive_sources` when the ranking is decisive — the
    best fused (RRF) score leads the second by at least `margin` of itself, (s1 − s2) / s1 ≥ margin.

    With the default fusion (k = 5, BM25 weight 1.2) a passage first in both rankings scores 0.44 and one
    second in both 0.367, a relative margin of 0.17; a margin of 0.3 needs the runner-up to be far down at
    least one ranking. On the xquad-de dev set (612 questions, committed baseline run) a margin ≥ 0.3 holds for
    185 questions, and for none of them was the gold passage in the top 4 but not in the top 2.
    `decisive_sources` 0 turns the rule off."""
    if decisive_sources <= 0 or len(hits) < 2 or hits[0].score <= 0:
        return max_sources
    lead = (hits[0].score - hits[1].score) / hits[0].score
    return min(max_sources, decisive_sources) if lead >= margin else max_sources
