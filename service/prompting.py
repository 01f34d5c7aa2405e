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

SYSTEM_MARK = "=== system ==="
USER_MARK = "=== user ==="
ANSWER_KEY = "antwort"
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


def format_sources(hits: Sequence[ScoredChunk]) -> str:
    return "\n\n".join(
        f"[{i}] {source_label(Provenance.from_payload(hit.payload))}\n{hit.text.strip()}"
        for i, hit in enumerate(hits, start=1)
    )


def answer_schema(source_count: int) -> dict[str, Any]:
    """JSON schema of the reply; source numbers are limited to the sources offered."""
    return {
        "type": "object",
        "properties": {
            ANSWER_KEY: {"type": "string"},
            SOURCES_KEY: {
                "type": "array",
                "items": {"type": "integer", "enum": list(range(1, source_count + 1))},
            },
        },
        "required": [ANSWER_KEY, SOURCES_KEY],
    }


def fit_sources(
    template: PromptTemplate,
    question: str,
    hits: Sequence[ScoredChunk],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[ScoredChunk]:
    """The longest prefix of `hits` whose rendered answer prompt stays within the token budget (at least one)."""
    return fit_passages(
        template, {"question": question}, hits, budget_tokens=budget_tokens, count_tokens=count_tokens
    )


def fit_passages(
    template: PromptTemplate,
    variables: Mapping[str, str],
    hits: Sequence[ScoredChunk],
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[ScoredChunk]:
    """The longest prefix of `hits` whose prompt, rendered with `variables` and the numbered passages as
    `sources`, stays within the token budget (at least one)."""
    chosen: list[ScoredChunk] = []
    for hit in hits:
        messages = render(template, sources=format_sources([*chosen, hit]), **variables)
        if count_tokens("\n".join(m["content"] for m in messages)) > budget_tokens and chosen:
            break
        chosen.append(hit)
    return chosen
