"""Follow-up questions → standalone search queries.

In a conversation, "Und bis wann?" or "Falls nein, warum nicht?" finds nothing on its own. A cheap heuristic
decides first whether a question leans on the previous turns (follow-up openers, anaphora, very short
questions); only then does the model rewrite it, with a short few-shot prompt (prompts/condense.de.md) and a
JSON schema so that the small local model answers with the query and nothing else. A question that already
stands alone is searched unchanged, without a model call.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.llm import LLM
from service.prompting import PromptTemplate, render

CONDENSE_PROMPT = "condense.de.md"
QUERY_KEY = "suchanfrage"
MAX_QUERY_CHARS = 400
# The previous answer helps resolve "davon"/"dort", but a long one would crowd the small model's prompt.
ANSWER_CHARS_IN_HISTORY = 300
HISTORY_TURNS = 3

# Openers that make a question lean on the previous one ("Und bis wann?", "Falls nein, warum nicht?").
_OPENERS = re.compile(
    r"^\s*(und|falls|wenn\s+(ja|nein|nicht)|sofern|ggf\.?|gegebenenfalls|andernfalls|ansonsten|oder|auch|"
    r"außerdem|zudem|dann|warum\s+nicht|wieso\s+nicht|weshalb\s+nicht|was\s+ist\s+mit|wie\s+sieht\s+es)\b",
    re.IGNORECASE,
)
# Words that point back at something named earlier. "es" is left out: "Gibt es …" stands alone.
_ANAPHORA = re.compile(
    r"\b(dies|diese|dieser|dieses|diesem|diesen|davon|dafür|dagegen|dazu|darauf|daran|darüber|darin|damit|"
    r"hierzu|hierfür|hierbei|hiervon|dort|dorthin|deren|dessen|derselben|denselben|ebenfalls|"
    r"er|ihm|ihn|ihnen|ihr|ihre|ihren|ihrem|ihrer)\b",
    re.IGNORECASE,
)
# A lower-case "sie" mid-sentence is a pronoun; a capitalised "Sie" is usually the polite address.
_SIE = re.compile(r"(?<=\s)sie\b")
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß0-9]+")
SHORT_QUESTION_WORDS = 4


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of the conversation."""

    question: str
    answer: str = ""


@dataclass(frozen=True)
class Condensed:
    """What was asked, what is searched, and why."""

    question: str
    query: str
    rewritten: bool
    # no_history | standalone | rewritten | unchanged_by_model | rewrite_failed
    reason: str
    seconds: float = 0.0


def needs_rewrite(question: str) -> bool:
    """Does the question lean on earlier turns? Follow-up openers, anaphora, or a very short question."""
    if _OPENERS.search(question) or _ANAPHORA.search(question) or _SIE.search(question):
        return True
    return len(_WORD.findall(question)) <= SHORT_QUESTION_WORDS


def rewrites_with_model(question: str, history: Sequence[Turn]) -> bool:
    """Will `Condenser.condense` ask the model? Only for a follow-up in a conversation."""
    return bool(history) and needs_rewrite(question.strip())


def condense_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {QUERY_KEY: {"type": "string"}}, "required": [QUERY_KEY]}


def format_history(history: Sequence[Turn]) -> str:
    """The last turns, oldest first; only the most recent answer, shortened."""
    recent = list(history)[-HISTORY_TURNS:]
    lines: list[str] = []
    for i, turn in enumerate(recent):
        lines.append(f"Frage: {_one_line(turn.question)}")
        if i == len(recent) - 1 and turn.answer.strip():
            answer = _one_line(turn.answer)
            if len(answer) > ANSWER_CHARS_IN_HISTORY:
                answer = answer[:ANSWER_CHARS_IN_HISTORY].rsplit(" ", 1)[0] + " …"
            lines.append(f"Antwort: {answer}")
    return "\n".join(lines)


def parse_query(raw: str) -> str | None:
    """The query from the model's JSON reply; None when there is none usable."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        match = re.search(r'"' + QUERY_KEY + r'"\s*:\s*"([^"]+)', raw)
        data = {QUERY_KEY: match.group(1)} if match else None
    if not isinstance(data, dict) or not isinstance(data.get(QUERY_KEY), str):
        return None
    query = _one_line(data[QUERY_KEY])
    if not query or len(query) > MAX_QUERY_CHARS:
        return None
    return query


def fallback_query(question: str, history: Sequence[Turn]) -> str:
    """Without a usable rewrite: the previous question and the follow-up together, which BM25 and the dense
    retriever both handle better than the bare follow-up."""
    return f"{_one_line(history[-1].question)} {_one_line(question)}"


class Condenser:
    def __init__(self, llm: LLM, template: PromptTemplate, *, max_tokens: int = 96) -> None:
        self.llm = llm
        self.template = template
        self.max_tokens = max_tokens

    def condense(self, question: str, history: Sequence[Turn]) -> Condensed:
        question = question.strip()
        if not rewrites_with_model(question, history):
            reason = "standalone" if history else "no_history"
            return Condensed(question, question, False, reason)
        started = time.perf_counter()
        messages = render(self.template, history=format_history(history), question=_one_line(question))
        raw = self.llm.generate(messages, schema=condense_schema(), max_tokens=self.max_tokens).text()
        seconds = time.perf_counter() - started
        query = parse_query(raw)
        if query is None:
            return Condensed(question, fallback_query(question, history), True, "rewrite_failed", seconds)
        if query == _one_line(question):
            return Condensed(question, query, False, "unchanged_by_model", seconds)
        return Condensed(question, query, True, "rewritten", seconds)


def _one_line(text: str) -> str:
    return " ".join(text.split())
