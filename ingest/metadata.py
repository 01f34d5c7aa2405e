"""Document metadata: resolve `DocumentMeta` from flags, sidecar, front matter, file properties and content.

Precedence per field: flag (`MetadataOverrides`) > sidecar (`<file>.meta.yaml`) > front matter > file
properties (PDF info, DOCX core properties) > inferred from content > default. Fields taken from file
properties, content or the file name are listed in `DocumentMeta.inferred`.

One exception: the date of minutes. Their meeting date, the first date in the first ~2000 characters of the
text, beats the file's creation date, which only tells when the minutes were typed up or exported. So for
minutes: flag > sidecar > front matter > date in the text > file properties.

Titles from file properties are cleaned first: "Microsoft Word - Niederschrift AK.docx" → "Niederschrift AK";
what is left of a bare file name ("Microsoft Word - protokoll_final.doc") or a placeholder ("Dokument1") is no
title, and the title is inferred from the text instead.

Validation: flags and sidecar are written for this system, so an invalid `doc_type`, `status` or `date` there
raises `InvalidMetadata`, and so does an unknown sidecar key. Front matter is often written for other tools
(Hugo, VitePress, legal-text repos) and may say `status: published` or `type: post`; an unrecognised
`doc_type`, `status` or `date` there is ignored and the field falls through to the next source.
`visibility` is strict from every source: a typo must never widen access to a document.

The doc id is resolved by the caller (it is needed before parsing, to skip unchanged files);
`MetadataOverrides.doc_id` is carried here for that caller.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import Any, TypeVar

import yaml

from ingest.domain import BlockKind, DocStatus, DocType, DocumentMeta, ParsedDocument, Visibility
from ingest.errors import InvalidMetadata
from ingest.german_patterns import starts_with_date

SIDECAR_SUFFIX = ".meta.yaml"
DATE_SEARCH_CHARS = 2000
DOC_TYPE_SEARCH_CHARS = 3000
MAX_TITLE_LINE_CHARS = 120
# Headings that start later than this are section titles, not the document's.
TITLE_HEADING_CHARS = 3000
TITLE_SEARCH_LINES = 10


@dataclass(frozen=True)
class MetadataOverrides:
    """Metadata from `kb ingest` flags or upload form fields, applied to a whole batch."""

    doc_type: str | None = None
    working_group: str | None = None
    visibility: str | None = None
    date: str | None = None
    title: str | None = None
    status: str | None = None
    version: str | None = None
    supersedes: str | None = None
    doc_id: str | None = None


# Canonical field → keys accepted in a sidecar or in front matter (compared case-insensitively).
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title", "titel"),
    "doc_type": ("doc_type", "type", "typ", "dokumenttyp", "doctype"),
    "working_group": ("working_group", "arbeitskreis", "arbeitsgruppe", "gremium"),
    "visibility": ("visibility", "sichtbarkeit"),
    "date": ("date", "datum", "veroeffentlicht", "veröffentlicht", "published"),
    "status": ("status",),
    "version": ("version",),
    "supersedes": ("supersedes", "ersetzt"),
}
_SIDECAR_ONLY_KEYS = frozenset({"doc_id"})
# bundestag-gesetze front matter names the statute's official abbreviation: the document is a law.
_LAW_MARKER_KEYS = frozenset({"jurabk"})

_DOC_TYPE_SYNONYMS: dict[str, DocType] = {
    "protokoll": DocType.MINUTES,
    "niederschrift": DocType.MINUTES,
    "sitzungsprotokoll": DocType.MINUTES,
    "gutachten": DocType.LEGAL_OPINION,
    "rechtsgutachten": DocType.LEGAL_OPINION,
    "organisationsgutachten": DocType.ORG_REPORT,
    "bericht": DocType.ORG_REPORT,
    "positionspapier": DocType.POSITION_PAPER,
    "stellungnahme": DocType.POSITION_PAPER,
    "handlungsempfehlung": DocType.RECOMMENDATION,
    "empfehlung": DocType.RECOMMENDATION,
    "gesetz": DocType.LAW,
    "verordnung": DocType.LAW,
    "satzung": DocType.LAW,
    "sonstiges": DocType.OTHER,
}
_VISIBILITY_SYNONYMS: dict[str, Visibility] = {
    "öffentlich": Visibility.PUBLIC,
    "oeffentlich": Visibility.PUBLIC,
    "intern": Visibility.INTERNAL,
    "vertraulich": Visibility.CONFIDENTIAL,
    "gruppe": Visibility.GROUP,
}
_STATUS_SYNONYMS: dict[str, DocStatus] = {
    "entwurf": DocStatus.DRAFT,
    "beschlossen": DocStatus.ADOPTED,
    "verabschiedet": DocStatus.ADOPTED,
    "angenommen": DocStatus.ADOPTED,
    "überholt": DocStatus.SUPERSEDED,
    "ueberholt": DocStatus.SUPERSEDED,
    "ersetzt": DocStatus.SUPERSEDED,
}

_MONTHS = {
    "januar": 1, "jan": 1, "jänner": 1, "februar": 2, "feb": 2, "märz": 3, "maerz": 3, "mär": 3, "mrz": 3,
    "april": 4, "apr": 4, "mai": 5, "juni": 6, "jun": 6, "juli": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "oktober": 10, "okt": 10, "november": 11, "nov": 11,
    "dezember": 12, "dez": 12,
}  # fmt: skip
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
# A two-digit year only with two-digit day and month ("28.01.15"), so that "1.2.30" stays a version number.
_DOTTED_DATE = re.compile(
    r"(?<![\d.])(?:(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})|(\d{2})\.(\d{2})\.(\d{2}))(?!\d)(?!\.\d)"
)
_WORD_DATE = re.compile(rf"(?<!\d)(\d{{1,2}})\.\s*({_MONTH_NAMES})\.?\s+(\d{{4}})(?!\d)", re.IGNORECASE)
_PDF_DATE = re.compile(r"D:(\d{4})(\d{2})(\d{2})")

_APPLICATION_PREFIX = re.compile(
    r"\A(?:microsoft\s+(?:office\s+)?(?:word|powerpoint|excel)|powerpoint)\s*-\s*", re.IGNORECASE
)
_FILE_SUFFIX = re.compile(r"\.(?:docx?|pdf|odt|rtf|txt|pptx?|xlsx?)$", re.IGNORECASE)
_JUNK_TITLE = re.compile(
    r"(?:microsoft\s+(?:word|powerpoint|excel)\s+-.*|untitled.*|unbenannt.*|ohne\s+titel|titel|title|"
    r"(?:dokument|document|doc|präsentation|presentation|folie|slide)\s*\d*|powerpoint-präsentation|"
    r".*\.(?:docx?|pdf|odt|rtf|txt|pptx?|xlsx?))",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_OUTLINE_LINE = re.compile(
    r"(?:§|(?:Art\.?|Artikel)\s*\d|TOP\s*\d|[IVXLC]+\.(?:\s|$)|[A-Z]\.(?:\s|$)|\d+(?:\.\d+)*\.?(?:\s|$)"
    r"|[a-z]{1,2}\)(?:\s|$))"
)
# "ERSTER TITEL", "Zweiter Abschnitt", "Teil 2", "A 2.3 DAG III": a division of the text, not its title.
_DIVISION_LINE = re.compile(
    r"(?:(?:erster|zweiter|dritter|vierter|fünfter|sechster|siebter|achter|neunter|zehnter|\d{1,2}\.)\s+"
    r"(?:buch|teil|kapitel|abschnitt|unterabschnitt|titel)|(?:buch|teil|kapitel|abschnitt|unterabschnitt)\s+"
    r"(?:\d{1,3}|[IVXLC]+))\b|(?:allgemeiner|besonderer)\s+teil\b|[A-Z]\s?\d+(?:\.\d+)+(?:\s|$)",
    re.IGNORECASE,
)
# "Normgeber: Innenministerium", "Amtliche Abkürzung: VOHvO", "Stand: 06.11.2017": a field, not a title.
_LABEL_LINE = re.compile(
    r"(?:Normgeber|Dokumenttyp|Aktenzeichen|Az\.?|Erlassdatum|Ausfertigungsdatum|Fassung\s+vom|Gültig\s+(?:ab|bis)|Quelle|"
    r"Gliederungs-?Nr\.?|Fundstelle|Amtliche\s+Abkürzung|Vollzitat|Stand|Datum|Herausgeber(?:in)?|"
    r"Verfasser(?:in)?|Autor(?:in)?|Seite)\s?:(?:\s|$)",
    re.IGNORECASE,
)
_CONTENTS = re.compile(r"(?:inhalts(?:übersicht|verzeichnis)|inhalt|gliederung)\b[\s\d.:]*", re.IGNORECASE)
_REPEALED = re.compile(r"\((?:weggefallen|aufgehoben)\)", re.IGNORECASE)
_PAGE_NUMBER = re.compile(
    r"[-–—\s]*(?:(?:Seite|Page|S\.)\s*)?\d{1,4}(?:\s*(?:von|of|/)\s*\d{1,4})?[-–—\s]*", re.I
)
_NUMERIC_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")
_DECORATION = re.compile(r"^[\s#*_=\-–—>|`~]+|[\s#*_=\-–—|`~]+$")


def read_sidecar(path: Path) -> dict[str, Any]:
    """The `<file>.meta.yaml` next to `path` as a mapping; {} when there is none."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    if not sidecar.is_file():
        return {}
    try:
        loaded = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidMetadata(f"the sidecar {sidecar.name} is not valid YAML: {exc}", path=str(path)) from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidMetadata(
            f"the sidecar {sidecar.name} is not a mapping of keys to values", path=str(path)
        )
    return {str(key): value for key, value in loaded.items()}


