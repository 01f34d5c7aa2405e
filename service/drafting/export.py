"""Export of a draft: Markdown (pandoc footnotes) and DOCX with real Word footnotes, through pandoc
(`pypandoc-binary`, pandoc bundled in the wheel). One footnote per citation, in the form
"Titel, S. N – Abschnitt (Revision abcdef12)", and a source list at the end."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from service.drafting.model import UNSUPPORTED_MARK, DraftState

_STATUS = {
    "planned": "geplant",
    "writing": "in Arbeit",
    "draft": "Entwurf",
    "in_review": "in Prüfung",
    "approved": "freigegeben",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|^~])")


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def footnotes(draft: DraftState) -> list[tuple[int, str]]:
    """(source number, footnote text) for every citation of the draft, in reading order."""
    out: list[tuple[int, str]] = []
    for section in draft.sections:
        for statement in section.statements:
            for number in statement.sources:
                source = draft.source(number)
                if source is not None and not source.removed:
                    out.append((number, source.footnote))
    return out


def to_markdown(draft: DraftState) -> str:
    """The draft as Markdown (pandoc flavour: `[^n]` footnotes), German headings from the template."""
    lines = [f"# {_escape(draft.title)}", ""]
    lines.append(f"*Status: {_STATUS.get(draft.status, draft.status)} · Vorlage: {draft.template}*")
    lines.append("")
    notes: list[str] = []
    cited: list[int] = []
    for section in draft.sections:
        lines += [f"## {_escape(section.title)}", ""]
        if section.note or not section.statements:
            lines += [section.note or "Keine belastbare Quelle gefunden.", ""]
        for statement in section.statements:
            marks = ""
            for number in statement.sources:
                source = draft.source(number)
                if source is None or source.removed:
                    continue
                notes.append(f"[^{len(notes) + 1}]: {_escape(source.footnote)}")
                marks += f"[^{len(notes)}]"
                cited.append(number)
            flag = f" **[{UNSUPPORTED_MARK}]**" if statement.marked or not statement.supported else ""
            lead = f"*{_escape(statement.lead)}:* " if statement.lead else ""
            lines += [f"- {lead}{_escape(statement.text)}{marks}{flag}"]
        if section.statements:
            lines.append("")
        for conflict in section.conflicts:
            lines += [f"> **Hinweis:** {_escape(conflict)}", ""]
    lines += ["## Quellen", ""]
    for number in dict.fromkeys(sorted(cited)):
        source = draft.source(number)
        assert source is not None
        lines.append(f"{number}. {_escape(source.footnote)}")
    lines.append("")
    lines += notes
    return "\n".join(lines) + "\n"


def to_docx(draft: DraftState) -> bytes:
    """The draft as DOCX: pandoc turns each Markdown footnote into a Word footnote (word/footnotes.xml)."""
    try:
        import pypandoc
    except ImportError as exc:  # pragma: no cover - pinned dependency
        from ingest.errors import ConfigurationError

        raise ConfigurationError("DOCX export needs pypandoc-binary (pip install pypandoc-binary)") from exc
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "entwurf.docx"
        pypandoc.convert_text(
            to_markdown(draft),
            "docx",
            format="markdown",
            outputfile=str(out),
            extra_args=["--metadata", "lang=de-DE", "--metadata", f"title-meta={draft.title}"],
        )
        return out.read_bytes()
