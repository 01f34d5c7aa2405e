"""Draft templates: YAML files in `prompts/templates/`, chosen by name (see handlungsempfehlung.yaml)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ingest.errors import ConfigurationError
from service.drafting.errors import DraftTemplateNotFound

TEMPLATES_DIR = "templates"
DECISIONS_KIND = "decisions"
_NAME = re.compile(r"^[a-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class SectionTemplate:
    title: str
    guidance: str
    questions: tuple[str, ...]  # patterns with {thema}
    kind: str = "text"  # "text": written by the model; "decisions": from the minutes' decision records


@dataclass(frozen=True)
class DraftTemplate:
    name: str
    title: str
    sections: tuple[SectionTemplate, ...]
    sha256: str

    def title_for(self, topic: str) -> str:
        return self.title.replace("{thema}", topic)


def template_names(prompts_dir: Path) -> list[str]:
    return sorted(p.stem for p in (prompts_dir / TEMPLATES_DIR).glob("*.yaml"))


def load_template(prompts_dir: Path, name: str) -> DraftTemplate:
    if not _NAME.match(name):
        raise DraftTemplateNotFound(f"Unbekannte Vorlage {name!r}")
    path = prompts_dir / TEMPLATES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(template_names(prompts_dir))
        raise DraftTemplateNotFound(f"Unbekannte Vorlage {name!r} (vorhanden: {known})")
    raw = path.read_bytes()
    data = yaml.safe_load(raw)
    try:
        sections = tuple(
            SectionTemplate(
                title=str(s["title"]),
                guidance=str(s.get("guidance") or ""),
                questions=tuple(str(q) for q in s.get("questions") or ())[:3],
                kind=str(s.get("kind") or "text"),
            )
            for s in data["sections"]
        )
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"draft template {name} is malformed: {exc}") from None
    if not sections or any(not s.questions for s in sections):
        raise ConfigurationError(f"draft template {name} needs sections with 1–3 questions each")
    return DraftTemplate(name, str(data.get("title") or "{thema}"), sections, hashlib.sha256(raw).hexdigest())