@dataclass(frozen=True)
class _Source:
    name: str
    values: Mapping[str, Any]
    strict: bool
    inferred: bool = False


def resolve_metadata(
    parsed: ParsedDocument,
    *,
    doc_id: str,
    revision: str,
    overrides: MetadataOverrides = MetadataOverrides(),
    sidecar: Mapping[str, Any] | None = None,
) -> DocumentMeta:
    """Resolve every field by precedence (see the module docstring); InvalidMetadata on an invalid value."""
    path = parsed.source_path
    flag_values = {
        name: getattr(overrides, name) for name in FIELD_KEYS if getattr(overrides, name) is not None
    }
    explicit = [
        _Source("flag", flag_values, strict=True),
        _Source("sidecar", _sidecar_fields(sidecar or {}, path), strict=True),
        _Source("front matter", _front_matter_fields(parsed.metadata.get("front_matter")), strict=False),
    ]
    properties = _Source("file properties", _property_fields(parsed.metadata), strict=False, inferred=True)
    sources = [*explicit, properties]
    inferred: set[str] = set()

    def pick(
        name: str,
        parse: Callable[[Any], Any],
        infer: Callable[[], Any] = lambda: None,
        order: Sequence[_Source] = sources,
    ) -> Any:
        for source in order:
            if source.values.get(name) is None:
                continue
            value = parse(source.values[name])
            if value is not None:
                if source.inferred:
                    inferred.add(name)
                return value
            if source.strict or name == "visibility":
                raise InvalidMetadata(_invalid_message(name, source), path=path)
        guessed = infer()
        if guessed is not None:
            inferred.add(name)
        return guessed

    title = pick("title", _text, lambda: infer_title(parsed)) or PurePath(path).name
    doc_type = pick("doc_type", parse_doc_type, lambda: infer_doc_type(parsed, title=title))
    date_order = sources
    if doc_type is DocType.MINUTES:
        # The meeting date in the text beats the date the minutes file was created.
        meeting = _Source("text", {"date": infer_date(parsed.text)}, strict=False, inferred=True)
        date_order = [*explicit, meeting, properties]
    date = pick("date", parse_date, lambda: infer_date(parsed.text), date_order)
    return DocumentMeta(
        doc_id=doc_id,
        revision=revision,
        title=title,
        source_path=path,
        doc_type=doc_type or DocType.OTHER,
        working_group=pick("working_group", _text) or DocumentMeta.working_group,
        visibility=pick("visibility", parse_visibility) or DocumentMeta.visibility,
        date=date,
        status=pick("status", parse_status),
        version=pick("version", _text),
        supersedes=pick("supersedes", _text),
        inferred=frozenset(inferred),
    )


