"""Citation parsing and verification: pure functions.

The model cites sources by number. After generation every citation is checked against the passage it names by
one checker, `check_statement`: a statement and a passage → a typed `Verdict` that says whether the passage
supports the statement and, if not, what is missing. Two rules, both must hold:

- **Facts match whole tokens.** Every number (digits or German number words, "4" = "vier", ordinals typed),
  date ("1. März 2025" = "01.03.2025"; "März 2025" matches any day of that month), amount ("2,5 Mio. Euro" =
  "2.500.000 €"), legal reference (canonical form of `ingest.legal_refs`) and name (acronyms, named bodies such as
  "Bundestag", place and person names after "Stadt"/"Herr"…) of the statement must occur in the passage,
  normalised, as a whole token. A number word never matches by prefix: "vier" is not "vierzigste".
  Numbers used as labels ("(4)", "Abs. 4", "Nr. 4", "§ 4") are references, not quantities: they do not support
  a quantity claim (page 14 of the Grundgesetz has "(4)" but says nothing about four years).
- **Enough of the words.** Long statements keep the share rule: at least `min_support` of their content terms
  occur in the passage. A *short* statement (at most `SHORT_TERMS` content terms) must have every term: with
  "vier Jahre" one shared word is already half, so a share rule accepts any passage that says "Jahre".

`verify` applies the checker to every statement of an answer and every passage it cites; a statement no cited
passage supports is re-attributed to the offered passage that supports it best, if one does.
Numbers that point at no source are reported, never silently dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from ingest.legal_refs import extract_legal_refs

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[A-Za-zÄÖÜäöüß]+(?:-[A-Za-zÄÖÜäöüß]+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ0-9„\"(])")

# Function words that carry no content; statements are compared on the rest.
STOPWORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderen auch auf aus bei beim bin bis
    bist da damit dann das dass dem den denn der des dessen die dies diese diesem diesen dieser dieses
    doch dort du durch ein eine einem einen einer eines er es etwa euch für gegen hat hatte hätte haben
    hier hin hinter ich ihm ihn ihr ihre im in ist ja jede jedem jeden jeder jedes jetzt kann kein keine
    können könnte man mehr mein mit muss müssen nach nicht noch nun nur ob oder ohne schon sehr sein
    seine sich sie sind so soll sollen sollte sowie über um und uns unter vom von vor war waren was weil
    welche welcher welches wenn wer werden wie wieder will wir wird wo wurde wurden zu zum zur zwar
    zwischen the of and laut gemäß bzw sowie werden worden sei seien wäre
    """.split()  # noqa: SIM905
)
# Light verbs, possessives and hedges that a faithful paraphrase adds without the passage saying them
# ("Die Amtszeit beträgt fünf Jahre" for "Das Amt dauert fünf Jahre"); they are not counted as content.
# Bounds ("mindestens 16 GPUs" for "16 GPUs") are among them: the checker matches facts, it does not
# reason about bounds.
LIGHT_WORDS = frozenset(
    """
    beträgt betragen betrug betrugen liegt liegen lag lagen gibt geben gab gaben gilt gelten galt erfolgt
    erfolgen erfolgte insgesamt jeweils rund circa ca ungefähr genau hierbei dabei daher somit demnach
    seinen seiner seinem seines ihren ihrem ihrer ihres unsere unser mindestens höchstens maximal
    knapp fast nahezu bereits fand findet finden statt stattfinden stattgefunden regelt regeln geregelt
    besagt vorgesehen festgelegt
    """.split()  # noqa: SIM905
)

# A statement with at most this many content terms is short: every term must occur in the cited passage.
# 1-2 terms ("vier Jahre"): a share rule passes on one shared common word. 3-4 terms ("Der Bundesrat wählt
# seinen Präsidenten auf ein Jahr" → bundesrat, wählt, präsidenten, jahr): 3/4 occur in Art. 40 (the
# Bundestag's president), 2/4 suffice under the share rule. From 5 terms on paraphrases routinely add a word
# the passage lacks ("Die Wahlperiode des Bundestags beträgt vier Jahre und endet mit dem Zusammentritt …"),
# and the facts, checked as whole tokens regardless of length, carry the distinction.
SHORT_TERMS = 4

# Negation words. A statement that says the opposite of its source shares all its content words with it
# ("Daten nach § 203 StGB dürfen mit KI-Diensten … verarbeitet werden" against "… dürfen nicht …"); the share
# rule cannot see that, so the polarity of the clauses that say the same thing is compared
# (`_polarity_conflict`). Clauses, not sentences: "… ist verpflichtet, … zu eröffnen, es sei denn, … hat
# keinen Zugang …" negates only its exception.
NEGATIONS = frozenset(
    ["nicht", "kein", "keine", "keinen", "keinem", "keiner", "keines", "nie", "niemals", "nichts", "weder"]
)
_CLAUSE = re.compile(r"[,;:()]|\s[–-]\s")
# A sentence of the passage takes part in the comparison when it holds at least this share of the statement's
# content terms (and at least `POLARITY_MIN_TERMS` of them): the sentence says the same thing, positively or
# negatively. Inside it, each clause of the statement is compared with the clauses that share most of its terms.
POLARITY_SHARE = 0.6
POLARITY_MIN_TERMS = 3


# --- Markers -------------------------------------------------------------------------------------------------


