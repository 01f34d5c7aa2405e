"""German legal references ("§ 3 Abs. 2 OZG", "Art. 6 Abs. 1 lit. e DSGVO") in text and in typed queries.

Canonical form, the same for extraction and for queries:
    `§ 3 Abs. 2 S. 1 Nr. 4 OZG`, `Art. 6 Abs. 1 UAbs. 1 lit. e DSGVO`, `§ 35a VwVfG`, `§ 3 LDSG BW`
- "§" or "Art." (Artikel, Paragraph → §/Art.), one space, the number with its letter ("35a");
- parts in the order written, abbreviated: Absatz → Abs., Unterabsatz → UAbs., Satz → S., Halbsatz → Hs.,
  Nummer → Nr., Ziffer → Ziff., Buchstabe/Buchst. → lit. (letter in lower case), Alternative/Variante → Alt.;
- the law abbreviation last, in its official spelling when known (ozg → OZG, DS-GVO → DSGVO, "Verordnung (EU)
  2016/679" → DSGVO), plus an optional state suffix ("BW", "NRW").
- Enumerations are expanded: "§§ 3, 4 EGovG" → "§ 3 EGovG", "§ 4 EGovG"; "§§ 8 bis 10" → §§ 8, 9, 10;
  "Abs. 1 und 2" → one reference per Absatz. "f."/"ff." is dropped.

A reference without a law of its own takes the law of a later reference it is chained to by connectors only
(",", "und", "oder", "sowie", "bzw.", "i. V. m.", "in Verbindung mit"):
"§ 16 Abs. 2 i. V. m. § 16 Abs. 1 Nr. 5 GemO" → both GemO. Otherwise it is kept bare ("§ 3 Abs. 2"): in a
statute that means its own §, elsewhere the law is usually named in words ("des Onlinezugangsgesetzes"), which
no abbreviation table resolves safely.
"Art. 1 G v. 3.12.2020" (an article of an unnamed amending act) is dropped.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

# Official spellings; a word list reads better here than 60 quoted strings.
_KNOWN_LAWS = (  # noqa: SIM905
    "AEUV AO BauGB BauNVO BayDSG BDSG BeamtStG BetrVG BGB BHO BMG BPersVG BSIG BSI-KritisV DSG DVDV EGovG "
    "eIDAS EMRK ERechV EStG EUV GemHVO GemO GG GKZ GO GRCh GWB HGB IFG IZG KAG KI-VO KritisV LBO LDSG LHO "
    "LIFG LPVG LTranspG LVwVfG OWiG OZG OZGÄndG PAuswG SGB StGB StPO TDDDG TKG TMG TTDSG UrhG UStG UVgO UWG "
    "VDG VgV VwGO VwVfG ZPO"
).split()
_ALIASES = {"ds-gvo": "DSGVO", "dsgvo": "DSGVO", "eu-dsgvo": "DSGVO", "ki-verordnung": "KI-VO"}
_LAW_SPELLING = {law.casefold(): law for law in _KNOWN_LAWS} | {"dsgvo": "DSGVO"} | _ALIASES
_REGIONS = "BW NRW RP RLP SH MV LSA Bln HH HB Bbg Nds BY BE BB HE NI SL SN ST TH".split()  # noqa: SIM905
_REGION_SPELLING = {region.casefold(): region for region in _REGIONS}
# Capitalised tokens with two capitals that follow a § now and then but name no law.
_NOT_LAWS = frozenset({"AG", "AK", "EU", "IT", "TOP", "KW", "PDF", "GmbH", "CDU", "CSU", "SPD", "FDP", "AfD"})
_EU_REGULATIONS = {"2016/679": "DSGVO"}
_MAX_EXPANSION = 30

_PREFIX_STRICT = re.compile(
    r"(?<![\w])(?:§§|§|Artt\.|Art\.|Art\b|Artikel\b|Paragraph(?:en)?\b|Paragraf(?:en)?\b)"
)
_PREFIX_LENIENT = re.compile(_PREFIX_STRICT.pattern, re.IGNORECASE)
_NUMBER = re.compile(r"\s*(\d{1,4}(?:[a-z](?![a-zäöüß]))?)(?![\d])")
_PARTS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "UAbs.",
        re.compile(r"\s*,?\s*(?:UAbs\.?|Unterabs\.|Unterabsatz|Unterabsätze)(?![\w])", re.IGNORECASE),
        "num",
    ),
    ("Abs.", re.compile(r"\s*,?\s*(?:Abs\.?|Absatz|Absätze|Absätzen)(?![\w])", re.IGNORECASE), "num"),
    ("Hs.", re.compile(r"\s*,?\s*(?:Hs\.?|Halbs\.|Halbsatz)(?![\w])", re.IGNORECASE), "num"),
    ("S.", re.compile(r"\s*,?\s*(?:S\.|Satz|Sätze|Sätzen)(?![\w])", re.IGNORECASE), "num"),
    ("Nr.", re.compile(r"\s*,?\s*(?:Nrn?\.|Nr\b|Nummer|Nummern)(?![\w])", re.IGNORECASE), "num"),
    ("Ziff.", re.compile(r"\s*,?\s*(?:Ziff\.|Ziffer|Ziffern)(?![\w])", re.IGNORECASE), "num"),
    (
        "lit.",
        re.compile(r"\s*,?\s*(?:lit\.?|Buchst\.|Buchstabe|Buchstaben)(?![\w])", re.IGNORECASE),
        "letter",
    ),
    ("Alt.", re.compile(r"\s*,?\s*(?:Alt\.|Alternative|Var\.|Variante)(?![\w])", re.IGNORECASE), "num"),
)
_VALUE = {
    "num": re.compile(r"\s*(\d{1,3}[a-z]?)(?![\w])"),
    "letter": re.compile(r"\s*([a-z]{1,2})(?![\w])"),
}
_LIST_JOIN = re.compile(r"\s*(,|und|oder|sowie|bis|u\.)(?=\s*\d|\s+[a-z]{1,2}\b)")
_FOLLOWING = re.compile(r"\s*ff?\.")
_ARTICLE = re.compile(r"\s+(?:des|der)(?=\s)")
_LAW_TOKEN = re.compile(r"\s+([A-Za-zÄÖÜäöü][A-Za-zÄÖÜäöüß]{0,14}(?:-[A-Za-zÄÖÜäöüß]{1,12})?)(?![\w-])")
_SGB_BOOK = re.compile(r"\s+([IVX]{1,4}|\d{1,2})(?![\w])")
_REGION = re.compile(r"(?:\s+|-)([A-Za-z]{2,3})(?![\w])")
_EU_REGULATION = re.compile(r"\s+(?:der\s+)?Verordnung\s*\(EU\)\s*(?:Nr\.\s*)?(\d{4}/\d{1,4})")
_AMENDING_ACT = re.compile(r"\s+G\s+v\.")
_CONNECTOR = re.compile(
    r"(?:\s|,|\bund\b|\boder\b|\bsowie\b|\bbzw\.|\bi\.\s?V\.\s?m\.|\biVm\b|\bin\s+Verbindung\s+mit\b|\bdie\b|\bden\b)*",
)


@dataclass(frozen=True)
class _Reference:
    start: int
    end: int
    prefix: str
    items: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]
    law: str | None

    def expanded(self, law: str | None) -> list[str]:
        refs: list[str] = []
        for number, parts in self.items:
            combos = itertools.product(*[[(name, value) for value in values] for name, values in parts])
            for combo in combos:
                text = " ".join([self.prefix, number, *(f"{name} {value}" for name, value in combo)])
                refs.append(f"{text} {law}" if law else text)
        return refs


def extract_legal_refs(text: str) -> list[str]:
    """The legal references in `text`, canonical, de-duplicated, in order of first occurrence."""
    return _dedupe(_resolve(_scan(text, lenient=False), text))


def normalise_legal_ref(ref: str) -> str:
    """A reference as a user types it ("§3 abs 2 ozg") in canonical form ("§ 3 Abs. 2 OZG").

    Law abbreviations may be typed in lower case when they are in the table of known laws. Several references
    are joined with "; "; text without any reference comes back with its whitespace collapsed.
    """
    refs = _dedupe(_resolve(_scan(ref, lenient=True), ref))
    return "; ".join(refs) if refs else " ".join(ref.split())


def _dedupe(refs: list[str]) -> list[str]:
    return list(dict.fromkeys(refs))


def _resolve(found: list[_Reference], text: str) -> list[str]:
    refs: list[str] = []
    for index, reference in enumerate(found):
        law = reference.law
        if law is None:
            law = _chained_law(found, index, text)
        refs.extend(reference.expanded(law))
    return refs


def _chained_law(found: list[_Reference], index: int, text: str) -> str | None:
    for current, following in itertools.pairwise(found[index:]):
        if _CONNECTOR.fullmatch(text[current.end : following.start]) is None:
            return None
        if following.law is not None:
            return following.law
    return None


def _scan(text: str, *, lenient: bool) -> list[_Reference]:
    prefix_pattern = _PREFIX_LENIENT if lenient else _PREFIX_STRICT
    found: list[_Reference] = []
    position = 0
    while match := prefix_pattern.search(text, position):
        reference = _parse(text, match, lenient=lenient)
        if reference is None:
            position = match.end()
            continue
        found.append(reference)
        position = reference.end
    return found


def _parse(text: str, match: re.Match[str], *, lenient: bool) -> _Reference | None:
    raw_prefix = match.group(0)
    prefix = "§" if raw_prefix.startswith(("§", "P", "p")) else "Art."
    plural = raw_prefix in ("§§", "Artt.") or raw_prefix.casefold().endswith("en")
    position = match.end()
    items: list[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = []
    while True:
        number = _NUMBER.match(text, position)
        if number is None:
            break
        position = number.end()
        parts, position = _parse_parts(text, position)
        items.append((number.group(1).replace(" ", ""), parts))
        if not plural:
            break
        joiner = _LIST_JOIN.match(text, position)
        if joiner is None:
            break
        following = _NUMBER.match(text, joiner.end())
        if joiner.group(1) == "bis" and following is not None:
            items.extend((n, ()) for n in _range_between(items[-1][0], following.group(1))[:-1])
        position = joiner.end()
    if not items:
        return None
    following = _FOLLOWING.match(text, position)
    if following:
        position = following.end()
    law, law_end = _parse_law(text, position, lenient=lenient)
    if law is None and _AMENDING_ACT.match(text, position):
        return None
    return _Reference(match.start(), law_end if law else position, prefix, tuple(items), law)


def _parse_parts(text: str, position: int) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], int]:
    parts: list[tuple[str, tuple[str, ...]]] = []
    progressed = True
    while progressed:
        progressed = False
        for name, keyword, kind in _PARTS:
            found = keyword.match(text, position)
            if found is None:
                continue
            values, end = _parse_values(text, found.end(), kind)
            if values:
                parts.append((name, values))
                position = end
                progressed = True
                break
    return tuple(parts), position


def _parse_values(text: str, position: int, kind: str) -> tuple[tuple[str, ...], int]:
    pattern = _VALUE[kind]
    first = pattern.match(text, position)
    if first is None:
        return (), position
    values = [first.group(1).lower() if kind == "letter" else first.group(1)]
    position = first.end()
    while (joiner := _LIST_JOIN.match(text, position)) and (value := pattern.match(text, joiner.end())):
        if joiner.group(1) == "bis" and kind == "num":
            values.extend(_range_between(values[-1], value.group(1))[:-1])
        values.append(value.group(1).lower() if kind == "letter" else value.group(1))
        position = value.end()
    return tuple(values), position


def _range_between(first: str, last: str) -> list[str]:
    """Numbers after `first` up to `last` ("8", "10" → 9, 10); just `last` for "9a bis 9c" or too many."""
    if first.isdigit() and last.isdigit() and 0 < int(last) - int(first) <= _MAX_EXPANSION:
        return [str(n) for n in range(int(first) + 1, int(last) + 1)]
    return [last]


def _parse_law(text: str, position: int, *, lenient: bool) -> tuple[str | None, int]:
    article = _ARTICLE.match(text, position)
    start = article.end() if article else position
    regulation = _EU_REGULATION.match(text, position)
    if regulation and regulation.group(1) in _EU_REGULATIONS:
        return _EU_REGULATIONS[regulation.group(1)], regulation.end()
    token = _LAW_TOKEN.match(text, start)
    if token is None:
        return None, position
    law, region = _split_region(token.group(1))
    canonical = _law_spelling(law, lenient=lenient)
    if canonical is None:
        return None, position
    end = token.end()
    if canonical == "SGB" and (book := _SGB_BOOK.match(text, end)):
        canonical, end = f"SGB {book.group(1)}", book.end()
    if region is None and (suffix := _REGION.match(text, end)):
        region = _region_spelling(suffix.group(1), lenient=lenient)
        end = suffix.end() if region else end
    return (f"{canonical} {region}" if region else canonical), end


def _split_region(token: str) -> tuple[str, str | None]:
    head, _, tail = token.rpartition("-")
    if head and tail in _REGION_SPELLING.values():
        return head, tail
    return token, None


def _region_spelling(token: str, *, lenient: bool) -> str | None:
    if token in _REGIONS:
        return token
    return _REGION_SPELLING.get(token.casefold()) if lenient else None


def _law_spelling(token: str, *, lenient: bool) -> str | None:
    """Official spelling of a law abbreviation, or None when `token` does not look like one."""
    known = _LAW_SPELLING.get(token.casefold())
    if known is not None and (lenient or token[0].isupper() or token == known):
        return known
    if token in _NOT_LAWS or "-" in token or not token[0].isupper():
        return None
    capitals = sum(1 for c in token if c.isupper())
    # German statute abbreviations have two or more capitals and end in one: VwVfG, GemO, BayDSG, KritisV.
    return token if capitals >= 2 and token[-1].isupper() else None
