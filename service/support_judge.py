"""The optional yes/no support judgement of the model, the last step of the one citation check.

The rule-based check (service/citations.py) accepts a statement when its cited passage carries its figures,
references and names and enough of its content words, and rejects a negated one. What the rules cannot see —
a statement that reuses the passage's words for a different claim — a model can: each statement the rules
accept is put to the model once, with the passages that back it, as a JSON-constrained yes/no. A "no" withdraws
the support (the drafting path then removes or marks the statement like any unsupported one); an unreadable
reply leaves the rule's verdict standing. One more generation per statement: off by default for the local model
on CPU, on by default against an OpenAI-compatible server, where the questions run in parallel.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from service.cited_generation import CheckedStatement
from service.llm import LLM
from service.prompting import PromptTemplate, render

JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"belegt": {"type": "boolean"}},
    "required": ["belegt"],
}
NOT_BACKED = "das Modell hält die Aussage durch die Quelle nicht für belegt"


@dataclass(frozen=True)
class SupportJudge:
    llm: LLM
    template: PromptTemplate
    parallel: int = 1
    max_tokens: int = 16

    def supports(self, statement: str, passages: Sequence[str]) -> bool | None:
        """The model's yes/no; None when its reply is not the JSON asked for."""
        messages = render(self.template, statement=statement, passages="\n\n".join(passages))
        raw = self.llm.generate(messages, schema=JUDGE_SCHEMA, max_tokens=self.max_tokens).text()
        try:
            verdict = json.loads(raw)["belegt"]
        except (ValueError, KeyError, TypeError):
            return None
        return verdict if isinstance(verdict, bool) else None

    def review(
        self, statements: Sequence[CheckedStatement], passages: Mapping[int, str]
    ) -> list[CheckedStatement]:
        """Every statement the rules accept, asked once with the passages that back it."""
        asked = [(i, s) for i, s in enumerate(statements) if s.supported]

        def ask(statement: CheckedStatement) -> bool | None:
            return self.supports(statement.text, [passages[n] for n in statement.sources if n in passages])

        if self.parallel > 1 and len(asked) > 1:
            with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="support-judge") as pool:
                futures = [pool.submit(contextvars.copy_context().run, ask, s) for _, s in asked]
                verdicts = [f.result() for f in futures]
        else:
            verdicts = [ask(s) for _, s in asked]
        reviewed = list(statements)
        for (index, statement), verdict in zip(asked, verdicts, strict=True):
            if verdict is False:
                reviewed[index] = replace(statement, sources=(), supported=False, reasons=(NOT_BACKED,))
        return reviewed