def parse_markers(text: str) -> list[int]:
    """All citation numbers in `text`, in order of appearance, de-duplicated: "[1] … [2, 3]" → [1, 2, 3]."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        for number in re.split(r"\s*[,;]\s*", match.group(1)):
            n = int(number)
            if n not in seen:
                seen.append(n)
    return seen


def strip_markers(text: str) -> str:
    return re.sub(r"\s*" + _MARKER.pattern, "", text).strip()


# A period after these ends no sentence: a day or an ordinal ("31. Dezember", "2. Lesung") or an abbreviation,
# among them one lower-case letter ("e. V.", "o. g.", "i. d. R."; found splitting "Stadtjugendausschuss e. V.").
_NO_SENTENCE_END = re.compile(
    r"(?:\b\d{1,2}|\b(?:Nr|Abs|Art|Dr|Prof|ca|bzw|vgl|gem|Ziff|lit|Bd|Jan|Feb|Apr|Aug|Sept|Okt|Nov|Dez|"
    r"S|z\.\s?B|u\.\s?a|d\.\s?h|i\.\s?V\.\s?m|St|Mio|Mrd|Tsd|ggf|inkl|evtl|bzgl|zzgl|sog|Str|"
    r"e\.\s?V|[a-zäöüß]))\.$"
)


def split_statements(text: str) -> list[str]:
    """Sentences of an answer; a date such as "31. Dezember" or "Art. 39" does not end one."""
    text = text.strip()
    return [text[start:end] for start, end in sentence_spans(text)]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text[start:end]`, as offsets into `text`, without surrounding
    whitespace; the same sentence rule as `split_statements`."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    at = start
    for boundary in _SENTENCE.finditer(text, start, end):
        if _NO_SENTENCE_END.search(text[at : boundary.start()]):
            continue
        spans.append((at, boundary.start()))
        at = boundary.end()
    spans.append((at, end))
    out: list[tuple[int, int]] = []
    for a, b in spans:
        piece = text[a:b]
        stripped = piece.strip()
        if stripped:
            a += len(piece) - len(piece.lstrip())
            out.append((a, a + len(stripped)))
    return out


def content_terms(text: str) -> set[str]:
    """Lower-cased content words, crudely stemmed to their first 6 letters; numbers kept whole.

    Retrieval uses this for the question's term overlap; the citation checker uses `statement_terms`.
    """
    terms: set[str] = set()
    for token in _WORD.findall(text.lower()):
        if token[0].isdigit():
            terms.add(token.replace(",", ".").rstrip("."))
        elif len(token) >= 3 and token not in STOPWORDS:
            terms.add(token[:6])
    return terms


def content_words(text: str) -> list[str]:
    """The content words of `text` as written, one per lemma, in order: function and light words dropped.
    Unlike the 6-letter stems of `content_terms`, "Energieeffizienz" and "Energieeffizienzgesetz" stay two
    words; match them against a passage with `Evidence.has_word`."""
    words: dict[str, str] = {}
    for token in _LETTERS.findall(text):
        if len(token) < 3 or _is_stopword(token) or _fold(token) in LIGHT_WORDS:
            continue
        words.setdefault(_lemma(token), token)
    return list(words.values())


# --- Normalisation -------------------------------------------------------------------------------------------

_INFLECTIONS = ("es", "en", "em", "er", "e", "n", "s")


def _fold(token: str) -> str:
    return unicodedata.normalize("NFC", token).casefold().replace("ß", "ss")


# Strong verbs of minutes whose past forms change their vowel: a lemma of the family, so "beschloss" meets
# "Beschluss" and "entschied" meets "Entscheidung" (a derived word of "entscheid", see `Evidence.has_word`).
_VOWEL_CHANGES = {
    **dict.fromkeys(
        [
            "beschliessen",
            "beschliesst",
            "beschliesse",
            "beschloss",
            "beschlossen",
            "beschlossene",
            "beschlossenen",
            "beschlossener",
            "beschlossenes",
            "beschluss",
            "beschlusses",
            "beschlüsse",
            "beschlüssen",
        ],
        "beschluss",
    ),
    **dict.fromkeys(["entscheiden", "entscheidet", "entschied", "entschieden", "entschiedene"], "entscheid"),
}


def _lemma(token: str) -> str:
    """Case-folded token without one inflection ending: "Bundestages" → "bundestag", "Jahre" → "jahr"."""
    word = _fold(token)
    if word in _VOWEL_CHANGES:
        return _VOWEL_CHANGES[word]
    for ending in _INFLECTIONS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def _stem(token: str) -> str:
    """The share rule's crude stem: the lemma cut to 6 letters ("gewählt" and "gewählten" meet)."""
    return _lemma(token)[:6]


# --- Numbers -------------------------------------------------------------------------------------------------