def _invalid_message(name: str, source: _Source) -> str:
    value = source.values[name]
    allowed = {
        "doc_type": _allowed(DocType, _DOC_TYPE_SYNONYMS),
        "visibility": _allowed(Visibility, _VISIBILITY_SYNONYMS),
        "status": _allowed(DocStatus, _STATUS_SYNONYMS),
        "date": "an ISO date (2025-03-12), 12.03.2025 or 12. März 2025",
    }.get(name, "a non-empty text")
    return f"invalid {name} {value!r} (from {source.name}); allowed: {allowed}"


def _allowed(enum: type[StrEnum], synonyms: Mapping[str, StrEnum]) -> str:
    return ", ".join(member.value for member in enum) + " (or German: " + ", ".join(synonyms) + ")"


def _sidecar_fields(sidecar: Mapping[str, Any], path: str) -> dict[str, Any]:
    # A misspelt key in our own file (e.g. "visibilty") must not be ignored silently.
    fields = _known_fields(sidecar)
    known = {key for keys in FIELD_KEYS.values() for key in keys} | _SIDECAR_ONLY_KEYS
    unknown = sorted(str(key) for key in sidecar if str(key).casefold() not in known)
    if unknown:
        allowed = ", ".join(FIELD_KEYS) + ", doc_id"
        raise InvalidMetadata(f"unknown sidecar keys {', '.join(unknown)}; allowed: {allowed}", path=path)
    return fields