_UNITS = {"zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9}
_TEENS = {
    "zehn": 10, "elf": 11, "zwölf": 12, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15, "sechzehn": 16,
    "siebzehn": 17, "achtzehn": 18, "neunzehn": 19,
}  # fmt: skip
_TENS = {
    "zwanzig": 20, "dreissig": 30, "vierzig": 40, "fünfzig": 50, "sechzig": 60, "siebzig": 70, "achtzig": 80,
    "neunzig": 90,
}  # fmt: skip
_ORDINAL_STEMS = {"erst": 1, "zweit": 2, "dritt": 3, "siebt": 7, "siebent": 7, "acht": 8}
_ORDINAL_ENDINGS = ("en", "er", "em", "es", "e")
_SCALES = {
    "tausend": 1_000, "tsd": 1_000, "mio": 1_000_000, "million": 1_000_000, "millionen": 1_000_000,
    "mrd": 1_000_000_000, "milliarde": 1_000_000_000, "milliarden": 1_000_000_000,
}  # fmt: skip


def _below_hundred(word: str, *, alone: bool) -> int | None:
    if word in _TEENS:
        return _TEENS[word]
    if word in _TENS:
        return _TENS[word]
    if word in _UNITS:
        return _UNITS[word]
    if word == "eins" or (word == "ein" and not alone):
        return 1
    head, sep, tail = word.partition("und")
    if sep and tail in _TENS:
        unit = 1 if head == "ein" else _UNITS.get(head)
        return unit + _TENS[tail] if unit else None
    return None


def _cardinal_word(word: str) -> int | None:
    """Value of a German cardinal written as one word ("vier", "sechsundvierzig", "zweihundert"), else None.

    "ein"/"eine" alone are articles, not numbers; inside a compound ("einhundert") they count.
    """
    word = _fold(word)
    total = 0
    rest = word
    for marker, factor in (("tausend", 1000), ("hundert", 100)):
        head, sep, tail = rest.partition(marker)
        if sep:
            multiplier = 1 if head in ("", "ein") else _below_hundred(head, alone=False)
            if multiplier is None:
                return None
            total += multiplier * factor
            rest = tail
    if not rest:
        return total or None
    value = _below_hundred(rest, alone=rest == word)
    return None if value is None else total + value


def _ordinal_word(word: str) -> int | None:
    """Value of a German ordinal word ("vierte", "achtzehnten", "vierzigste", "ersten"), else None."""
    word = _fold(word)
    for ending in _ORDINAL_ENDINGS:
        if not word.endswith(ending):
            continue
        base = word[: -len(ending)]
        if base in _ORDINAL_STEMS:
            return _ORDINAL_STEMS[base]
        if base.endswith("st") and (value := _cardinal_word(base[:-2])) is not None and value >= 20:
            return value
        if base.endswith("t") and (value := _cardinal_word(base[:-1])) is not None and 2 <= value < 20:
            return value
    return None


def _decimal(text: str) -> Decimal | None:
    """German-formatted number: "2.500.000" → 2500000, "2,5" → 2.5, "1.000,50" → 1000.50."""
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?", text):
        text = text.replace(".", "")
    try:
        return Decimal(text.replace(",", ".")).normalize()
    except InvalidOperation:
        return None


def _key(value: Decimal) -> str:
    return format(value.normalize(), "f")


# --- Facts ---------------------------------------------------------------------------------------------------


class FactKind(StrEnum):
    NUMBER = "number"
    DATE = "date"
    AMOUNT = "amount"
    LEGAL_REF = "legal_ref"
    NAME = "name"
    WORD = "word"


_KIND_LABEL = {
    FactKind.NUMBER: "Zahl",
    FactKind.DATE: "Datum",
    FactKind.AMOUNT: "Betrag",
    FactKind.LEGAL_REF: "Fundstelle",
    FactKind.NAME: "Name",
    FactKind.WORD: "Wort",
}


@dataclass(frozen=True)
class Fact:
    """One checkable item of a statement: `text` as written, `key` the normalised form that is compared.

    Keys: number "4" (ordinal "4."), date "2025-03-01" / "2025-03" / "--03-01", amount "2500000 EUR",
    legal reference in canonical form, name and word as lemma / stem.
    """

    kind: FactKind
    text: str
    key: str

    def describe(self) -> str:
        return f"{_KIND_LABEL[self.kind]} „{self.text}“"


@dataclass(frozen=True)
class _Number:
    value: str
    ordinal: bool | None  # None: digits, which read either way ("4." ends many sentences)
    unit: str | None = None  # lemma of the noun counted: "vier Jahre" → "jahr"; "40 %" → "prozent"
    # Without a unit: the nouns shortly after ("des fünften auf die Verkündung folgenden Kalenderjahres").
    nearby: tuple[str, ...] = ()

    def matches(self, other: _Number) -> bool:
        """Does `other` (in a passage) support this number (of a statement)? Same value; ordinal is not
        cardinal when both are words ("vier" is not "vierte"); when this counts a noun, `other` counts the
        same one, a compound counting as its last part ("Lebensjahr" counts years). "Länder mit mehr als
        zwei Millionen Einwohnern haben vier" does not say "vier Jahre"."""
        if self.value != other.value:
            return False
        if self.ordinal is not None and other.ordinal is not None and self.ordinal != other.ordinal:
            return False
        if self.unit is None:
            return True
        units = (other.unit,) if other.unit else other.nearby
        return any(self.unit.endswith(unit) or unit.endswith(self.unit) for unit in units)


_MONTHS = {
    "januar": 1, "jan": 1, "jänner": 1, "februar": 2, "feb": 2, "märz": 3, "mär": 3, "mrz": 3, "april": 4,
    "apr": 4, "mai": 5, "juni": 6, "jun": 6, "juli": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sep": 9, "sept": 9, "oktober": 10, "okt": 10, "november": 11, "nov": 11, "dezember": 12, "dez": 12,
}  # fmt: skip
_MONTH = r"(Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember|" \
    r"Jan\.|Feb\.|Mär\.|Mrz\.|Apr\.|Jun\.|Jul\.|Aug\.|Sept?\.|Okt\.|Nov\.|Dez\.)"  # fmt: skip
_DATE_PATTERNS = (
    # 1. März 2025, 1. März
    re.compile(r"(?<![\w.])(\d{1,2})\.\s*" + _MONTH + r"(?:\s+(\d{4}))?(?![\w])"),
    # 01.03.2025, 1.3.25
    re.compile(r"(?<![\w.])(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})(?![\w])"),
    # 2025-03-01
    re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w])"),
    # März 2025
    re.compile(r"(?<![\w])" + _MONTH + r"\s+(\d{4})(?![\w])"),
)
_NUMERAL = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?"
_NUMBER_WORD = r"[A-Za-zäöüß]+"
_SCALE = r"(?:Tsd\.|Tausend|Mio\.|Millionen|Million|Mrd\.|Milliarden|Milliarde)"
_CURRENCY = r"(?:Euro|EUR|€)"
_AMOUNT_PATTERNS = (
    re.compile(
        r"(?<![\w.,])("
        + _NUMERAL
        + r"|"
        + _NUMBER_WORD
        + r")\s*("
        + _SCALE
        + r")?\s*"
        + _CURRENCY
        + r"(?![\w])"
    ),
    re.compile(r"(?<![\w])" + _CURRENCY + r"\s*(" + _NUMERAL + r")\s*(" + _SCALE + r")?(?![\w])"),
)
_SCALED = re.compile(r"(?<![\w.,])(" + _NUMERAL + r"|" + _NUMBER_WORD + r")\s+(" + _SCALE + r")(?![\w])")
# Numbers that label rather than count: "(4)", "Abs. 4", "Nr. 4", "§ 4", "Art 39", "TOP 3", "Seite 4".
_LABEL = re.compile(
    r"\(\d{1,2}[a-z]?\)|(?<![\w])(?:§§?|Artt?\.?|Artikels?|Abs\.?|Abs[aä]tz(?:es|en|e)?|S[aä]tz(?:es|en|e)?|S\.|"
    r"Nrn?\.?|Nummern?|Ziff\.?|Ziffern?|lit\.|TOP|Top|Seiten?|Anlagen?|Kapitels?|Kap\.|Punkte?s?)"
    r"\s*\d+[a-z]?(?:\s*(?:,|und|bis|-)\s*\d+[a-z]?)*(?![\d])"
)
_NUMERAL_TOKEN = re.compile(r"(?<![\w,.])(" + _NUMERAL + r")(\.?)(?![\d])")
_LETTERS = re.compile(r"[A-Za-zÄÖÜäöüß]+(?:-[A-Za-zÄÖÜäöüß]+)*")
_LEGAL_REF = re.compile(
    r"^(§|Art\.) (\S+)((?: (?:UAbs\.|Abs\.|Hs\.|S\.|Nr\.|Ziff\.|lit\.|Alt\.) \S+)*)(?: (.+))?$"
)