def _front_matter_fields(front_matter: Any) -> dict[str, Any]:
    if not isinstance(front_matter, Mapping):
        return {}
    fields = _known_fields(front_matter)
    if "doc_type" not in fields and any(str(key).casefold() in _LAW_MARKER_KEYS for key in front_matter):
        fields["doc_type"] = DocType.LAW.value
    return fields


def _known_fields(values: Mapping[Any, Any]) -> dict[str, Any]:
    by_key = {str(key).casefold(): value for key, value in values.items()}
    fields: dict[str, Any] = {}
    for name, keys in FIELD_KEYS.items():
        value = next((by_key[key] for key in keys if by_key.get(key) is not None), None)
        if value is not None:
            fields[name] = value
    return fields


def _property_fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    title = metadata.get("title")
    if isinstance(title, str) and clean_title(title):
        fields["title"] = clean_title(title)
    if metadata.get("created") is not None:
        fields["date"] = metadata["created"]
    return fields


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | dt.date):
        return None
    text = " ".join(str(value).split())
    return text or None


E = TypeVar("E", bound=StrEnum)


def _parse_enum(value: Any, enum: type[E], synonyms: Mapping[str, E]) -> E | None:
    if not isinstance(value, str):
        return None
    key = " ".join(value.split()).casefold().replace("-", "_").replace(" ", "_")
    try:
        return enum(key)
    except ValueError:
        return synonyms.get(key)


def parse_doc_type(value: Any) -> DocType | None:
    """'minutes', 'Protokoll', 'Rechtsgutachten' … → DocType; None when not recognised."""
    return _parse_enum(value, DocType, _DOC_TYPE_SYNONYMS)


def parse_visibility(value: Any) -> Visibility | None:
    """'public', 'öffentlich', 'intern' … → Visibility; None when not recognised."""
    return _parse_enum(value, Visibility, _VISIBILITY_SYNONYMS)


def parse_status(value: Any) -> DocStatus | None:
    """'draft', 'Entwurf', 'beschlossen', 'überholt' … → DocStatus; None when not recognised."""
    return _parse_enum(value, DocStatus, _STATUS_SYNONYMS)