# Heads of named bodies: a capitalised word ending in one of these is a name that must match as a whole
# ("Bundestag" is not "Bundesrat", though both stem to "bundes").
_BODY_HEADS = (
    "bundestag", "landtag", "kreistag", "bundesrat", "gemeinderat", "stadtrat", "kreisrat", "beirat",
    "planungsrat", "personalrat", "betriebsrat", "aufsichtsrat", "verwaltungsrat", "ältestenrat",
    "ortschaftsrat", "bezirksrat", "ministerrat", "ethikrat", "regierung", "ministerium", "präsident",
    "präsidentin", "kanzler", "kanzlerin",
    "versammlung", "gericht", "amt", "behörde", "kommission", "parlament", "kammer", "verband", "senat",
    "ausschuss", "bürgermeister", "bürgermeisterin", "minister", "ministerin", "verwaltung", "landkreis",
    "bundeswehr", "beauftragte", "beauftragter",
)  # fmt: skip
# Words with a body head ending that name no body.
_NOT_BODIES = frozenset(
    "beamt beamte gesamt amt".split()  # noqa: SIM905
)
# After these words a capitalised word is a name: "Stadt Karlsruhe", "Herr Müller", "Landkreis Göppingen".
_NAME_CUES = frozenset(
    "herr herrn frau dr prof stadt gemeinde landkreis bundesland".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class _LegalRef:
    prefix: str
    number: str
    parts: dict[str, str]
    law: str | None

    @classmethod
    def parse(cls, canonical: str) -> _LegalRef | None:
        match = _LEGAL_REF.match(canonical)
        if match is None:
            return None
        words = match.group(3).split()
        parts = dict(zip(words[::2], words[1::2], strict=True))
        return cls(match.group(1), match.group(2), parts, match.group(4))

    def matches(self, other: _LegalRef) -> bool:
        """Same § / Art. and number, no contradicting part; a bare reference (in a statute: its own
        articles, "Art 39" on a page of the GG) matches any law."""
        if (self.prefix, self.number) != (other.prefix, other.number):
            return False
        if self.law and other.law and self.law != other.law:
            return False
        return all(other.parts.get(name, value) == value for name, value in self.parts.items())


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _number_value(token: str) -> _Number | None:
    if token[0].isdigit():
        value = _decimal(token)
        return None if value is None else _Number(_key(value), None)
    if (cardinal := _cardinal_word(token)) is not None:
        return _Number(str(cardinal), False)
    if (ordinal := _ordinal_word(token)) is not None:
        return _Number(str(ordinal), True)
    return None


def _scaled(number: str, scale: str | None) -> str | None:
    base = _number_value(number)
    if base is None:
        return None
    value = Decimal(base.value)
    if scale:
        value *= _SCALES[_fold(scale).rstrip(".")]
    return _key(value)


def _dates(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, key, as written) of each date; keys "YYYY-MM-DD", "YYYY-MM" or "--MM-DD" (no year)."""
    found: list[tuple[int, int, str, str]] = []
    taken: list[tuple[int, int]] = []
    for index, pattern in enumerate(_DATE_PATTERNS):
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            if index == 0:
                day, month, year = int(m.group(1)), _MONTHS[_fold(m.group(2)).rstrip(".")], m.group(3)
            elif index == 1:
                day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
                if len(year) == 2:
                    year = ("20" if int(year) < 70 else "19") + year
            elif index == 2:
                year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
            else:
                day, month, year = 0, _MONTHS[_fold(m.group(1)).rstrip(".")], m.group(2)
            if not 1 <= month <= 12 or day > 31:
                continue
            if day == 0:
                key = f"{year}-{month:02d}"
            else:
                key = f"{year}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"
            found.append((m.start(), m.end(), key, m.group(0)))
            taken.append((m.start(), m.end()))
    return found


def _amounts(text: str) -> list[tuple[int, int, str, str]]:
    found: list[tuple[int, int, str, str]] = []
    for pattern in _AMOUNT_PATTERNS:
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for s, e, _, _ in found):
                continue
            value = _scaled(m.group(1), m.group(2))
            if value is not None:
                found.append((m.start(), m.end(), f"{value} EUR", m.group(0)))
    return found


# "ein"/"eine" count only before a unit of time or a fraction ("auf ein Jahr", "ein Drittel"); elsewhere
# they are articles.
_ONE = re.compile(
    r"(?<![\w])(?:ein|eine|einen|einem|einer|eines)\s+(?=(?:Jahr|Jahre|Jahres|Monat|Monats|Woche|Tag|Tage|Tages|"
    r"Stunde|Minute|Sekunde|Drittel|Viertel|Fünftel|Zehntel|Mal)\b)",
    re.IGNORECASE,
)
_UNIT = re.compile(r"\s*(%|[A-ZÄÖÜ][A-Za-zÄÖÜäöüß]+(?:-[A-Za-zÄÖÜäöüß]+)*)")


def _unit_after(text: str, end: int) -> str | None:
    match = _UNIT.match(text, end)
    if match is None:
        return None
    word = match.group(1)
    if word == "%" or _fold(word) == "prozent":
        return "prozent"
    if _is_stopword(word) or _number_value(word) is not None or _fold(word).rstrip(".") in _SCALES:
        return None
    return _lemma(word.rsplit("-", 1)[-1])


def _numbers(text: str) -> list[tuple[str, _Number]]:
    """(as written, value) of every quantity in `text`; scaled numbers ("2,5 Millionen") by their value.

    A number without a noun of its own takes the unit of the number that follows it closely: "frühestens
    sechsundvierzig, spätestens achtundvierzig Monate" counts months twice.
    """
    found: list[tuple[int, str, _Number]] = []
    spans: list[tuple[int, int]] = []
    for m in _SCALED.finditer(text):
        scaled = _scaled(m.group(1), m.group(2))
        if scaled is not None:
            found.append((m.start(), m.group(0), _Number(scaled, None, _unit_after(text, m.end()))))
            spans.append((m.start(), m.end()))
    rest = _blank(text, spans)
    for m in _NUMERAL_TOKEN.finditer(rest):
        value = _decimal(m.group(1))
        if value is not None:
            found.append((m.start(), m.group(0), _Number(_key(value), None, _unit_after(rest, m.end()))))
    for m in _LETTERS.finditer(rest):
        head, hyphen, _ = m.group(0).partition("-")
        if (number := _number_value(head)) is None:
            continue
        unit = None if hyphen else _unit_after(rest, m.end())  # "sechs-malige": a number, no noun counted
        found.append((m.start(), head, replace(number, unit=unit)))
    for m in _ONE.finditer(rest):
        found.append((m.start(), m.group(0).strip(), _Number("1", False, _unit_after(rest, m.end()))))
    found.sort(key=lambda item: item[0])
    for i in range(len(found) - 2, -1, -1):
        start, written, number = found[i]
        following_start, _, following = found[i + 1]
        between = text[start + len(written) : following_start]
        if number.unit is None and following.unit and _ELLIPSIS.fullmatch(between):
            found[i] = (start, written, replace(number, unit=following.unit))
    for i, (start, written, number) in enumerate(found):
        if number.unit is None:
            after = re.split(r"[.;:!?()]", text[start + len(written) : start + len(written) + _NEARBY_CHARS])[
                0
            ]
            nouns = [w for w in _LETTERS.findall(after) if w[0].isupper() and not _is_stopword(w)]
            nearby = tuple(_lemma(w.rsplit("-", 1)[-1]) for w in nouns[:_NEARBY_NOUNS])
            found[i] = (start, written, replace(number, nearby=nearby))
    return [(written, number) for _, written, number in found]


_NEARBY_CHARS = 80
_NEARBY_NOUNS = 3


# What may stand between two numbers that share one noun: ", spätestens", " bis ", " oder ", " und ".
_ELLIPSIS = re.compile(r"\s*(?:,|bis|oder|und|-|–)?\s*(?:[a-zäöüß]+\s+){0,2}")


def _is_acronym(token: str) -> bool:
    return sum(c.isupper() for c in token) >= 2 or bool(re.search(r"[a-zäöü][A-ZÄÖÜ]", token))


def _is_body(token: str) -> bool:
    lemma = _lemma(token)
    if not token[0].isupper() or lemma in _NOT_BODIES or _fold(token) in _NOT_BODIES:
        return False
    for head in _BODY_HEADS:
        if lemma.endswith(head) or _fold(token).endswith(head):
            stem_length = len(lemma) - len(head)
            return stem_length == 0 or stem_length >= 3
    return False


def _names(text: str, law_words: set[str]) -> list[tuple[str, str]]:
    """(as written, lemma) of the names in `text`: acronyms, named bodies, capitalised words after a cue
    ("Stadt Karlsruhe", "Herr Müller") and runs of capitalised words inside a sentence ("Denver Broncos",
    "Gemeinsame Ausschuss"), which German writes only for names: nouns follow an article or adjective."""
    words = list(_LETTERS.finditer(text))
    found: list[tuple[str, str]] = []
    for i, match in enumerate(words):
        token = match.group(0)
        if token in law_words or len(token) < 2 or _is_stopword(token):
            continue
        previous = words[i - 1] if i > 0 else None
        following = words[i + 1] if i + 1 < len(words) else None
        cued = previous is not None and _fold(previous.group(0)) in _NAME_CUES and token[0].isupper()
        if (
            _is_acronym(token)
            or _is_body(token)
            or cued
            or _in_capitalised_run(text, previous, match, following)
        ):
            found.append((token, _lemma(token)))
    return found


def _is_stopword(token: str) -> bool:
    return token.lower() in STOPWORDS or _fold(token) in STOPWORDS


def _capitalised_word(match: re.Match[str] | None) -> bool:
    return match is not None and match.group(0)[0].isupper() and not _is_stopword(match.group(0))


def _sentence_initial(text: str, match: re.Match[str]) -> bool:
    before = text[: match.start()].rstrip(' „"(')
    return not before or before[-1] in ".!?:;\n"


def _in_capitalised_run(
    text: str, previous: re.Match[str] | None, match: re.Match[str], following: re.Match[str] | None
) -> bool:
    def adjacent(a: re.Match[str], b: re.Match[str]) -> bool:
        return text[a.end() : b.start()].strip() == ""

    if not _capitalised_word(match):
        return False
    with_previous = (
        previous is not None
        and _capitalised_word(previous)
        and adjacent(previous, match)
        and not _sentence_initial(text, previous)
    )
    with_following = (
        following is not None
        and _capitalised_word(following)
        and adjacent(match, following)
        and not _sentence_initial(text, match)
    )
    return with_previous or with_following


def statement_terms(text: str) -> dict[str, str]:
    """The content terms of `text` for the word rules: key → as written. Words by stem, numbers by value
    ("#4"); labels ("Art. 39", "Abs. 2", "(3)") and law abbreviations are left to the legal-reference rule."""
    laws = {word for ref in extract_legal_refs(text) for word in ref.split()}
    text = _blank(text, [m.span() for m in _LABEL.finditer(text)])
    terms: dict[str, str] = {}
    for written, number in _numbers(text):
        terms.setdefault(f"#{number.value}", written)
    for token in _LETTERS.findall(text):
        if len(token) < 3 or token in laws or _is_stopword(token) or _fold(token) in LIGHT_WORDS:
            continue
        if _number_value(token) is None:
            terms.setdefault(_stem(token), token)
    return terms


@dataclass(frozen=True)
class Evidence:
    """A passage analysed once for checking many statements against it."""

    text: str
    terms: frozenset[str]
    numbers: frozenset[_Number]
    dates: frozenset[str]
    amounts: frozenset[str]
    legal_refs: tuple[_LegalRef, ...]
    lemmas: frozenset[str]
    # Per sentence: its content-term stems and its clauses (stems, negated?) — see `_polarity_conflict`.
    sentences: tuple[tuple[frozenset[str], tuple[_Clause, ...]], ...] = ()

    @classmethod
    def of(cls, passage: str) -> Evidence:
        quantities = _blank(passage, [m.span() for m in _LABEL.finditer(passage)])
        dates: set[str] = set()
        for _, _, key, _ in _dates(passage):
            dates.add(key)
            if not key.startswith("--"):
                dates.add(key[:7])  # "März 2025" is supported by any day of it
            if len(key) == 10:
                dates.add("--" + key[5:])  # "1. März" by 1 March of any year
        numbers = {number for _, number in _numbers(quantities)}
        lemmas: set[str] = set()
        for token in _LETTERS.findall(passage):
            # "Schwarz-Gelb-Färbung" holds "Schwarz-Gelb", "Gelb-Färbung", "Schwarz", … as written names.
            parts = token.split("-")
            lemmas.update(
                _lemma("-".join(parts[i:j])) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)
            )
        refs = (_LegalRef.parse(ref) for ref in extract_legal_refs(passage))
        terms = set(statement_terms(passage))
        # Parts of compounds written with a hyphen are words of the passage too ("GPU-Cluster" → "Cluster").
        terms.update(
            _stem(part) for token in _LETTERS.findall(passage) if "-" in token for part in token.split("-")
        )
        return cls(
            text=passage,
            terms=frozenset(terms),
            numbers=frozenset(numbers),
            dates=frozenset(dates),
            amounts=frozenset(key for _, _, key, _ in _amounts(passage)),
            legal_refs=tuple(ref for ref in refs if ref is not None),
            lemmas=frozenset(lemmas),
            sentences=tuple(
                (frozenset(statement_terms(passage[a:b])), _clauses(passage[a:b]))
                for a, b in sentence_spans(passage)
            ),
        )

    def has_term(self, key: str, written: str) -> bool:
        """The share rule: a content term by its crude stem, or as a compound's head (`has_word`)."""
        return key in self.terms or (not key.startswith("#") and self.has_word(written))

    def has_word(self, written: str) -> bool:
        """A word by its lemma, as the last part of a compound of the passage (German compounds end in their
        head: "Angriff" in "Überraschungsangriff", "Budget" in "Pilotbudget"), or as the base of a derived
        word ("Vorsitz" in "Vorsitzender", "vorberaten" in "Vorberatungen"). Stricter than the 6-letter
        stem, which lets "Kohlenmonoxid" pass for "Kohlenstoff"."""
        lemma = _lemma(written)
        if lemma in self.lemmas:
            return True
        return len(lemma) >= 4 and any(
            word.endswith(lemma) or (len(lemma) >= 5 and word.startswith(lemma)) for word in self.lemmas
        )

    def has_number(self, number: _Number) -> bool:
        return any(number.matches(other) for other in self.numbers)


@dataclass(frozen=True)
class Claim:
    """A statement analysed once: its facts and its content terms."""

    text: str
    facts: tuple[Fact, ...]
    numbers: tuple[tuple[Fact, _Number], ...]
    terms: dict[str, str]

    @property
    def short(self) -> bool:
        return len(self.terms) <= SHORT_TERMS

    @classmethod
    def of(cls, statement: str) -> Claim:
        text = strip_markers(statement)
        refs = extract_legal_refs(text)
        facts: list[Fact] = [Fact(FactKind.LEGAL_REF, ref, ref) for ref in refs]
        law_words = {word for ref in refs for word in ref.split()}
        dates, amounts = _dates(text), _amounts(text)
        facts += [Fact(FactKind.DATE, written, key) for _, _, key, written in dates]
        facts += [Fact(FactKind.AMOUNT, written, key) for _, _, key, written in amounts]
        rest = _blank(text, [(s, e) for s, e, _, _ in dates + amounts])
        quantities = _blank(rest, [m.span() for m in _LABEL.finditer(rest)])
        numbers: list[tuple[Fact, _Number]] = []
        for written, number in _numbers(quantities):
            key = number.value + ("." if number.ordinal else "") + (f" {number.unit}" if number.unit else "")
            numbers.append((Fact(FactKind.NUMBER, written, key), number))
        names = [Fact(FactKind.NAME, written, lemma) for written, lemma in _names(text, law_words)]
        return cls(
            text=text,
            facts=tuple(_unique(facts + [fact for fact, _ in numbers] + names)),
            numbers=tuple(numbers),
            terms=statement_terms(rest),
        )


def _unique(facts: list[Fact]) -> list[Fact]:
    return list({(fact.kind, fact.key): fact for fact in facts}.values())


# --- Verdicts ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether one passage supports one statement, and why not.

    `missing` lists the statement's facts the passage lacks (numbers, dates, amounts, legal references, names)
    and, for a short statement, its words. `share` is the share of content terms found; `required_share` is
    1.0 for a short statement and `min_support` otherwise.
    """

    supported: bool
    share: float
    required_share: float
    short: bool
    missing: tuple[Fact, ...] = ()
    # The passage's sentences that say the same thing have the opposite polarity ("nicht", "kein").
    contradicted: bool = False
    # Words the statement takes over from the question that the passage lacks, when too few of them are in it:
    # the passage names the answer's entity but not what was asked about ("Bürgermeister von Köln ist X").
    unasked: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """German, for people: what the passage does not say."""
        reasons = [f"{fact.describe()} fehlt in der Quelle" for fact in self.missing]
        if self.contradicted:
            reasons.append("die Quelle sagt das Gegenteil (Verneinung)")
        if self.unasked:
            words = ", ".join(f"„{w}“" for w in self.unasked)
            reasons.append(
                f"{words} aus der Frage {'fehlt' if len(self.unasked) == 1 else 'fehlen'} in der Quelle"
            )
        if (
            self.share < self.required_share
            and not self.missing
            and not self.contradicted
            and not self.unasked
        ):
            reasons.append(
                f"nur {self.share:.0%} der Inhaltswörter in der Quelle (nötig: {self.required_share:.0%})"
            )
        return tuple(reasons)


def check_statement(
    statement: str | Claim,
    passage: str | Evidence,
    *,
    min_support: float,
    asked: frozenset[str] = frozenset(),
) -> Verdict:
    """Does `passage` support `statement`? Facts must match whole tokens; words by the share rule.

    `asked` holds the content-term keys of the question (`question_terms`). The words a statement takes over
    from the question are what it claims the answer is about; of those, the passage must contain the share
    `min_support` too, else it names the answer without what was asked ("Bürgermeister von Köln ist
    Dr. Lüdemann" from a passage that lists Dr. Lüdemann as chair of a working group)."""
    claim = statement if isinstance(statement, Claim) else Claim.of(statement)
    evidence = passage if isinstance(passage, Evidence) else Evidence.of(passage)
    missing: list[Fact] = []
    for fact in claim.facts:
        if fact.kind is not FactKind.NUMBER and not _fact_found(fact, evidence):
            missing.append(fact)
    for fact, number in claim.numbers:
        if not evidence.has_number(number):
            missing.append(fact)
    found = [key for key, written in claim.terms.items() if evidence.has_term(key, written)]
    share = len(found) / len(claim.terms) if claim.terms else 1.0
    required = 1.0 if claim.short else min_support
    if claim.short:
        missing += [
            Fact(FactKind.WORD, written, key)
            for key, written in claim.terms.items()
            if not key.startswith("#") and not evidence.has_word(written)
        ]
    restated = [(key, written) for key, written in claim.terms.items() if key in asked]
    lacking = [written for key, written in restated if not evidence.has_term(key, written)]
    unasked = tuple(lacking) if restated and 1 - len(lacking) / len(restated) < min_support else ()
    supported = not missing and share >= required and not unasked
    contradicted = supported and _polarity_conflict(claim, evidence)
    return Verdict(
        supported and not contradicted,
        share,
        required,
        claim.short,
        tuple(_unique(missing)),
        contradicted,
        unasked,
    )


def question_terms(question: str) -> frozenset[str]:
    """The question's content-term keys that a statement restating them must find in its passage (words only:
    numbers are facts and checked as such)."""
    return frozenset(key for key in statement_terms(question) if not key.startswith("#"))


_Clause = tuple[frozenset[str], bool]


def _clauses(text: str) -> tuple[_Clause, ...]:
    """The clauses of a sentence (split at commas, semicolons, colons, brackets, dashes): content-term stems
    and whether a negation word stands in the clause."""
    out = []
    for piece in _CLAUSE.split(text):
        negated = any(_fold(token) in NEGATIONS for token in _LETTERS.findall(piece))
        out.append((frozenset(statement_terms(piece)), negated))
    return tuple(out)


def _polarity_conflict(claim: Claim, evidence: Evidence) -> bool:
    """Does the passage say the statement's content with the opposite polarity? The sentences of the passage
    that hold `POLARITY_SHARE` of the statement's terms are the ones that say the same thing; for each clause of
    the statement with at least two terms, the clauses of those sentences sharing most of its terms (at least
    two and half of them) are its counterparts. A conflict: some statement clause whose counterparts all differ
    in negation from it ("dürfen mit …" against "dürfen nicht mit …"; "wird nicht verlängert" against "wird
    verlängert")."""
    terms = set(claim.terms)
    if len(terms) < POLARITY_MIN_TERMS:
        return False
    needed = max(POLARITY_MIN_TERMS, POLARITY_SHARE * len(terms))
    passage_clauses = [
        c for stems, clauses in evidence.sentences if len(terms & stems) >= needed for c in clauses
    ]
    if not passage_clauses:
        return False
    for own, negated in _clauses(claim.text):
        if len(own) < 2:
            continue
        overlap = [(len(own & stems), other) for stems, other in passage_clauses]
        best = max(n for n, _ in overlap)
        if best < max(2, len(own) / 2):
            continue
        if all(other != negated for n, other in overlap if n == best):
            return True
    return False


def _fact_found(fact: Fact, evidence: Evidence) -> bool:
    if fact.kind is FactKind.DATE:
        return fact.key in evidence.dates
    if fact.kind is FactKind.AMOUNT:
        return fact.key in evidence.amounts
    if fact.kind is FactKind.LEGAL_REF:
        ref = _LegalRef.parse(fact.key)
        return ref is not None and any(ref.matches(other) for other in evidence.legal_refs)
    if fact.kind is FactKind.NAME:
        return fact.key in evidence.lemmas
    return fact.key in evidence.terms


@dataclass(frozen=True)
class Judgement:
    """A statement checked against the passages cited for it (in the order given)."""

    statement: str
    verdicts: tuple[Verdict, ...]

    @property
    def supporting(self) -> tuple[int, ...]:
        """Positions (0-based) of the passages that support the statement."""
        return tuple(i for i, verdict in enumerate(self.verdicts) if verdict.supported)

    @property
    def supported(self) -> bool:
        return bool(self.supporting)


def judge(statement: str, passages: Sequence[str | Evidence], *, min_support: float) -> Judgement:
    """A statement and its cited passages → one verdict per passage; supported when one passage supports it."""
    claim = Claim.of(statement)
    return Judgement(claim.text, tuple(check_statement(claim, p, min_support=min_support) for p in passages))


def support(statement: str, passage: str) -> float:
    """Share of the statement's content terms found in the passage (1.0 for a statement with none)."""
    return check_statement(statement, passage, min_support=0.0).share


# --- Answers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementCheck:
    text: str
    sources: tuple[int, ...]
    supported: bool
    best_support: float
    # Why each cited passage that does not support the statement fails (source number → verdict).
    rejected: dict[int, Verdict] = field(default_factory=dict)


@dataclass(frozen=True)
class CitationCheck:
    """Outcome of verifying one answer. `valid` citations point at a source that supports a statement.

    `reattributed` lists sources that the model did not cite but that support a statement none of its own
    citations supported (the small model often cites the wrong one of several numbered passages).
    """

    cited: tuple[int, ...]
    valid: tuple[int, ...]
    invalid_markers: tuple[int, ...]
    unsupported: tuple[int, ...]
    statements: tuple[StatementCheck, ...] = field(default_factory=tuple)
    support_by_source: dict[int, float] = field(default_factory=dict)
    reattributed: tuple[int, ...] = ()

    @property
    def any_valid(self) -> bool:
        return bool(self.valid)


def verify(
    answer: str,
    cited: Sequence[int],
    passages: Sequence[str],
    min_support: float,
    *,
    reattribute: bool = True,
    question: str | None = None,
) -> CitationCheck:
    """Check every cited number against the passages (numbered from 1).

    A number outside 1..len(passages) is an invalid marker. A cited passage that supports none of the answer's
    statements (`check_statement`) is unsupported. Each statement is attributed to the valid cited passages that
    support it; with `reattribute`, a statement no cited passage supports is attributed to the offered passage
    that supports it with the highest share of words, if any does. With `question`, a passage must also hold
    the words a statement takes over from the question (`check_statement`, `asked`).
    """
    numbers = list(dict.fromkeys([*cited, *parse_markers(answer)]))
    invalid = tuple(n for n in numbers if not 1 <= n <= len(passages))
    in_range = [n for n in numbers if 1 <= n <= len(passages)]
    statements = split_statements(strip_markers(answer)) or [strip_markers(answer)]
    claims = [Claim.of(s) for s in statements]
    every = range(1, len(passages) + 1)
    evidence = {n: Evidence.of(passages[n - 1]) for n in every}
    asked = question_terms(question) if question else frozenset()
    verdicts = {
        n: [check_statement(c, evidence[n], min_support=min_support, asked=asked) for c in claims]
        for n in every
    }
    supported_cited = {n for n in in_range if any(v.supported for v in verdicts[n])}
    checks: list[StatementCheck] = []
    extra: list[int] = []
    for i, statement in enumerate(statements):
        backing = tuple(n for n in in_range if verdicts[n][i].supported)
        if not backing and reattribute and in_range:
            candidates = [n for n in every if verdicts[n][i].supported]
            if candidates:
                best = max(candidates, key=lambda n: (verdicts[n][i].share, -n))
                backing = (best,)
                extra.append(best)
        best_support = max((verdicts[n][i].share for n in every), default=0.0)
        rejected = {n: verdicts[n][i] for n in in_range if not verdicts[n][i].supported}
        checks.append(StatementCheck(statement, backing, bool(backing), best_support, rejected))
    valid = tuple(dict.fromkeys([n for n in in_range if n in supported_cited] + extra))
    return CitationCheck(
        cited=tuple(numbers),
        valid=valid,
        invalid_markers=invalid,
        unsupported=tuple(n for n in in_range if n not in supported_cited),
        statements=tuple(checks),
        support_by_source={n: max((v.share for v in verdicts[n]), default=0.0) for n in in_range},
        reattributed=tuple(dict.fromkeys(n for n in extra if n not in in_range)),
    )


def render_with_markers(check: CitationCheck) -> str:
    """The answer as shown: each statement followed by the markers of the passages that support it."""
    parts = []
    for statement in check.statements:
        markers = "".join(f"[{n}]" for n in statement.sources)
        parts.append(f"{statement.text} {markers}".strip() if markers else statement.text)
    return " ".join(parts)


# --- Drafts: statement-level helpers -------------------------------------------------------------------------


def near_duplicate(a: str, b: str, *, threshold: float = 0.8) -> bool:
    """Do two statements say the same thing? Their content terms overlap (Jaccard) by at least `threshold`
    and they state the same facts; a statement with other figures is never a duplicate."""
    claim_a, claim_b = Claim.of(a), Claim.of(b)
    if {f.key for f in claim_a.facts} != {f.key for f in claim_b.facts}:
        return False
    terms_a, terms_b = set(claim_a.terms), set(claim_b.terms)
    if not terms_a or not terms_b:
        return claim_a.text.strip().lower() == claim_b.text.strip().lower()
    return len(terms_a & terms_b) / len(terms_a | terms_b) >= threshold


_SUBJECT_WINDOW = 80
_SUBJECT = re.compile(r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-Za-zÄÖÜäöüß]+)*")


def _subject_before(text: str, start: int) -> str | None:
    """The noun a figure is about: the last capitalised content word shortly before it ("Das Pilotbudget
    beträgt 320.000 EUR" → "pilotbudget"); a compound counts by its head ("budget")."""
    window = text[max(0, start - _SUBJECT_WINDOW) : start]
    nouns = [w for w in _SUBJECT.findall(window) if not _is_stopword(w) and _fold(w) not in LIGHT_WORDS]
    if not nouns:
        return None
    lemma = _lemma(nouns[-1].rsplit("-", 1)[-1])
    for head in ("budget", "kosten", "mittel", "betrag", "summe", "anteil", "quote", "zahl", "preis"):
        if lemma.endswith(head):
            return head
    return lemma


def figures(text: str) -> dict[str, frozenset[str]]:
    """Amounts and percentages of a passage by the noun they are about: {"budget": {"320000 EUR"}}."""
    found: dict[str, set[str]] = {}
    for start, _, key, _ in _amounts(text):
        subject = _subject_before(text, start)
        if subject:
            found.setdefault(subject, set()).add(key)
    for match in re.finditer(r"(\d+(?:,\d+)?)\s*(?:%|Prozent)", text):
        subject = _subject_before(text, match.start())
        if subject:
            found.setdefault(subject, set()).add(match.group(1).replace(",", ".") + " %")
    return {subject: frozenset(values) for subject, values in found.items()}


@dataclass(frozen=True)
class Conflict:
    """Two passages give different figures for the same thing (e.g. budgets of two revisions)."""

    subject: str
    passages: tuple[int, int]  # positions in the sequence given to `find_conflicts`
    values: tuple[tuple[str, ...], tuple[str, ...]]

    @property
    def description(self) -> str:
        """German, for reviewers."""
        first, second = (", ".join(v) for v in self.values)
        return f"Widersprüchliche Angaben zu „{self.subject}“: {first} gegenüber {second}"


def find_conflicts(passages: Sequence[str]) -> list[Conflict]:
    """Pairs of passages with disjoint figures for the same subject. Passages that share a figure for it
    are not in conflict (one may list more than the other)."""
    found = [figures(p) for p in passages]
    conflicts: list[Conflict] = []
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            for subject in sorted(found[i].keys() & found[j].keys()):
                a, b = found[i][subject], found[j][subject]
                if not a & b:
                    conflicts.append(Conflict(subject, (i, j), (tuple(sorted(a)), tuple(sorted(b)))))
    return conflicts