def parse_date(value: Any) -> str | None:
    """A whole value as a date → ISO yyyy-mm-dd: date objects, ISO (with time), 12.03.2025, 12. März 2025."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        return None
    text = value.strip()
    pdf = _PDF_DATE.match(text)
    if pdf:
        return _iso(pdf.group(1), pdf.group(2), pdf.group(3))
    for found in _dates_in(text):
        start, end, iso = found
        if start == 0 and (end == len(text) or text[end] in "T ,"):
            return iso
    return None


def infer_date(text: str) -> str | None:
    """The first German or ISO date in the first ~2000 characters, as ISO yyyy-mm-dd."""
    return next((iso for _, _, iso in _dates_in(text[:DATE_SEARCH_CHARS])), None)


def _dates_in(text: str) -> Iterable[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for match in _ISO_DATE.finditer(text):
        iso = _iso(match.group(1), match.group(2), match.group(3))
        if iso:
            found.append((match.start(), match.end(), iso))
    for match in _DOTTED_DATE.finditer(text):
        day, month, year = match.group(1, 2, 3) if match.group(3) else match.group(4, 5, 6)
        iso = _iso(_full_year(year), month, day)
        if iso:
            found.append((match.start(), match.end(), iso))
    for match in _WORD_DATE.finditer(text):
        month = _MONTHS[match.group(2).casefold()]
        iso = _iso(match.group(3), str(month), match.group(1))
        if iso:
            found.append((match.start(), match.end(), iso))
    return sorted(found)


def _full_year(year: str) -> str:
    if len(year) == 4:
        return year
    # Two-digit years in minutes ("28.01.15") are this century; older documents write the full year.
    return str(2000 + int(year))


def _iso(year: str, month: str, day: str) -> str | None:
    try:
        return dt.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


_MINUTES_SUBJECT = re.compile(r"\bniederschrift|\bprotokoll", re.IGNORECASE)
_MEETING = re.compile(r"\bsitzung", re.IGNORECASE)
# "TOP" counts in capitals only ("top" is English); council papers have an empty "TOP:" form field.
_AGENDA_CUE = re.compile(r"\bTOPs?\b(?!:)|\bTop\s+\d|[Tt]agesordnung")
_NUMBERED_AGENDA_ITEM = re.compile(
    r"\bTOP\s*\d|\bTop\s+\d|Tagesordnungspunkt\s+\d|Punkt\s+\d+\s+der\s+Tagesordnung"
)
_ORG_REPORT = re.compile(r"organisationsgutachten|organisationsuntersuchung", re.IGNORECASE)
_LEGAL_OPINION = re.compile(r"rechtsgutachten", re.IGNORECASE)
_OPINION = re.compile(r"gutachten", re.IGNORECASE)
_LEGAL_CUE = re.compile(r"rechtlich|§", re.IGNORECASE)
_POSITION = re.compile(r"positionspapier|stellungnahme", re.IGNORECASE)
_RECOMMENDATION = re.compile(r"handlungsempfehlung", re.IGNORECASE)
_LAW_WORD = re.compile(r"gesetz|verordnung|satzung", re.IGNORECASE)
_LAW_START = re.compile(r"^\s*§\s*1\b", re.MULTILINE)
# "Jahresbericht", "Berichte", but not the verb "berichtet".
_REPORT = re.compile(r"bericht(?:e|es|s)?\b", re.IGNORECASE)
LAW_TITLE_CHARS = 300


def infer_doc_type(parsed: ParsedDocument, *, title: str | None = None) -> DocType | None:
    """Guess the document type from cue words in the title and the first ~3000 characters; None if no cue.

    In this order: Niederschrift/Protokoll + TOP/Tagesordnung, or Sitzung + a numbered agenda item → minutes;
    Organisationsgutachten/-untersuchung → org_report; Rechtsgutachten, or Gutachten + rechtlich/§ →
    legal_opinion; Handlungsempfehlung → recommendation; Positionspapier/Stellungnahme → position_paper;
    Gesetz/Verordnung/Satzung in the first ~300 characters or a line "§ 1 …" → law; Bericht → org_report.
    `title` defaults to `infer_title(parsed)`; pass the resolved title when a better one is known.
    """
    title = title if title is not None else infer_title(parsed) or ""
    head = f"{title}\n{parsed.text[:DOC_TYPE_SEARCH_CHARS]}"
    # Minutes name themselves and their agenda; a mere "Sitzung" needs a numbered agenda item.
    if (_MINUTES_SUBJECT.search(head) and _AGENDA_CUE.search(head)) or (
        _MEETING.search(head) and _NUMBERED_AGENDA_ITEM.search(head)
    ):
        return DocType.MINUTES
    if _ORG_REPORT.search(head):
        return DocType.ORG_REPORT
    if _LEGAL_OPINION.search(head) or (_OPINION.search(head) and _LEGAL_CUE.search(head)):
        return DocType.LEGAL_OPINION
    if _RECOMMENDATION.search(head):
        return DocType.RECOMMENDATION
    if _POSITION.search(head):
        return DocType.POSITION_PAPER
    # A law names itself at the very start; deeper in a text "Gesetz" is just a topic.
    start = f"{title}\n{parsed.text[:LAW_TITLE_CHARS]}"
    if _LAW_WORD.search(start) or _LAW_START.search(parsed.text[:DOC_TYPE_SEARCH_CHARS]):
        return DocType.LAW
    if _REPORT.search(head):
        return DocType.ORG_REPORT
    return None


def is_junk_title(title: str) -> bool:
    """Empty, a file name, "Microsoft Word - x.doc", "Dokument1", "Untitled" … are not titles."""
    text = " ".join(title.split())
    return len(text) < 3 or _JUNK_TITLE.fullmatch(text) is not None or sum(c.isalpha() for c in text) < 3


def clean_title(title: str) -> str | None:
    """A title from file properties without what the application added; None if no title is left.

    "Microsoft Word - Niederschrift AK.docx" → "Niederschrift AK". A file name ("protokoll_final.doc",
    "Microsoft Word - Relaisfunkst10-94.doc", "RAHMENRILI.PDF") or a placeholder ("Dokument1") → None.
    """
    text = " ".join(title.split())
    cleaned = _FILE_SUFFIX.sub("", _APPLICATION_PREFIX.sub("", text)).strip()
    # What an application took from the file name has no spaces: "protokoll_final", "Relaisfunkst10-94".
    from_file_name = cleaned != text
    if (from_file_name and " " not in cleaned) or is_junk_title(cleaned):
        return None
    return cleaned


def infer_title(parsed: ParsedDocument) -> str | None:
    """Property title (cleaned, not junk) > first heading near the start > the PDF's first line > first line
    of the text (≤ 120 chars) > file stem. An outline line is never a title: a numbered item ("5.
    (weggefallen)", "I. Die Grundrechte", "Art 1", "§ 3 …"), a date or a page number."""
    candidates: list[str] = []
    prop = parsed.metadata.get("title")
    if isinstance(prop, str):
        candidates.append(clean_title(prop) or "")
    # A heading deep inside ("5. (weggefallen)" on page 30) says nothing about the whole document.
    candidates.extend(
        b.text for b in parsed.blocks if b.kind is BlockKind.HEADING and b.char_start < TITLE_HEADING_CHARS
    )
    # A PDF's first line ("Grundgesetz für die Bundesrepublik Deutschland") when its first headings are outline
    # lines ("I. Die Grundrechte", "Art 1", "ERSTER TITEL"): the joined first paragraph would bury it.
    first_line = parsed.metadata.get("first_line")
    if isinstance(first_line, str):
        candidates.append(first_line)
    # The first non-empty line; a junk one (a URL) gives way to the next, a long one (body text) ends it.
    for line in filter(None, map(_clean_line, parsed.text.splitlines()[:TITLE_SEARCH_LINES])):
        if len(line) > MAX_TITLE_LINE_CHARS:
            break
        candidates.append(line)
    usable = [text for text in map(_clean_line, candidates) if _usable_title(text)]
    # A single word ("ZSKG", "INHALT") only when nothing longer is there.
    title = next((text for text in usable if " " in text), usable[0] if usable else None)
    if title:
        return title
    stem = PurePath(parsed.source_path).stem.replace("_", " ").strip()
    return stem or None


def _usable_title(text: str) -> bool:
    return bool(text) and not (
        is_junk_title(text)
        or _URL.search(text)
        or is_outline_line(text)
        or _LABEL_LINE.match(text)
        or _CONTENTS.fullmatch(text)
    )


def is_field_line(text: str) -> bool:
    """'Normgeber: Innenministerium', 'Fassung vom: 28.01.2021': a labelled field of a cover block."""
    return _LABEL_LINE.match(" ".join(text.split())) is not None


def is_outline_line(text: str) -> bool:
    """A numbered outline item, a repealed item, a date or a page number: a line no document is titled by."""
    line = text.strip()
    return bool(
        _OUTLINE_LINE.match(line)
        or _DIVISION_LINE.match(line)
        or _REPEALED.search(line)
        or starts_with_date(line)
        or _PAGE_NUMBER.fullmatch(line)
        or _NUMERIC_DATE.fullmatch(line)
    )


def _clean_line(line: str) -> str:
    return " ".join(_DECORATION.sub("", line).split())
