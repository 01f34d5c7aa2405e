"""Build and check the German sample corpus (all content is fictional).

    .venv/bin/python scripts/build_corpus.py          # rebuild PDFs, DOCX, sidecars, questions.jsonl; then check
    .venv/bin/python scripts/build_corpus.py --check  # rebuild in a temp dir, require identical bytes; then check

The Markdown minutes (`protokoll-*.md`) and README.md are written by hand and only checked here.
Output is deterministic: ReportLab runs in invariant mode and the DOCX zip entries and core properties carry fixed
dates, so a rebuild gives byte-identical files.

The check verifies, with pypdf and python-docx, what the demo and the tests rely on: page counts, PDF metadata, a
German text layer with intact umlauts on every page, distinct pages with the planned content on each, Word heading
styles, front matter of the minutes, and that every gold passage in questions.jsonl is a verbatim substring of its
document's extracted text (of its page, for PDFs) after collapsing whitespace runs to one space.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from reportlab import rl_config

rl_config.invariant = 1  # fixed /ID and dates in the PDF, so rebuilding gives identical bytes

from reportlab.lib import colors  # noqa: E402
from reportlab.lib.enums import TA_JUSTIFY, TA_LEFT  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.styles import ParagraphStyle  # noqa: E402
from reportlab.lib.units import cm  # noqa: E402
from reportlab.platypus import (  # noqa: E402
    BaseDocTemplate,
    Frame,
    KeepTogether,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

CORPUS_DIR = Path(__file__).resolve().parents[1] / "corpus"
ASSOCIATION = "Verband kommunaler IT-Dienstleister NRW (VKID NRW)"

# ---------------------------------------------------------------------------------------------------------------
# Document content. A document is a list of blocks:
#   ("title", text) ("subtitle", text) ("meta", text) ("h1", text) ("h2", text) ("h3", text) ("p", text)
#   ("item", text)  numbered or lettered list entry written out in the text, e.g. "(1) …"
#   ("bullet", text) ("table", header_row, rows, column_widths_cm) ("pagebreak",) ("spacer", height_cm)
# PDF text may use ReportLab's inline markup (<b>, <i>); a literal ampersand must be written as &amp;.
# ---------------------------------------------------------------------------------------------------------------

Block = tuple[Any, ...]


@dataclass(frozen=True)
class DocSpec:
    filename: str
    title: str
    author: str
    subject: str
    keywords: str
    doc_type: str
    working_group: str
    visibility: str
    date: str
    status: str
    blocks: list[Block]
    footer: str = ""
    header: str = ""
    pages: int | None = None  # PDFs: planned page count
    # PDFs: strings that must appear on a given 1-based page (the planned page layout)
    page_markers: dict[int, list[str]] = field(default_factory=dict)


POSITIONSPAPIER = DocSpec(
    filename="positionspapier-ki-infrastruktur.pdf",
    title="Positionspapier: Gemeinsame selbstbetriebene KI-Infrastruktur für die Kommunen in Nordrhein-Westfalen",
    author="VKID NRW – Arbeitskreis KI und Automatisierung",
    subject="Positionspapier des AK KI und Automatisierung, Version 1.0",
    keywords="KI-Infrastruktur, Datensouveränität, Open-Weight-Modelle, GPU-Cluster, Finanzierung, Positionspapier",
    doc_type="position_paper",
    working_group="AK KI und Automatisierung",
    visibility="public",
    date="2025-11-20",
    status="adopted",
    footer="VKID NRW · Positionspapier KI-Infrastruktur · Version 1.0",
    pages=5,
    page_markers={
        1: ["Zusammenfassung", "1. Ausgangslage", "22 von 28 Mitgliedern"],
        2: ["2. Anforderungen an die gemeinsame KI-Infrastruktur", "mindestens 16 GPUs mit je 80 GB"],
        3: ["3. Finanzierungsmodell", "0,1427 EUR je Einwohnerin und Einwohner"],
        4: ["4. Zeitplan", "Die Pilotphase beginnt am 1. März 2026"],
        5: ["5. Forderungen an das Land Nordrhein-Westfalen", "8 Ja, 0 Nein, 1 Enthaltung"],
    },
    blocks=[
        ("meta", ASSOCIATION + " · Arbeitskreis KI und Automatisierung"),
        ("title", "Gemeinsame selbstbetriebene KI-Infrastruktur für die Kommunen in Nordrhein-Westfalen"),
        ("subtitle", "Positionspapier des Arbeitskreises KI und Automatisierung"),
        (
            "meta",
            "Version 1.0 – Stand: 20. November 2025 – beschlossen in der Sitzung des Arbeitskreises am "
            "20.11.2025",
        ),
        ("spacer", 0.3),
        ("h1", "Zusammenfassung"),
        (
            "p",
            "Die 28 Mitglieder des VKID NRW schlagen vor, eine gemeinsame KI-Infrastruktur aufzubauen, die "
            "ausschließlich in kommunalen Rechenzentren betrieben wird. Verwaltungsdaten, Prompts und Dokumente "
            "verlassen dabei zu keinem Zeitpunkt die Rechenzentren der Mitglieder. Eingesetzt werden nur "
            "Sprachmodelle mit offenen Gewichten (Open-Weight-Modelle). Die Infrastruktur soll 2026 in einer "
            "Pilotphase erprobt und 2027 für alle Mitglieder ausgerollt werden. Für die Investitionskosten von "
            "4,8 Mio. EUR bittet der Verband das Land Nordrhein-Westfalen um eine Förderung von 60 Prozent.",
        ),
        ("h1", "1. Ausgangslage"),
        ("h2", "1.1 Künstliche Intelligenz in der kommunalen Verwaltung"),
        (
            "p",
            "Generative KI verändert die Arbeit in den Kommunalverwaltungen bereits heute. Typische "
            "Anwendungsfälle sind die Recherche in Vorschriften und Ratsinformationssystemen, die Zusammenfassung "
            "umfangreicher Vorlagen, der Entwurf von Antwortschreiben an Bürgerinnen und Bürger sowie die "
            "Unterstützung der Beschäftigten bei der Bearbeitung von Anträgen. Eine Umfrage des VKID NRW unter "
            "seinen Mitgliedern im Frühjahr 2025 ergab, dass 22 von 28 Mitgliedern KI-Pilotprojekte betreiben "
            "oder vorbereiten.",
        ),
        ("h2", "1.2 Abhängigkeit von externen Cloud-Diensten"),
        (
            "p",
            "Nach derselben Umfrage nutzen 17 Mitglieder für ihre Pilotprojekte Cloud-Dienste außereuropäischer "
            "Anbieter. Eingaben und Dokumente werden dabei in Rechenzentren verarbeitet, auf deren Betrieb die "
            "Kommunen keinen Einfluss haben. Vertragsbedingungen, Preise und Modellversionen können vom Anbieter "
            "einseitig geändert werden. Für Daten, die einem Berufs- oder besonderen Amtsgeheimnis unterliegen, "
            "ist eine solche Nutzung nach dem vom VKID NRW eingeholten Rechtsgutachten vom 29. August 2025 in "
            "der Regel nicht zu empfehlen.",
        ),
        ("h2", "1.3 Ziel dieses Positionspapiers"),
        (
            "p",
            "Der Arbeitskreis KI und Automatisierung beschreibt in diesem Papier die Anforderungen an eine "
            "gemeinsame, selbstbetriebene KI-Infrastruktur (Abschnitt 2), schlägt ein Finanzierungsmodell vor "
            "(Abschnitt 3), legt einen Zeitplan fest (Abschnitt 4) und formuliert Forderungen an das Land "
            "Nordrhein-Westfalen (Abschnitt 5).",
        ),
        ("pagebreak",),
        ("h1", "2. Anforderungen an die gemeinsame KI-Infrastruktur"),
        ("h2", "2.1 Datensouveränität"),
        (
            "p",
            "Die Infrastruktur wird ausschließlich in Rechenzentren der Mitglieder des VKID NRW betrieben. Kein "
            "Dokument, kein Prompt, keine Antwort und kein Protokolleintrag verlässt die kommunalen "
            "Rechenzentren. Eine Verbindung zu Diensten Dritter, etwa zur Modellaktualisierung oder für "
            "Telemetrie, ist ausgeschlossen; neue Modellversionen werden nach Prüfung offline eingespielt.",
        ),
        ("h2", "2.2 Mindestanforderungen an KI-Dienste"),
        (
            "p",
            "Jeder KI-Dienst, der auf der gemeinsamen Infrastruktur angeboten wird, muss die folgenden "
            "Mindestanforderungen erfüllen:",
        ),
        (
            "item",
            "(1) Betrieb ausschließlich in Rechenzentren der Mitglieder; keine Übermittlung von Daten an "
            "Dritte.",
        ),
        (
            "item",
            "(2) Einsatz von Open-Weight-Modellen, deren Lizenz die Nutzung durch die öffentliche Verwaltung "
            "ohne Nutzungsentgelt erlaubt.",
        ),
        (
            "item",
            "(3) Keine Verwendung von Eingaben, Dokumenten oder Antworten zum Training oder Nachtraining von "
            "Modellen ohne Beschluss des zuständigen Gremiums.",
        ),
        (
            "item",
            "(4) Nachvollziehbare Antworten: Jede Aussage, die sich auf Dokumente stützt, nennt ihre Quelle "
            "mit Dokument und Seite.",
        ),
        (
            "item",
            "(5) Mandantentrennung zwischen den Kommunen und rollenbasierte Zugriffsrechte bis auf die Ebene "
            "einzelner Dokumente.",
        ),
        ("item", "(6) Protokollierung aller Zugriffe mit einer Aufbewahrungsfrist von 90 Tagen."),
        ("h2", "2.3 Technische Mindestausstattung"),
        (
            "p",
            "Für den Vollbetrieb ist ein GPU-Cluster mit mindestens 16 GPUs mit je 80 GB Grafikspeicher "
            "erforderlich, verteilt auf zwei georedundante Standorte mit je 8 GPUs. Hinzu kommen 400 TB "
            "Speicher für Dokumente und Vektorindizes sowie eine Verbindung beider Standorte mit mindestens "
            "100 Gbit/s. Die Infrastruktur ist so zu bemessen, dass bis zu 400 Nutzende gleichzeitig arbeiten "
            "können und die Ausgabe einer Antwort nach weniger als 2 Sekunden beginnt. Die Verfügbarkeit soll in "
            "der Kernarbeitszeit (montags bis freitags von 7 bis 18 Uhr) mindestens 99,5 Prozent betragen.",
        ),
        ("h2", "2.4 Offene Modelle und offene Schnittstellen"),
        (
            "p",
            "Die Modelle werden über eine OpenAI-kompatible Programmierschnittstelle bereitgestellt, damit "
            "Fachverfahren und Anwendungen der Mitglieder ohne Anpassung zwischen Modellen wechseln können. Über "
            "die Aufnahme neuer Modelle entscheidet ein Modellgremium aus drei Vertreterinnen und Vertretern der "
            "Mitglieder anhand einer veröffentlichten Bewertungsmatrix.",
        ),
        ("h2", "2.5 Informationssicherheit"),
        (
            "p",
            "Der Betrieb erfolgt nach BSI IT-Grundschutz und nach der Handlungsempfehlung „Mindeststandards der "
            "Informationssicherheit für kommunale IT-Dienstleister“ des AK Informationssicherheit vom "
            "7. Oktober 2025.",
        ),
        ("pagebreak",),
        ("h1", "3. Finanzierungsmodell"),
        ("h2", "3.1 Investitionskosten"),
        (
            "p",
            "Die einmaligen Investitionskosten für den Vollbetrieb betragen 4,8 Mio. EUR. Davon entfallen "
            "3,6 Mio. EUR auf GPU-Server, 0,7 Mio. EUR auf Speicher- und Netzkomponenten und 0,5 Mio. EUR auf "
            "Einrichtung, Migration und Schulung. Der VKID NRW bittet das Land, 60 Prozent der "
            "Investitionskosten (2,88 Mio. EUR) zu fördern. Der verbleibende Eigenanteil von 1,92 Mio. EUR wird "
            "einmalig nach Einwohnerzahl umgelegt; das entspricht 0,20 EUR je Einwohnerin und Einwohner.",
        ),
        ("h2", "3.2 Laufende Betriebskosten"),
        (
            "p",
            "Die jährlichen Betriebskosten werden auf 1,44 Mio. EUR geschätzt. Sie setzen sich aus "
            "Energiekosten von 0,38 Mio. EUR, Personalkosten für 6 Vollzeitäquivalente von 0,62 Mio. EUR sowie "
            "Wartung, Ersatzteilen und Lizenzen von 0,44 Mio. EUR zusammen.",
        ),
        (
            "table",
            ["Kostenposition", "Betrag"],
            [
                ["Investition: GPU-Server", "3,60 Mio. EUR"],
                ["Investition: Speicher- und Netzkomponenten", "0,70 Mio. EUR"],
                ["Investition: Einrichtung, Migration, Schulung", "0,50 Mio. EUR"],
                ["Investition gesamt (davon 60 % Landesförderung beantragt)", "4,80 Mio. EUR"],
                ["Betrieb je Jahr: Energie", "0,38 Mio. EUR"],
                ["Betrieb je Jahr: Personal (6 VZÄ)", "0,62 Mio. EUR"],
                ["Betrieb je Jahr: Wartung, Ersatzteile, Lizenzen", "0,44 Mio. EUR"],
                ["Betrieb je Jahr gesamt", "1,44 Mio. EUR"],
            ],
            [11.5, 4.0],
        ),
        ("h2", "3.3 Verteilung der Kosten nach Einwohnerzahl"),
        (
            "p",
            "Die Betriebskosten werden in zwei Teilen auf die Mitglieder verteilt. Jedes Mitglied zahlt einen "
            "jährlichen Sockelbetrag von 2.500 EUR; bei 28 Mitgliedern sind das 70.000 EUR. Die verbleibenden "
            "1,37 Mio. EUR werden nach der Einwohnerzahl der angeschlossenen Kommunen verteilt. Bei insgesamt "
            "9,6 Mio. Einwohnerinnen und Einwohnern ergibt sich ein Betrag von 0,1427 EUR je Einwohnerin und "
            "Einwohner und Jahr. Maßgeblich ist die amtliche Einwohnerzahl zum 31. Dezember des Vorjahres.",
        ),
        (
            "p",
            "Beispiel: Ein Mitglied, dessen angeschlossene Kommunen zusammen 450.000 Einwohnerinnen und "
            "Einwohner haben, zahlt jährlich 2.500 EUR Sockelbetrag und 64.215 EUR Einwohneranteil, insgesamt "
            "also 66.715 EUR.",
        ),
        ("h2", "3.4 Finanzierung der Pilotphase"),
        (
            "p",
            "Die Pilotphase 2026 wird aus Mitteln des Verbandes und der beiden Pilotstandorte finanziert. Den "
            "Pilotkommunen entstehen keine Kosten. Die Umlage nach Abschnitt 3.3 wird erstmals für das Jahr 2027 "
            "erhoben.",
        ),
        ("pagebreak",),
        ("h1", "4. Zeitplan"),
        ("h2", "4.1 Pilotphase 2026"),
        (
            "p",
            "Die Pilotphase beginnt am 1. März 2026 und endet am 31. Dezember 2026. Sie wird an den Standorten "
            "Hamm (KDZ Hellweg) und Wuppertal (Bergisch-Märkisches Rechenzentrum) mit sechs Pilotkommunen "
            "durchgeführt. Erprobt werden drei Anwendungsfälle: ein Wissensassistent für die Arbeitskreise des "
            "Verbandes, die Zusammenfassung von Ratsvorlagen und der Entwurf von Antwortschreiben.",
        ),
        ("h2", "4.2 Rollout 2027"),
        (
            "p",
            "Auf Grundlage des Evaluationsberichts zur Pilotphase beginnt der Rollout am 1. April 2027 mit zehn "
            "Mitgliedern in der ersten Stufe. Bis zum 31. Dezember 2027 sollen alle 28 Mitglieder angeschlossen "
            "sein.",
        ),
        ("h2", "4.3 Meilensteine"),
        (
            "table",
            ["Datum", "Meilenstein"],
            [
                ["31.01.2026", "Abschluss der Kooperationsvereinbarung zwischen den Mitgliedern"],
                ["01.03.2026", "Start der Pilotphase in Hamm und Wuppertal"],
                ["30.06.2026", "Zwischenbericht an den Vorstand; Förderzusage des Landes"],
                ["30.09.2026", "Beginn der EU-weiten Ausschreibung des GPU-Clusters"],
                ["31.12.2026", "Ende der Pilotphase, Evaluationsbericht"],
                ["01.04.2027", "Beginn des Rollouts (Stufe 1: zehn Mitglieder)"],
                ["31.12.2027", "Anschluss aller 28 Mitglieder"],
            ],
            [3.0, 12.5],
        ),
        ("h2", "4.4 Steuerung"),
        (
            "p",
            "Die Umsetzung steuert ein Lenkungskreis aus sieben Vertreterinnen und Vertretern der Mitglieder, "
            "der dem Vorstand des VKID NRW halbjährlich berichtet. Der AK KI und Automatisierung begleitet die "
            "Pilotphase fachlich und legt dem Vorstand bis zum 31. Januar 2027 den Evaluationsbericht mit einer "
            "Empfehlung zum Rollout vor.",
        ),
        ("pagebreak",),
        ("h1", "5. Forderungen an das Land Nordrhein-Westfalen"),
        ("p", "Der VKID NRW fordert das Land Nordrhein-Westfalen auf,"),
        ("h2", "5.1 Förderung der Investitionskosten"),
        (
            "p",
            "60 Prozent der Investitionskosten, also 2,88 Mio. EUR, aus Landesmitteln zu fördern und die Mittel "
            "bis zum 30. Juni 2026 verbindlich zuzusagen, damit die Ausschreibung des GPU-Clusters im September "
            "2026 beginnen kann;",
        ),
        ("h2", "5.2 Rechtssicherheit für die interkommunale Zusammenarbeit"),
        (
            "p",
            "klarzustellen, dass die gemeinsame Bereitstellung von KI-Diensten durch kommunale IT-Dienstleister "
            "als interkommunale Zusammenarbeit vergaberechtsfrei zulässig ist, und eine Musterregelung für die "
            "Auftragsverarbeitung nach Art. 28 DSGVO zwischen kommunalen IT-Dienstleistern bereitzustellen;",
        ),
        ("h2", "5.3 Keine Verpflichtung auf zentrale Cloud-Angebote"),
        (
            "p",
            "in der Digitalstrategie des Landes anzuerkennen, dass Kommunen KI-Dienste in eigener Verantwortung "
            "und in eigenen Rechenzentren betreiben dürfen, und Förderprogramme nicht an die Nutzung bestimmter "
            "kommerzieller Cloud-Angebote zu knüpfen;",
        ),
        ("h2", "5.4 Beteiligung an der Umsetzung der KI-Verordnung"),
        (
            "p",
            "den VKID NRW an den Gremien des Landes zur Umsetzung der KI-Verordnung (Verordnung (EU) 2024/1689) "
            "zu beteiligen und die Ergebnisse der Pilotphase in die Landesplanung einzubeziehen.",
        ),
        ("h1", "6. Beschluss und Kontakt"),
        (
            "p",
            "Dieses Positionspapier wurde vom Arbeitskreis KI und Automatisierung in seiner 15. Sitzung am "
            "20. November 2025 beschlossen (Abstimmungsergebnis: 8 Ja, 0 Nein, 1 Enthaltung). Es ersetzt den "
            "Diskussionsentwurf vom 5. September 2025.",
        ),
        (
            "p",
            "Ansprechpartnerin: Dr. Katrin Lüdemann, Sprecherin des AK KI und Automatisierung, Rhein-Ruhr "
            "Kommunaldienste. Geschäftsstelle des VKID NRW, Düsseldorf.",
        ),
    ],
)


RECHTSGUTACHTEN = DocSpec(
    filename="rechtsgutachten-cloud-nutzung.pdf",
    title="Rechtsgutachten zur Nutzung von Cloud- und KI-Diensten in der Kommunalverwaltung",
    author="Prof. Dr. Henrike Albers, Albers Voss Rechtsanwälte PartG mbB",
    subject="Rechtsgutachten im Auftrag des VKID NRW (AK Digitale Verwaltung/OZG)",
    keywords="DSGVO, Auftragsverarbeitung, § 203 StGB, OZG, GO NRW, KI-Verordnung, Cloud, Rechtsgutachten",
    doc_type="legal_opinion",
    working_group="AK Digitale Verwaltung/OZG",
    visibility="internal",
    date="2025-08-29",
    status="adopted",
    footer="Rechtsgutachten Cloud- und KI-Dienste · Albers Voss Rechtsanwälte · 29.08.2025",
    pages=6,
    page_markers={
        1: ["A. Sachverhalt und Fragestellung", "Szenario 3"],
        2: ["B. Rechtliche Würdigung", "Art. 6 Abs. 1 lit. e DSGVO"],
        3: ["a) Anforderungen an den Vertrag", "§ 203 Abs. 2 StGB"],
        4: ["III. Kommunal- und Verwaltungsorganisationsrecht", "§ 3 Abs. 2 OZG", "§ 108 Abs. 1 GO NRW"],
        5: ["IV. Anforderungen der KI-Verordnung", "2. August 2026"],
        6: ["C. Ergebnis", "Münster, den 29. August 2025"],
    },
    blocks=[
        ("meta", "Albers Voss Rechtsanwälte PartG mbB · Münster"),
        ("title", "Rechtsgutachten zur Nutzung von Cloud- und KI-Diensten in der Kommunalverwaltung"),
        (
            "subtitle",
            "erstattet im Auftrag des Verbandes kommunaler IT-Dienstleister NRW (VKID NRW) auf Anregung "
            "des Arbeitskreises Digitale Verwaltung/OZG",
        ),
        ("meta", "Verfasserin: Prof. Dr. Henrike Albers, Rechtsanwältin – Münster, 29. August 2025"),
        ("spacer", 0.3),
        ("h1", "A. Sachverhalt und Fragestellung"),
        ("h2", "I. Sachverhalt"),
        (
            "p",
            "Die Mitglieder des VKID NRW sind kommunale IT-Dienstleister, die für ihre Mitgliedskommunen "
            "Fachverfahren, Rechenzentrumsleistungen und zunehmend auch Dienste der künstlichen Intelligenz (KI) "
            "bereitstellen. Die Kommunen setzen generative KI insbesondere für Recherche, Textentwürfe und die "
            "Zusammenfassung von Vorlagen ein. Dabei werden regelmäßig personenbezogene Daten verarbeitet, etwa "
            "wenn Antragsunterlagen oder Schreiben von Bürgerinnen und Bürgern in einen KI-Dienst eingegeben "
            "werden.",
        ),
        ("p", "Der Auftraggeber hat drei Szenarien zur Prüfung vorgelegt:"),
        (
            "item",
            "Szenario 1: Nutzung eines KI-Dienstes eines außereuropäischen Cloud-Anbieters (Public Cloud), "
            "wobei die Verarbeitung in Rechenzentren innerhalb oder außerhalb der Europäischen Union erfolgen "
            "kann.",
        ),
        (
            "item",
            "Szenario 2: Nutzung eines KI-Dienstes eines in der Europäischen Union ansässigen Anbieters mit "
            "Verarbeitung ausschließlich in Rechenzentren innerhalb der Europäischen Union.",
        ),
        (
            "item",
            "Szenario 3: Betrieb einer gemeinsamen KI-Infrastruktur durch die kommunalen IT-Dienstleister "
            "selbst, ausschließlich in ihren eigenen Rechenzentren.",
        ),
        ("h2", "II. Fragestellung"),
        ("p", "Zu prüfen ist,"),
        (
            "item",
            "1. auf welcher Rechtsgrundlage Kommunen personenbezogene Daten mit KI-Diensten verarbeiten "
            "dürfen,",
        ),
        ("item", "2. welche Anforderungen an die Einschaltung von Dienstleistern zu stellen sind,"),
        ("item", "3. welche Grenzen sich aus Berufs- und besonderen Amtsgeheimnissen ergeben,"),
        ("item", "4. welche Vorgaben des Kommunal- und Verwaltungsorganisationsrechts zu beachten sind und"),
        ("item", "5. welche Pflichten sich aus der KI-Verordnung (Verordnung (EU) 2024/1689) ergeben."),
        ("pagebreak",),
        ("h1", "B. Rechtliche Würdigung"),
        ("h2", "I. Datenschutzrechtliche Zulässigkeit"),
        ("h3", "1. Rechtsgrundlage der Verarbeitung"),
        (
            "p",
            "Kommunen verarbeiten personenbezogene Daten im Rahmen ihrer öffentlichen Aufgaben. Rechtsgrundlage "
            "ist daher Art. 6 Abs. 1 lit. e DSGVO in Verbindung mit der jeweiligen fachgesetzlichen "
            "Aufgabennorm und ergänzend § 3 DSG NRW. Der Einsatz eines KI-Dienstes ist keine eigenständige "
            "Aufgabe, sondern ein Hilfsmittel der Aufgabenerfüllung; er ist zulässig, soweit die Verarbeitung "
            "für die Erfüllung der jeweiligen Aufgabe erforderlich ist.",
        ),
        ("h3", "a) Erforderlichkeit"),
        (
            "p",
            "Erforderlich ist die Verarbeitung nur, wenn nicht mehr personenbezogene Daten in den KI-Dienst "
            "gelangen, als für die Aufgabe benötigt werden. Die Kommunen sollten daher Vorgaben zur "
            "Pseudonymisierung oder Schwärzung von Eingaben treffen, wo dies ohne Beeinträchtigung der Aufgabe "
            "möglich ist.",
        ),
        ("h3", "b) Einwilligung als Rechtsgrundlage ungeeignet"),
        (
            "p",
            "Auf eine Einwilligung nach Art. 6 Abs. 1 lit. a DSGVO kann die Verarbeitung regelmäßig nicht "
            "gestützt werden. Wegen des Über- und Unterordnungsverhältnisses zwischen Behörde und Bürgerinnen "
            "und Bürgern fehlt es in der Regel an der Freiwilligkeit (Erwägungsgrund 43 DSGVO).",
        ),
        ("h3", "c) Zweckbindung"),
        (
            "p",
            "Nutzt ein Anbieter Eingaben zum Training seiner Modelle, verarbeitet er die Daten zu eigenen "
            "Zwecken. Eine solche Verarbeitung ist von Art. 6 Abs. 1 lit. e DSGVO nicht gedeckt und mit dem "
            "Grundsatz der Zweckbindung (Art. 5 Abs. 1 lit. b DSGVO) nicht vereinbar. Die Nutzung von Eingaben "
            "zu Trainingszwecken muss daher vertraglich ausgeschlossen werden.",
        ),
        ("h3", "2. Auftragsverarbeitung nach Art. 28 DSGVO"),
        (
            "p",
            "Ein externer Anbieter eines KI-Dienstes ist regelmäßig Auftragsverarbeiter. Das gilt für den "
            "Cloud-Anbieter in den Szenarien 1 und 2 ebenso wie für den kommunalen IT-Dienstleister in "
            "Szenario 3, wenn er die Infrastruktur für eine Kommune betreibt. Die Kommune bleibt Verantwortliche "
            "im Sinne von Art. 4 Nr. 7 DSGVO und muss sich davon überzeugen, dass der Auftragsverarbeiter "
            "hinreichende Garantien für geeignete technische und organisatorische Maßnahmen bietet "
            "(Art. 28 Abs. 1 DSGVO).",
        ),
        ("pagebreak",),
        ("h3", "a) Anforderungen an den Vertrag"),
        (
            "p",
            "Der Vertrag nach Art. 28 Abs. 3 DSGVO muss insbesondere die Weisungsgebundenheit des Anbieters, "
            "die Vertraulichkeit der eingesetzten Personen, die technischen und organisatorischen Maßnahmen nach "
            "Art. 32 DSGVO sowie die Löschung oder Rückgabe der Daten nach Ende der Leistung regeln. Der Einsatz "
            "weiterer Auftragsverarbeiter bedarf nach Art. 28 Abs. 2 DSGVO einer vorherigen Genehmigung der "
            "Kommune. Die Standardverträge großer Cloud-Anbieter erfüllen diese Anforderungen nach unserer "
            "Prüfung nur teilweise, insbesondere weil Unterauftragsverarbeiter mit einer Frist von 30 Tagen "
            "einseitig ausgetauscht werden können.",
        ),
        ("h3", "b) Übermittlung in Drittländer"),
        (
            "p",
            "Werden Daten außerhalb der Europäischen Union verarbeitet oder kann ein Anbieter aus einem "
            "Drittland auf sie zugreifen, sind zusätzlich die Art. 44 ff. DSGVO zu beachten. Für zertifizierte "
            "Anbieter aus den Vereinigten Staaten besteht seit dem 10. Juli 2023 ein Angemessenheitsbeschluss "
            "(EU-U.S. Data Privacy Framework). Er beseitigt jedoch nicht das Risiko, dass Behörden des "
            "Drittlandes auf Grundlage des dortigen Rechts die Herausgabe von Daten verlangen, auch wenn diese in "
            "der Europäischen Union gespeichert sind. Dieses Risiko ist in der Datenschutz-Folgenabschätzung "
            "nach Art. 35 DSGVO zu bewerten.",
        ),
        ("h2", "II. Berufsgeheimnisse und besondere Amtsgeheimnisse"),
        ("h3", "1. Strafbarkeit nach § 203 StGB"),
        (
            "p",
            "Beschäftigte der Kommunen sind als Amtsträger nach § 203 Abs. 2 StGB zur Verschwiegenheit über "
            "fremde Geheimnisse verpflichtet, die ihnen in dieser Eigenschaft anvertraut worden sind. Das "
            "betrifft etwa Angaben aus Sozialleistungs-, Jugendhilfe- oder Gesundheitsakten. Nach § 203 Abs. 3 "
            "Satz 2 StGB dürfen solche Geheimnisse zwar sonstigen Personen offenbart werden, die an der "
            "dienstlichen Tätigkeit mitwirken, also auch IT-Dienstleistern, soweit dies für die Inanspruchnahme "
            "ihrer Tätigkeit erforderlich ist. Der Geheimnisträger muss diese Personen jedoch zur Geheimhaltung "
            "verpflichten; unterlässt er dies, kann er sich nach § 203 Abs. 4 Satz 2 Nr. 1 StGB selbst strafbar "
            "machen.",
        ),
        ("h3", "2. Folgerungen für die Szenarien"),
        (
            "p",
            "Bei einem außereuropäischen Anbieter (Szenario 1) lässt sich die wirksame Verpflichtung aller "
            "mitwirkenden Personen, einschließlich der Beschäftigten von Unterauftragsverarbeitern, praktisch "
            "weder sicherstellen noch kontrollieren. Für Sozialdaten schränkt § 80 SGB X die "
            "Auftragsverarbeitung außerhalb der Europäischen Union zusätzlich ein, für Steuerdaten gilt das "
            "Steuergeheimnis nach § 30 AO. Daten, die § 203 StGB unterliegen, sollten deshalb nicht in "
            "Szenario 1 verarbeitet werden.",
        ),
        ("pagebreak",),
        ("h2", "III. Kommunal- und Verwaltungsorganisationsrecht"),
        ("h3", "1. Kommunale Selbstverwaltung (Art. 28 Abs. 2 GG)"),
        (
            "p",
            "Art. 28 Abs. 2 GG gewährleistet den Gemeinden das Recht, alle Angelegenheiten der örtlichen "
            "Gemeinschaft im Rahmen der Gesetze in eigener Verantwortung zu regeln. Dazu gehört die "
            "Organisationshoheit, also die Befugnis, selbst zu entscheiden, ob und wie Verwaltungsaufgaben mit "
            "eigenen Mitteln, gemeinsam mit anderen Kommunen oder durch Dritte erfüllt werden. Die Entscheidung "
            "für eine gemeinsame, selbstbetriebene KI-Infrastruktur ist Ausdruck dieser Organisationshoheit. "
            "Umgekehrt darf das Land die Kommunen nicht ohne gesetzliche Grundlage auf ein bestimmtes zentrales "
            "Angebot verpflichten.",
        ),
        ("h3", "2. Einbindung in Onlinedienste nach dem OZG"),
        (
            "p",
            "Soweit KI-Assistenten in Onlinedienste eingebunden werden, die über den Portalverbund nach "
            "§ 1 Abs. 2 OZG angeboten werden, erfolgt die Identifizierung und Authentifizierung der "
            "Nutzerinnen und Nutzer nach § 3 Abs. 2 OZG über die im Portalverbund bereitgestellten "
            "Nutzerkonten. Ein KI-Dienst darf keine eigene, parallele Identifizierung einführen und Daten aus "
            "dem Nutzerkonto nur in dem Umfang erhalten, der für die jeweilige Verwaltungsleistung erforderlich "
            "ist.",
        ),
        ("h3", "3. Organisationsform der gemeinsamen Infrastruktur (§ 108 GO NRW)"),
        (
            "p",
            "Für Szenario 3 kommen die Aufgabenwahrnehmung durch bestehende Zweckverbände oder gemeinsame "
            "Kommunalunternehmen nach dem Gesetz über kommunale Gemeinschaftsarbeit (GkG NRW) oder die Gründung "
            "einer gemeinsamen Gesellschaft in privater Rechtsform in Betracht.",
        ),
        ("h3", "a) Gesellschaft in privater Rechtsform"),
        (
            "p",
            "Wählen die Träger eine Gesellschaft mit beschränkter Haftung, sind die Voraussetzungen des "
            "§ 108 Abs. 1 GO NRW einzuhalten. Insbesondere muss die Haftung der beteiligten Kommunen auf einen "
            "ihrer Leistungsfähigkeit angemessenen Betrag begrenzt sein, und die Kommunen müssen einen "
            "angemessenen Einfluss, insbesondere im Aufsichtsrat, erhalten.",
        ),
        ("h3", "b) Öffentlich-rechtliche Strukturen"),
        (
            "p",
            "Wir empfehlen, die bestehenden öffentlich-rechtlichen Strukturen der kommunalen IT-Dienstleister zu "
            "nutzen. Sie kommen ohne Gründungsverfahren aus, und die Zusammenarbeit kann vergaberechtlich als "
            "öffentlich-öffentliche Zusammenarbeit ausgestaltet werden.",
        ),
        ("pagebreak",),
        ("h2", "IV. Anforderungen der KI-Verordnung"),
        ("h3", "1. Rollen und Anwendungsbereich"),
        (
            "p",
            "Die Verordnung (EU) 2024/1689 (KI-Verordnung) ist am 1. August 2024 in Kraft getreten. Kommunen, "
            "die ein KI-System in eigener Verantwortung verwenden, sind Betreiber im Sinne von Art. 3 Nr. 4 "
            "KI-VO. Ein kommunaler IT-Dienstleister, der ein KI-System unter eigenem Namen bereitstellt, kann "
            "daneben Anbieter im Sinne von Art. 3 Nr. 3 KI-VO sein.",
        ),
        ("h3", "2. Risikoeinstufung"),
        (
            "p",
            "Die in den Kommunen typischen Anwendungen wie Recherche, Zusammenfassung und Textentwurf sind in "
            "der Regel keine Hochrisiko-KI-Systeme. Anders ist es, wenn ein KI-System bestimmungsgemäß zur "
            "Prüfung von Ansprüchen auf öffentliche Unterstützungsleistungen eingesetzt wird; solche Systeme "
            "gelten nach Art. 6 Abs. 2 in Verbindung mit Anhang III Nr. 5 lit. a KI-VO als hochriskant.",
        ),
        ("h3", "3. Pflichten und Fristen"),
        (
            "p",
            "Seit dem 2. Februar 2025 müssen Betreiber nach Art. 4 KI-VO sicherstellen, dass ihr Personal über "
            "ausreichende KI-Kompetenz verfügt. Die Transparenzpflichten nach Art. 50 KI-VO gelten ab dem "
            "2. August 2026. Betreiben Kommunen Hochrisiko-KI-Systeme, treffen sie die Pflichten nach Art. 26 "
            "KI-VO; als Einrichtungen des öffentlichen Rechts müssen sie vor der Inbetriebnahme zudem eine "
            "Grundrechte-Folgenabschätzung nach Art. 27 KI-VO durchführen.",
        ),
        ("h2", "V. Bewertung der Szenarien"),
        (
            "p",
            "Szenario 1 ist datenschutzrechtlich nur unter engen Voraussetzungen zulässig: Erforderlich sind ein "
            "Vertrag nach Art. 28 DSGVO mit ausgeschlossenem Training, eine belastbare Grundlage für etwaige "
            "Drittlandübermittlungen und eine Datenschutz-Folgenabschätzung. Für Daten nach § 203 StGB, "
            "Sozialdaten und Steuerdaten scheidet Szenario 1 aus.",
        ),
        (
            "p",
            "Szenario 2 ist zulässig, wenn der Anbieter einen Vertrag nach Art. 28 DSGVO abschließt, Eingaben "
            "nicht zum Training nutzt und die Verarbeitung einschließlich der Fernwartung ausschließlich "
            "innerhalb der Europäischen Union erfolgt.",
        ),
        (
            "p",
            "Szenario 3 ist rechtlich vorzugswürdig. Die Kommunen behalten die vollständige Kontrolle über Daten "
            "und Modelle, die Verpflichtung mitwirkender Personen nach § 203 Abs. 3 StGB ist über die "
            "bestehenden Verträge mit den kommunalen IT-Dienstleistern sichergestellt, und Übermittlungen in "
            "Drittländer finden nicht statt.",
        ),
        ("pagebreak",),
        ("h1", "C. Ergebnis"),
        ("p", "Die Prüfung führt zu folgenden Ergebnissen:"),
        (
            "item",
            "1. Kommunen dürfen personenbezogene Daten mit KI-Diensten auf Grundlage von Art. 6 Abs. 1 lit. e "
            "DSGVO in Verbindung mit der jeweiligen Aufgabennorm verarbeiten, soweit dies für die "
            "Aufgabenerfüllung erforderlich ist. Eine Einwilligung ist als Rechtsgrundlage regelmäßig "
            "ungeeignet.",
        ),
        (
            "item",
            "2. Externe Anbieter von KI-Diensten sind Auftragsverarbeiter. Erforderlich ist ein Vertrag nach "
            "Art. 28 DSGVO, der die Nutzung von Eingaben zu Trainingszwecken ausschließt und den Einsatz "
            "weiterer Auftragsverarbeiter an die Genehmigung der Kommune bindet.",
        ),
        (
            "item",
            "3. Daten, die § 203 StGB unterliegen, sowie Sozial- und Steuerdaten dürfen nicht mit KI-Diensten "
            "außereuropäischer Cloud-Anbieter verarbeitet werden.",
        ),
        (
            "item",
            "4. Die Entscheidung für eine gemeinsame, selbstbetriebene KI-Infrastruktur ist von der "
            "Organisationshoheit der Kommunen nach Art. 28 Abs. 2 GG gedeckt. Eine Verpflichtung auf zentrale "
            "Angebote des Landes bedürfte einer gesetzlichen Grundlage.",
        ),
        (
            "item",
            "5. In Onlinedienste eingebundene KI-Assistenten müssen die Nutzerkonten des Portalverbunds nach "
            "§ 3 Abs. 2 OZG verwenden und dürfen keine eigene Identifizierung einführen.",
        ),
        (
            "item",
            "6. Wird für die gemeinsame Infrastruktur eine Gesellschaft in privater Rechtsform gegründet, sind "
            "die Voraussetzungen des § 108 Abs. 1 GO NRW zu erfüllen. Vorzugswürdig ist die Nutzung "
            "bestehender öffentlich-rechtlicher Strukturen nach dem GkG NRW.",
        ),
        (
            "item",
            "7. Als Betreiber im Sinne der KI-Verordnung müssen die Kommunen bereits seit dem 2. Februar 2025 "
            "für ausreichende KI-Kompetenz ihres Personals sorgen und ab dem 2. August 2026 die "
            "Transparenzpflichten nach Art. 50 KI-VO erfüllen.",
        ),
        (
            "item",
            "8. Insgesamt ist Szenario 3, der Betrieb einer gemeinsamen KI-Infrastruktur in den Rechenzentren "
            "der kommunalen IT-Dienstleister, rechtlich vorzugswürdig.",
        ),
        ("spacer", 0.8),
        ("p", "Münster, den 29. August 2025"),
        ("p", "Prof. Dr. Henrike Albers<br/>Rechtsanwältin"),
    ],
)


ORGANISATIONSGUTACHTEN = DocSpec(
    filename="organisationsgutachten-rechenzentren.pdf",
    title="Organisationsgutachten zur Konsolidierung der Rechenzentren der Mitglieder des VKID NRW",
    author="Brandt Organisationsberatung GmbH, Köln",
    subject="Organisationsgutachten im Auftrag des AK Rechenzentren – vertraulich",
    keywords="Rechenzentren, Konsolidierung, Organisationsgutachten, EnEfG, PUE, Migrationsplan, vertraulich",
    doc_type="org_report",
    working_group="AK Rechenzentren",
    visibility="confidential",
    date="2025-09-30",
    status="adopted",
    header="VERTRAULICH – nur zur Beratung in den Gremien des VKID NRW",
    footer="Organisationsgutachten Rechenzentren · Brandt Organisationsberatung · Endfassung 30.09.2025",
    pages=5,
    page_markers={
        1: ["1. Auftrag und Vorgehen", "41 Rechenzentrumsstandorte"],
        2: ["2.2 Personal", "86,4 Mio. EUR"],
        3: ["3. Handlungsoptionen", "Option B: Konsolidierung auf sechs Verbund-Rechenzentren"],
        4: ["4. Bewertung und Empfehlung", "Die Gutachter empfehlen Option B"],
        5: ["5. Migrationsplan", "31.12.2028"],
    },
    blocks=[
        ("meta", "Brandt Organisationsberatung GmbH · Köln"),
        ("title", "Organisationsgutachten zur Konsolidierung der Rechenzentren der Mitglieder des VKID NRW"),
        (
            "subtitle",
            "Erstellt im Auftrag des Arbeitskreises Rechenzentren des Verbandes kommunaler "
            "IT-Dienstleister NRW (VKID NRW)",
        ),
        (
            "meta",
            "Endfassung – Stand: 30. September 2025 – Projektleitung: Dr. Friederike Brandt, Kai Ostermann",
        ),
        ("spacer", 0.3),
        ("h1", "1. Auftrag und Vorgehen"),
        (
            "p",
            "Der Arbeitskreis Rechenzentren des VKID NRW hat die Brandt Organisationsberatung GmbH am "
            "12. März 2025 beauftragt, die Rechenzentrumslandschaft der 28 Mitglieder zu erheben und Optionen "
            "für eine Konsolidierung zu bewerten. Grundlage des Gutachtens sind eine schriftliche Erhebung von "
            "April bis Juni 2025, an der sich 26 der 28 Mitglieder beteiligt haben, 14 Interviews mit "
            "Geschäftsführungen und Rechenzentrumsleitungen sowie Begehungen von acht Standorten. Die Angaben "
            "der beiden nicht beteiligten Mitglieder wurden anhand ihrer Geschäftsberichte geschätzt.",
        ),
        ("h1", "2. Ausgangslage"),
        ("h2", "2.1 Rechenzentrumsstandorte"),
        (
            "p",
            "Die Mitglieder betreiben derzeit 41 Rechenzentrumsstandorte mit einer IT-Fläche von zusammen "
            "11.400 m². Die durchschnittliche Auslastung der Flächen liegt bei 54 Prozent; an 17 Standorten ist "
            "weniger als die Hälfte der Fläche belegt. Nur 9 Standorte erreichen die Verfügbarkeitsklasse 3 nach "
            "DIN EN 50600, die für den Betrieb kritischer Fachverfahren wie Meldewesen, Kfz-Zulassung und "
            "Sozialleistungen empfohlen wird.",
        ),
        (
            "table",
            ["Größenklasse (IT-Fläche)", "Standorte", "IT-Fläche zusammen"],
            [
                ["unter 150 m²", "19", "1.650 m²"],
                ["150 bis 500 m²", "15", "4.350 m²"],
                ["über 500 m²", "7", "5.400 m²"],
                ["gesamt", "41", "11.400 m²"],
            ],
            [7.5, 3.0, 5.0],
        ),
        (
            "p",
            "Die Standorte sind überwiegend zwischen 1998 und 2012 errichtet worden. An 23 Standorten erreichen "
            "wesentliche Komponenten der Stromversorgung oder Klimatisierung in den nächsten fünf Jahren das "
            "Ende ihrer Nutzungsdauer.",
        ),
        ("pagebreak",),
        ("h2", "2.2 Personal"),
        (
            "p",
            "Im Rechenzentrumsbetrieb (Gebäudetechnik, Plattformbetrieb, Netz und Speicher) sind "
            "312 Vollzeitäquivalente (VZÄ) beschäftigt. 23 Stellen sind seit mehr als sechs Monaten unbesetzt. "
            "Bis 2030 scheiden nach der Altersstruktur voraussichtlich weitere 61 VZÄ aus. Besonders kritisch "
            "ist die Lage bei der Gebäudetechnik: An 15 Standorten hängt der Betrieb der Strom- und Klimatechnik "
            "von ein oder zwei Personen ab.",
        ),
        ("h2", "2.3 Kosten"),
        (
            "p",
            "Die jährlichen Betriebskosten der 41 Standorte betragen zusammen 86,4 Mio. EUR. Davon entfallen "
            "29,6 Mio. EUR auf Personal, 21,7 Mio. EUR auf Energie, 18,3 Mio. EUR auf Wartung und "
            "Instandhaltung, 9,8 Mio. EUR auf Gebäude und Flächen sowie 7,0 Mio. EUR auf Netzanbindung und "
            "Sonstiges. Für die Erneuerung technischer Anlagen besteht in den nächsten fünf Jahren ein "
            "Investitionsbedarf von 38 Mio. EUR, wenn alle Standorte erhalten bleiben.",
        ),
        ("h2", "2.4 Energieeffizienz"),
        (
            "p",
            "Die mittlere Energieeffizienz (Power Usage Effectiveness, PUE) der Standorte liegt bei 1,72; die "
            "Werte reichen von 1,35 bis 2,10. Nach dem Energieeffizienzgesetz (EnEfG) müssen bestehende "
            "Rechenzentren ab dem 1. Juli 2027 einen PUE-Wert von höchstens 1,5 erreichen. Derzeit erfüllen nur "
            "12 der 41 Standorte diese Vorgabe. Für die übrigen 29 Standorte wären umfangreiche Umbauten "
            "erforderlich, die im Investitionsbedarf von 38 Mio. EUR nur teilweise enthalten sind.",
        ),
        ("h2", "2.5 Zwischenfazit"),
        (
            "p",
            "Die Rechenzentrumslandschaft der Mitglieder ist kleinteilig, gering ausgelastet und personell "
            "verwundbar. Die gesetzlichen Effizienzvorgaben und der Fachkräftemangel werden den Weiterbetrieb "
            "vieler kleiner Standorte in den nächsten Jahren erheblich erschweren.",
        ),
        ("pagebreak",),
        ("h1", "3. Handlungsoptionen"),
        (
            "p",
            "Das Gutachten untersucht drei Optionen. Alle Kostenangaben sind Nettobeträge auf Preisbasis 2025.",
        ),
        ("h2", "3.1 Option A: Modernisierung der bestehenden Standorte"),
        (
            "p",
            "Alle 41 Standorte bleiben erhalten und werden modernisiert. Die Investitionen betragen "
            "38,0 Mio. EUR, die jährlichen Betriebskosten bleiben mit 86,4 Mio. EUR unverändert.",
        ),
        (
            "p",
            "<b>Vorteile:</b> höchste Autonomie der Mitglieder, keine Migration von Fachverfahren. "
            "<b>Nachteile:</b> keine Einsparungen, das Personalproblem bleibt ungelöst, und für 29 Standorte ist "
            "die Einhaltung der EnEfG-Vorgaben ab Juli 2027 nicht gesichert.",
        ),
        ("h2", "3.2 Option B: Konsolidierung auf sechs Verbund-Rechenzentren"),
        (
            "p",
            "Der Betrieb wird auf sechs Verbund-Rechenzentren konzentriert, die als drei georedundante Paare "
            "betrieben werden: Münster und Hamm (Nord), Wuppertal und Krefeld (West) sowie Paderborn und Siegen "
            "(Ost/Süd). Die übrigen 35 Standorte werden in drei Wellen aufgegeben. Die Investitionen betragen "
            "61,0 Mio. EUR; danach sinken die jährlichen Betriebskosten auf 71,2 Mio. EUR. Die Einsparung von "
            "15,2 Mio. EUR pro Jahr (17,6 Prozent) ergibt sich vor allem aus geringeren Energie-, Wartungs- und "
            "Flächenkosten.",
        ),
        (
            "p",
            "<b>Vorteile:</b> deutliche Einsparungen, Einhaltung der EnEfG-Vorgaben, Bündelung knapper "
            "Fachkräfte. <b>Nachteile:</b> aufwendige Migration über drei Jahre, hoher Abstimmungsbedarf "
            "zwischen den Trägern.",
        ),
        ("h2", "3.3 Option C: Zentrales Verbund-Rechenzentrum"),
        (
            "p",
            "Die Mitglieder errichten gemeinsam ein neues zentrales Rechenzentrum an zwei Standorten und geben "
            "alle bestehenden Standorte auf. Die Investitionen betragen 94,0 Mio. EUR, die jährlichen "
            "Betriebskosten danach 64,8 Mio. EUR (Einsparung 21,6 Mio. EUR pro Jahr).",
        ),
        (
            "p",
            "<b>Vorteile:</b> höchste Einsparungen und modernste Technik. <b>Nachteile:</b> Planungs- und "
            "Bauzeit von mindestens fünf Jahren, hohes Bau- und Finanzierungsrisiko und die Gefahr, dass die "
            "bestehenden Standorte die EnEfG-Frist 2027 trotzdem nicht einhalten.",
        ),
        ("pagebreak",),
        ("h1", "4. Bewertung und Empfehlung"),
        ("h2", "4.1 Kostenvergleich"),
        (
            "table",
            ["Option", "Standorte", "Investition", "Betriebskosten p. a.", "Einsparung p. a.", "Umsetzung"],
            [
                ["A", "41", "38,0 Mio. EUR", "86,4 Mio. EUR", "0,0 Mio. EUR", "2 Jahre"],
                ["B", "6", "61,0 Mio. EUR", "71,2 Mio. EUR", "15,2 Mio. EUR", "3 Jahre"],
                ["C", "2", "94,0 Mio. EUR", "64,8 Mio. EUR", "21,6 Mio. EUR", "5 Jahre"],
            ],
            [1.6, 2.0, 3.0, 3.6, 3.4, 2.4],
        ),
        (
            "p",
            "Gegenüber Option A erfordert Option B Mehrinvestitionen von 23,0 Mio. EUR. Sie amortisieren sich "
            "durch die jährlichen Einsparungen von 15,2 Mio. EUR nach rund 18 Monaten Vollbetrieb.",
        ),
        ("h2", "4.2 Nutzwertanalyse"),
        (
            "p",
            "Die Optionen wurden anhand von fünf Kriterien bewertet: Wirtschaftlichkeit (Gewicht 30 Prozent), "
            "Versorgungssicherheit (25 Prozent), Umsetzungsrisiko (20 Prozent), Personal (15 Prozent) und "
            "Nachhaltigkeit (10 Prozent). Auf einer Skala von 1 bis 5 erreicht Option A 2,4 Punkte, Option B "
            "4,1 Punkte und Option C 3,3 Punkte.",
        ),
        ("h2", "4.3 Empfehlung"),
        (
            "p",
            "Die Gutachter empfehlen Option B, die Konsolidierung auf sechs Verbund-Rechenzentren in drei "
            "georedundanten Paaren. Option B verbindet deutliche Einsparungen mit einem beherrschbaren "
            "Umsetzungsrisiko und stellt sicher, dass alle weiterbetriebenen Standorte die Vorgaben des "
            "Energieeffizienzgesetzes ab dem 1. Juli 2027 erfüllen. Option C wird nicht empfohlen, weil die "
            "lange Bauzeit das Problem der bestehenden Standorte nicht rechtzeitig löst.",
        ),
        ("h2", "4.4 Abstand der Standortpaare"),
        (
            "p",
            "Das Bundesamt für Sicherheit in der Informationstechnik empfiehlt für georedundante Rechenzentren "
            "einen Abstand von 200 km. Die vorgeschlagenen Paare liegen zwischen 35 und 120 km auseinander. Wir "
            "halten diesen Abstand für die kommunalen Anforderungen für ausreichend, wenn das verbleibende "
            "Risiko regionaler Schadensereignisse im Notfallkonzept ausdrücklich bewertet wird.",
        ),
        ("pagebreak",),
        ("h1", "5. Migrationsplan"),
        ("h2", "5.1 Meilensteine"),
        ("p", "Die Umsetzung von Option B erfolgt in sechs Meilensteinen:"),
        (
            "item",
            "M1 (31.03.2026): Grundsatzbeschluss der Mitgliederversammlung und Abschluss eines "
            "Kooperationsvertrags der Träger.",
        ),
        ("item", "M2 (30.09.2026): Feinkonzept, Standortverträge und Migrationsplanung je Fachverfahren."),
        ("item", "M3 (31.03.2027): Ertüchtigung der sechs Verbund-Rechenzentren abgeschlossen."),
        ("item", "M4 (31.12.2027): Migrationswelle 1 abgeschlossen, 14 Standorte aufgegeben."),
        ("item", "M5 (30.06.2028): Migrationswelle 2 abgeschlossen, weitere 12 Standorte aufgegeben."),
        (
            "item",
            "M6 (31.12.2028): Migrationswelle 3 abgeschlossen, die letzten 9 Standorte aufgegeben; die "
            "Konsolidierung ist damit beendet.",
        ),
        ("h2", "5.2 Personal"),
        (
            "p",
            "Betriebsbedingte Kündigungen sind ausgeschlossen. Rund 48 VZÄ wechseln im Wege der "
            "Personalgestellung an die Verbund-Rechenzentren; der übrige Anpassungsbedarf wird über die "
            "natürliche Fluktuation abgebaut. Die Personalräte der Träger sind ab Meilenstein M2 zu beteiligen.",
        ),
        ("h2", "5.3 Risiken und Steuerung"),
        (
            "p",
            "Wesentliche Risiken sind Verzögerungen bei der Migration von Fachverfahren mit Herstellerbindung, "
            "Lieferzeiten von derzeit bis zu 40 Wochen für Stromversorgungs- und Klimatechnik sowie "
            "unterschiedliche Beschlusslagen in den Trägergremien. Für die Steuerung empfehlen wir ein "
            "gemeinsames Programmbüro mit 4 VZÄ, dessen Kosten von 0,6 Mio. EUR jährlich in den Investitionen "
            "enthalten sind.",
        ),
        ("h1", "6. Nächste Schritte"),
        (
            "p",
            "Der Arbeitskreis Rechenzentren sollte dem Vorstand empfehlen, der Mitgliederversammlung im März "
            "2026 einen Grundsatzbeschluss für Option B vorzulegen. Bis dahin ist dieses Gutachten vertraulich "
            "zu behandeln.",
        ),
    ],
)


HANDLUNGSEMPFEHLUNG = DocSpec(
    filename="handlungsempfehlung-informationssicherheit.docx",
    title="Handlungsempfehlung: Mindeststandards der Informationssicherheit für kommunale IT-Dienstleister",
    author="VKID NRW – Arbeitskreis Informationssicherheit",
    subject="Handlungsempfehlung des AK Informationssicherheit, Version 1.0",
    keywords="Informationssicherheit, ISMS, IT-Grundschutz, Notfallmanagement, Patchmanagement, MFA, Datensicherung",
    doc_type="recommendation",
    working_group="AK Informationssicherheit",
    visibility="internal",
    date="2025-10-07",
    status="adopted",
    blocks=[
        ("title", "Mindeststandards der Informationssicherheit für kommunale IT-Dienstleister"),
        (
            "subtitle",
            "Handlungsempfehlung des Arbeitskreises Informationssicherheit des Verbandes "
            "kommunaler IT-Dienstleister NRW (VKID NRW)",
        ),
        (
            "meta",
            "Version 1.0 – Status: beschlossen am 07.10.2025 – Redaktion: Heike Pohlmann, Sabine Kortmann, "
            "Ömer Yildiz",
        ),
        ("h1", "1 Zweck und Geltungsbereich"),
        (
            "p",
            "Diese Handlungsempfehlung legt Mindeststandards fest, die alle Mitglieder des VKID NRW in ihren "
            "Rechenzentren und für die von ihnen betriebenen Fachverfahren umsetzen sollen. Sie richtet sich an "
            "Geschäftsführungen, Informationssicherheitsbeauftragte und IT-Betrieb. Die Mindeststandards gelten "
            "auch für Dienste, die Mitglieder gemeinsam betreiben, insbesondere für die geplante gemeinsame "
            "KI-Infrastruktur.",
        ),
        ("h1", "2 Informationssicherheitsmanagement"),
        ("h2", "2.1 ISMS nach BSI IT-Grundschutz"),
        (
            "p",
            "Jedes Mitglied betreibt ein Informationssicherheitsmanagementsystem (ISMS) nach den BSI-Standards "
            "200-1, 200-2 und 200-3. Bis zum 31.12.2026 ist mindestens die Standard-Absicherung nach "
            "IT-Grundschutz für alle Rechenzentrumsleistungen umzusetzen. Mitglieder, die Fachverfahren für "
            "mehr als 100.000 Einwohnerinnen und Einwohner betreiben, sollen bis zum 31.12.2027 eine "
            "ISO 27001-Zertifizierung auf der Basis von IT-Grundschutz erreichen.",
        ),
        ("h2", "2.2 Rollen und Berichtswesen"),
        (
            "p",
            "Jedes Mitglied benennt eine Informationssicherheitsbeauftragte oder einen "
            "Informationssicherheitsbeauftragten (ISB), die oder der unmittelbar der Geschäftsführung berichtet. "
            "Für je 500 Beschäftigte der betreuten Verwaltungen ist mindestens eine Vollzeitstelle für die "
            "Informationssicherheit vorzusehen. Der ISB berichtet der Geschäftsführung vierteljährlich über "
            "Sicherheitslage, Vorfälle und Umsetzungsstand.",
        ),
        ("h1", "3 Notfallmanagement"),
        ("h2", "3.1 Notfallvorsorge nach BSI-Standard 200-4"),
        (
            "p",
            "Jedes Mitglied führt ein Notfallmanagement nach BSI-Standard 200-4 ein und hält ein aktuelles "
            "Notfallhandbuch vor. Für kritische Fachverfahren wie Meldewesen, Personenstandswesen und "
            "Sozialleistungen darf die maximal tolerierbare Ausfallzeit 24 Stunden nicht überschreiten. Das "
            "Notfallhandbuch ist mindestens einmal jährlich zu überprüfen und liegt zusätzlich in Papierform vor.",
        ),
        ("h2", "3.2 Notfallübungen"),
        (
            "p",
            "Mindestens einmal jährlich ist eine Notfallübung durchzuführen, die den Wiederanlauf eines "
            "kritischen Fachverfahrens aus der Datensicherung einschließt. Die Ergebnisse werden dokumentiert "
            "und fließen in die Überarbeitung des Notfallhandbuchs ein.",
        ),
        ("h2", "3.3 Meldung von Sicherheitsvorfällen"),
        (
            "p",
            "Schwerwiegende Sicherheitsvorfälle sind innerhalb von 24 Stunden der Geschäftsstelle des VKID NRW "
            "und dem zuständigen Landes-CERT zu melden, damit andere Mitglieder gewarnt werden können. "
            "Gesetzliche Meldepflichten, etwa nach Art. 33 DSGVO, bleiben unberührt.",
        ),
        ("h1", "4 Technische Mindestmaßnahmen"),
        ("h2", "4.1 Patchmanagement"),
        (
            "p",
            "Sicherheitsupdates werden nach der Kritikalität der Schwachstelle (CVSS-Basiswert) in festen "
            "Fristen eingespielt. Kritische Sicherheitsupdates (CVSS 9,0 bis 10,0) sind innerhalb von "
            "72 Stunden nach Veröffentlichung einzuspielen.",
        ),
        ("bullet", "Kritisch (CVSS 9,0 bis 10,0): innerhalb von 72 Stunden"),
        ("bullet", "Hoch (CVSS 7,0 bis 8,9): innerhalb von 7 Tagen"),
        ("bullet", "Mittel (CVSS 4,0 bis 6,9): innerhalb von 30 Tagen"),
        (
            "bullet",
            "Niedrig (CVSS unter 4,0): im nächsten regulären Wartungszyklus, spätestens nach 90 Tagen",
        ),
        (
            "p",
            "Kann eine Frist nicht eingehalten werden, etwa weil der Hersteller eines Fachverfahrens ein Update "
            "noch nicht freigegeben hat, sind die Ausnahme und die ergriffenen kompensierenden Maßnahmen zu "
            "dokumentieren und vom ISB freizugeben.",
        ),
        ("h2", "4.2 Multi-Faktor-Authentisierung"),
        (
            "p",
            "Multi-Faktor-Authentisierung (MFA) ist bis zum 30.06.2026 verpflichtend für alle administrativen "
            "Zugänge, alle Fernzugänge einschließlich VPN, den Zugriff auf E-Mail aus dem Internet und alle "
            "Zugänge von Dienstleistern einzuführen. Für administrative Zugänge sind phishing-resistente "
            "Verfahren wie FIDO2-Sicherheitsschlüssel zu verwenden; SMS ist als zweiter Faktor für "
            "administrative Zugänge nicht zulässig.",
        ),
        ("h2", "4.3 Datensicherung nach der 3-2-1-Regel"),
        (
            "p",
            "Die Datensicherung folgt der 3-2-1-Regel: Von allen Daten gibt es mindestens drei Kopien auf "
            "zwei verschiedenen Speichermedien, und eine Kopie wird außerhalb des Standorts aufbewahrt. "
            "Zusätzlich ist eine Kopie offline oder unveränderbar (immutable) vorzuhalten, damit sie bei einem "
            "Ransomware-Angriff nicht verschlüsselt werden kann.",
        ),
        (
            "p",
            "Tägliche Sicherungen werden 30 Tage, monatliche Sicherungen 12 Monate aufbewahrt. Die "
            "Wiederherstellung wird mindestens vierteljährlich an einem repräsentativen Fachverfahren getestet.",
        ),
        ("h2", "4.4 Protokollierung und Detektion"),
        (
            "p",
            "Sicherheitsrelevante Ereignisse aus Firewalls, VPN-Gateways, Verzeichnisdiensten und "
            "Servern werden zentral gesammelt und mindestens 180 Tage aufbewahrt. Die Auswertung erfolgt "
            "automatisiert; Alarme zu kritischen Ereignissen werden auch außerhalb der Dienstzeit bearbeitet.",
        ),
        ("h1", "5 Umsetzung und Nachweis"),
        (
            "p",
            "Die Mitglieder bewerten ihren Umsetzungsstand jährlich bis zum 31.03. mit dem Fragebogen des "
            "AK Informationssicherheit. Der AK berichtet dem Vorstand in zusammengefasster Form ohne Nennung "
            "einzelner Mitglieder. Die Handlungsempfehlung wird spätestens im Oktober 2027 überprüft.",
        ),
        ("h1", "6 Beschluss"),
        (
            "p",
            "Diese Handlungsempfehlung wurde vom Arbeitskreis Informationssicherheit in seiner 22. Sitzung am "
            "07.10.2025 in Münster beschlossen (Abstimmungsergebnis: 11 Ja, 0 Nein, 1 Enthaltung). Sie ersetzt "
            "den Entwurf der Redaktionsgruppe vom 12.09.2025.",
        ),
    ],
)


PROTOKOLL_RZ = DocSpec(
    filename="protokoll-ak-rechenzentren-2025-10-15.docx",
    title="Protokoll der 9. Sitzung des AK Rechenzentren",
    author="VKID NRW – Geschäftsstelle",
    subject="Sitzungsprotokoll des AK Rechenzentren vom 15.10.2025",
    keywords="Protokoll, AK Rechenzentren, Konsolidierung, Organisationsgutachten, Energieeffizienz",
    doc_type="minutes",
    working_group="AK Rechenzentren",
    visibility="group",
    date="2025-10-15",
    status="adopted",
    blocks=[
        ("h1", "Protokoll der 9. Sitzung des Arbeitskreises Rechenzentren"),
        ("label", "Datum:", "15.10.2025, 13:00–17:00 Uhr"),
        ("label", "Ort:", "KDZ Hellweg, Hamm, Sitzungssaal im Verwaltungsgebäude"),
        ("label", "Sitzungsleitung:", "Bernd Holtkamp (KDZ Hellweg), Sprecher des AK"),
        ("label", "Protokoll:", "Jonas Wellmann (Geschäftsstelle VKID NRW)"),
        ("label", "Anwesend:", ""),
        ("bullet", "Bernd Holtkamp (KDZ Hellweg)"),
        ("bullet", "Claudia Rensing (Rhein-Ruhr Kommunaldienste)"),
        ("bullet", "Michael Tiemann (Münsterland-IT eG)"),
        ("bullet", "Sven Kaltenbach (Bergisch-Märkisches Rechenzentrum)"),
        ("bullet", "Ingrid Vollmer (ITZ Niederrhein)"),
        ("bullet", "Georg Hagedorn (Lippe-Weser-IT AöR)"),
        ("bullet", "Elke Bremer (Sauerland-IT Kommunal)"),
        ("bullet", "Dr. Lars Wiegand (OWL Kommunal-IT)"),
        ("bullet", "Norbert Kamps (Eifel-Rur Datenverarbeitung)"),
        ("bullet", "Yvonne Scholten (Kommunale Datenzentrale Emscher-Lippe)"),
        ("bullet", "Uwe Gerdes (Siegerland Kommunal-IT)"),
        ("bullet", "Rainer Pielken (KDZ Hellweg, Gebäudetechnik)"),
        ("bullet", "Jonas Wellmann (Geschäftsstelle VKID NRW, ohne Stimmrecht)"),
        (
            "label",
            "Gäste:",
            "Dr. Friederike Brandt und Kai Ostermann (Brandt Organisationsberatung GmbH) zu TOP 2 und TOP 3",
        ),
        ("h2", "TOP 1: Begrüßung und Genehmigung der Tagesordnung"),
        (
            "p",
            "Herr Holtkamp begrüßt die Anwesenden und stellt die Beschlussfähigkeit fest: 12 von 13 "
            "stimmberechtigten Mitgliedern sind anwesend. Er weist darauf hin, dass das Organisationsgutachten "
            "vertraulich ist und nur in den Gremien des Verbandes beraten werden darf.",
        ),
        (
            "decision",
            "Die Tagesordnung und das Protokoll der 8. Sitzung vom 10.07.2025 werden genehmigt. "
            "Abstimmungsergebnis: einstimmig.",
        ),
        ("h2", "TOP 2: Vorstellung des Organisationsgutachtens zur Konsolidierung der Rechenzentren"),
        (
            "p",
            "Frau Dr. Brandt stellt die Ergebnisse des Gutachtens in der Endfassung vom 30.09.2025 vor. Die "
            "Mitglieder betreiben 41 Rechenzentrumsstandorte mit jährlichen Betriebskosten von 86,4 Mio. EUR. "
            "Nur 12 Standorte erreichen bereits heute den ab dem 01.07.2027 geforderten PUE-Wert von höchstens "
            "1,5. Das Gutachten vergleicht drei Optionen und empfiehlt Option B, die Konsolidierung auf sechs "
            "Verbund-Rechenzentren in drei georedundanten Paaren mit einer jährlichen Einsparung von "
            "15,2 Mio. EUR.",
        ),
        (
            "p",
            "In der Aussprache fragt Herr Hagedorn nach den Folgen für kleinere Mitglieder ohne eigenen "
            "Verbundstandort. Herr Ostermann erläutert, dass diese Mitglieder ihre Fachverfahren weiter selbst "
            "verantworten und lediglich Fläche, Strom, Klima und Plattformbetrieb im Verbund beziehen.",
        ),
        ("h2", "TOP 3: Beratung und Empfehlung an den Vorstand"),
        (
            "p",
            "Herr Kaltenbach und Frau Vollmer sprechen sich für Option B aus, weil sie die EnEfG-Frist sicher "
            "einhält. Herr Hagedorn und Frau Bremer lehnen die Empfehlung ab, solange die Verteilung der "
            "Investitionskosten auf die Träger nicht geklärt ist. Herr Gerdes enthält sich. Der AK vereinbart, "
            "die Kostenverteilung im Feinkonzept (Meilenstein M2) zu regeln.",
        ),
        (
            "decision",
            "Der AK Rechenzentren empfiehlt dem Vorstand, der Mitgliederversammlung im März 2026 einen "
            "Grundsatzbeschluss zur Konsolidierung der Rechenzentren nach Option B des "
            "Organisationsgutachtens vorzulegen. Abstimmungsergebnis: 9 Ja, 2 Nein, 1 Enthaltung.",
        ),
        (
            "task",
            "Beschlussvorlage für die Mitgliederversammlung zur Konsolidierung nach Option B erstellen – "
            "verantwortlich: Bernd Holtkamp (KDZ Hellweg) – bis: 15.01.2026",
        ),
        (
            "task",
            "Vorschlag für die Verteilung der Investitionskosten von 61,0 Mio. EUR auf die Träger "
            "erarbeiten – verantwortlich: Claudia Rensing (Rhein-Ruhr Kommunaldienste) und Georg Hagedorn "
            "(Lippe-Weser-IT AöR) – bis: 28.11.2025",
        ),
        ("h2", "TOP 4: Umgang mit dem vertraulichen Gutachten"),
        (
            "p",
            "Der AK berät, wie die Beschäftigten der Mitglieder informiert werden sollen, bevor die "
            "Mitgliederversammlung entschieden hat. Die Personalräte sollen frühzeitig, aber erst nach dem "
            "Beschluss des Vorstands eingebunden werden.",
        ),
        (
            "decision",
            "Das Organisationsgutachten bleibt bis zur Mitgliederversammlung im März 2026 vertraulich und "
            "wird nur den Mitgliedern des AK Rechenzentren und des Vorstands zugänglich gemacht. "
            "Abstimmungsergebnis: einstimmig.",
        ),
        (
            "task",
            "Informationspapier für Personalräte und Beschäftigte entwerfen – verantwortlich: Michael "
            "Tiemann (Münsterland-IT eG) – bis: 30.01.2026",
        ),
        ("h2", "TOP 5: Berichtspflichten nach dem Energieeffizienzgesetz"),
        (
            "p",
            "Herr Pielken erinnert an die jährlichen Meldepflichten der Rechenzentrumsbetreiber nach dem "
            "Energieeffizienzgesetz. Für eine einheitliche Darstellung im Verband sollen die PUE-Werte aller "
            "Standorte für das Jahr 2025 nach derselben Methode erhoben werden.",
        ),
        (
            "decision",
            "Die Mitglieder erheben die PUE-Werte aller Standorte für 2025 nach der von Herrn Pielken "
            "vorgestellten Methode. Abstimmungsergebnis: einstimmig.",
        ),
        (
            "task",
            "Erhebungsbogen für PUE-Werte an die Mitglieder versenden – verantwortlich: Rainer Pielken "
            "(KDZ Hellweg) – bis: 31.10.2025",
        ),
        ("h2", "TOP 6: Verschiedenes und nächste Sitzung"),
        (
            "p",
            "Die nächste Sitzung findet am 10.12.2025 in Wuppertal beim Bergisch-Märkischen Rechenzentrum "
            "statt. Herr Holtkamp schließt die Sitzung um 16:50 Uhr.",
        ),
        ("p", "Hamm, 22.10.2025"),
        ("p", "gez. Bernd Holtkamp (Sitzungsleitung) – gez. Jonas Wellmann (Protokoll)"),
    ],
)

PDF_SPECS = [POSITIONSPAPIER, RECHTSGUTACHTEN, ORGANISATIONSGUTACHTEN]
DOCX_SPECS = [HANDLUNGSEMPFEHLUNG, PROTOKOLL_RZ]
MARKDOWN_FILES = [
    "protokoll-ak-ki-2025-09-18.md",
    "protokoll-ak-ki-2025-11-20.md",
    "protokoll-ak-informationssicherheit-2025-10-07.md",
]

# ---------------------------------------------------------------------------------------------------------------
# Gold questions. `text` must be a verbatim substring of the document's extracted text (of `page` for PDFs)
# after collapsing whitespace; every answer must occur in one of its relevant passages.
# ---------------------------------------------------------------------------------------------------------------

PP, RG, OG = POSITIONSPAPIER.filename, RECHTSGUTACHTEN.filename, ORGANISATIONSGUTACHTEN.filename
HE, RZ = HANDLUNGSEMPFEHLUNG.filename, PROTOKOLL_RZ.filename
KI1, KI2, IS = "protokoll-ak-ki-2025-09-18.md", "protokoll-ak-ki-2025-11-20.md", MARKDOWN_FILES[2]


def _q(
    question: str, answers: list[str], *relevant: tuple[str, str] | tuple[str, str, int]
) -> dict[str, Any]:
    rel = [{"doc": r[0], "text": r[1], **({"page": r[2]} if len(r) > 2 else {})} for r in relevant]
    return {"question": question, "answers": answers, "relevant": rel}


_QUESTIONS = [
    _q(
        "Welche Mindestanforderungen stellt das Positionspapier an KI-Dienste?",
        ["Betrieb ausschließlich in Rechenzentren der Mitglieder"],
        (
            PP,
            "Jeder KI-Dienst, der auf der gemeinsamen Infrastruktur angeboten wird, muss die folgenden "
            "Mindestanforderungen erfüllen: (1) Betrieb ausschließlich in Rechenzentren der Mitglieder; keine "
            "Übermittlung von Daten an Dritte. (2) Einsatz von Open-Weight-Modellen, deren Lizenz die Nutzung "
            "durch die öffentliche Verwaltung ohne Nutzungsentgelt erlaubt.",
            2,
        ),
    ),
    _q(
        "Wie viele GPUs muss der GPU-Cluster der gemeinsamen KI-Infrastruktur mindestens haben?",
        ["mindestens 16 GPUs mit je 80 GB Grafikspeicher"],
        (
            PP,
            "Für den Vollbetrieb ist ein GPU-Cluster mit mindestens 16 GPUs mit je 80 GB Grafikspeicher "
            "erforderlich, verteilt auf zwei georedundante Standorte mit je 8 GPUs.",
            2,
        ),
        (
            KI1,
            "Der AK legt für das Positionspapier eine technische Mindestausstattung von 16 GPUs mit je 80 GB "
            "Grafikspeicher an zwei Standorten fest und beauftragt die Redaktionsgruppe, den Entwurf "
            "einschließlich eines Finanzierungsmodells mit Sockelbetrag zu überarbeiten.",
        ),
    ),
    _q(
        "Wie werden die laufenden Betriebskosten der KI-Infrastruktur auf die Mitglieder verteilt?",
        ["0,1427 EUR je Einwohnerin und Einwohner und Jahr"],
        (
            PP,
            "Jedes Mitglied zahlt einen jährlichen Sockelbetrag von 2.500 EUR; bei 28 Mitgliedern sind das "
            "70.000 EUR. Die verbleibenden 1,37 Mio. EUR werden nach der Einwohnerzahl der angeschlossenen "
            "Kommunen verteilt. Bei insgesamt 9,6 Mio. Einwohnerinnen und Einwohnern ergibt sich ein Betrag von "
            "0,1427 EUR je Einwohnerin und Einwohner und Jahr.",
            3,
        ),
    ),
    _q(
        "Bis wann sollen alle 28 Mitglieder an die gemeinsame KI-Infrastruktur angeschlossen sein?",
        ["31. Dezember 2027"],
        (
            PP,
            "Auf Grundlage des Evaluationsberichts zur Pilotphase beginnt der Rollout am 1. April 2027 mit zehn "
            "Mitgliedern in der ersten Stufe. Bis zum 31. Dezember 2027 sollen alle 28 Mitglieder angeschlossen "
            "sein.",
            4,
        ),
    ),
    _q(
        "Welchen Anteil der Investitionskosten soll das Land Nordrhein-Westfalen laut Positionspapier fördern?",
        ["60 Prozent"],
        (
            PP,
            "60 Prozent der Investitionskosten, also 2,88 Mio. EUR, aus Landesmitteln zu fördern und die Mittel "
            "bis zum 30. Juni 2026 verbindlich zuzusagen, damit die Ausschreibung des GPU-Clusters im September "
            "2026 beginnen kann;",
            5,
        ),
        (
            PP,
            "Der VKID NRW bittet das Land, 60 Prozent der Investitionskosten (2,88 Mio. EUR) zu fördern.",
            3,
        ),
    ),
    _q(
        "Auf welche Rechtsgrundlage können Kommunen die Verarbeitung personenbezogener Daten mit KI-Diensten "
        "stützen?",
        ["Art. 6 Abs. 1 lit. e DSGVO"],
        (
            RG,
            "Kommunen verarbeiten personenbezogene Daten im Rahmen ihrer öffentlichen Aufgaben. "
            "Rechtsgrundlage ist daher Art. 6 Abs. 1 lit. e DSGVO in Verbindung mit der jeweiligen "
            "fachgesetzlichen Aufgabennorm und ergänzend § 3 DSG NRW.",
            2,
        ),
    ),
    _q(
        "Dürfen Daten, die dem § 203 StGB unterliegen, mit KI-Diensten außereuropäischer Cloud-Anbieter "
        "verarbeitet werden?",
        ["dürfen nicht mit KI-Diensten außereuropäischer Cloud-Anbieter verarbeitet werden"],
        (
            RG,
            "3. Daten, die § 203 StGB unterliegen, sowie Sozial- und Steuerdaten dürfen nicht mit KI-Diensten "
            "außereuropäischer Cloud-Anbieter verarbeitet werden.",
            6,
        ),
        (RG, "Daten, die § 203 StGB unterliegen, sollten deshalb nicht in Szenario 1 verarbeitet werden.", 3),
    ),
    _q(
        "Ab wann gelten die Transparenzpflichten nach Art. 50 der KI-Verordnung?",
        ["2. August 2026"],
        (RG, "Die Transparenzpflichten nach Art. 50 KI-VO gelten ab dem 2. August 2026.", 5),
        (
            RG,
            "7. Als Betreiber im Sinne der KI-Verordnung müssen die Kommunen bereits seit dem 2. Februar 2025 "
            "für ausreichende KI-Kompetenz ihres Personals sorgen und ab dem 2. August 2026 die "
            "Transparenzpflichten nach Art. 50 KI-VO erfüllen.",
            6,
        ),
    ),
    _q(
        "Welche Option empfiehlt das Organisationsgutachten für die Konsolidierung der Rechenzentren?",
        ["Option B"],
        (
            OG,
            "Die Gutachter empfehlen Option B, die Konsolidierung auf sechs Verbund-Rechenzentren in drei "
            "georedundanten Paaren.",
            4,
        ),
    ),
    _q(
        "Wann soll die Konsolidierung der Rechenzentren laut Migrationsplan abgeschlossen sein?",
        ["31.12.2028"],
        (
            OG,
            "M6 (31.12.2028): Migrationswelle 3 abgeschlossen, die letzten 9 Standorte aufgegeben; die "
            "Konsolidierung ist damit beendet.",
            5,
        ),
    ),
    _q(
        "Innerhalb welcher Frist müssen kritische Sicherheitsupdates eingespielt werden?",
        ["72 Stunden"],
        (
            HE,
            "Kritische Sicherheitsupdates (CVSS 9,0 bis 10,0) sind innerhalb von 72 Stunden nach "
            "Veröffentlichung einzuspielen.",
        ),
        (
            IS,
            "Der AK einigt sich auf 72 Stunden ab Veröffentlichung des Updates und auf eine "
            "Dokumentationspflicht für Ausnahmen mit kompensierenden Maßnahmen.",
        ),
    ),
    _q(
        "Wann findet die gemeinsame Notfallübung des AK Informationssicherheit statt?",
        ["18.03.2026"],
        (
            IS,
            "Der AK führt am 18.03.2026 eine gemeinsame Notfallübung mit dem Szenario „Ransomware-Angriff auf "
            "ein Rechenzentrum“ durch.",
        ),
    ),
    _q(
        "Bis wann sollte die Bewertungsmatrix für die Sprachmodelle erstellt werden?",
        ["06.11.2025"],
        (
            KI1,
            "Aufgabe: Bewertungsmatrix für Sprachmodelle erstellen und dem AK vorlegen – verantwortlich: "
            "Dr. Selin Arslan (Münsterland-IT eG) – bis: 06.11.2025",
        ),
    ),
    _q(
        "Welches Pilotbudget hat der AK KI und Automatisierung zuletzt für den KI-Wissensassistenten "
        "beschlossen?",
        ["320.000 EUR"],
        (
            KI2,
            "Der Beschluss zu TOP 3 der 14. Sitzung vom 18.09.2025 wird geändert: Das Pilotbudget des "
            "KI-Wissensassistenten wird von 250.000 EUR auf 320.000 EUR erhöht.",
        ),
    ),
    _q(
        "Bis wann soll die Beschlussvorlage zur Konsolidierung der Rechenzentren für die Mitgliederversammlung "
        "erstellt werden?",
        ["15.01.2026"],
        (
            RZ,
            "Aufgabe: Beschlussvorlage für die Mitgliederversammlung zur Konsolidierung nach Option B erstellen "
            "– verantwortlich: Bernd Holtkamp (KDZ Hellweg) – bis: 15.01.2026",
        ),
    ),
]
QUESTIONS: list[dict[str, Any]] = [{"id": f"corpus-{n}", **q} for n, q in enumerate(_QUESTIONS, start=1)]


# ---------------------------------------------------------------------------------------------------------------
# PDF rendering
# ---------------------------------------------------------------------------------------------------------------


def _pdf_styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "Body", fontName="Helvetica", fontSize=10, leading=14, alignment=TA_JUSTIFY, spaceAfter=6
    )
    return {
        "p": base,
        "item": ParagraphStyle(
            "Item", parent=base, leftIndent=18, firstLineIndent=-12, spaceAfter=3, alignment=TA_LEFT
        ),
        "title": ParagraphStyle(
            "DocTitle",
            fontName="Helvetica-Bold",
            fontSize=17,
            leading=21,
            spaceAfter=8,
            textColor=colors.HexColor("#12355b"),
        ),
        "subtitle": ParagraphStyle(
            "DocSubtitle", fontName="Helvetica", fontSize=12, leading=15, spaceAfter=6
        ),
        "meta": ParagraphStyle(
            "DocMeta",
            fontName="Helvetica",
            fontSize=8.5,
            leading=11,
            spaceAfter=4,
            textColor=colors.HexColor("#555555"),
        ),
        "h1": ParagraphStyle(
            "Heading1",
            fontName="Helvetica-Bold",
            fontSize=13,
            leading=16,
            spaceBefore=10,
            spaceAfter=6,
            textColor=colors.HexColor("#12355b"),
        ),
        "h2": ParagraphStyle(
            "Heading2", fontName="Helvetica-Bold", fontSize=11, leading=14, spaceBefore=7, spaceAfter=4
        ),
        "h3": ParagraphStyle(
            "Heading3", fontName="Helvetica-BoldOblique", fontSize=10, leading=13, spaceBefore=5, spaceAfter=3
        ),
        "cell": ParagraphStyle("Cell", fontName="Helvetica", fontSize=9, leading=11),
        "cellhead": ParagraphStyle("CellHead", fontName="Helvetica-Bold", fontSize=9, leading=11),
    }


def _pdf_flowables(spec: DocSpec) -> list[Any]:
    styles = _pdf_styles()
    story: list[Any] = []
    pending_heading: list[Any] = []
    for block in spec.blocks:
        kind = block[0]
        if kind == "pagebreak":
            story.extend(pending_heading)
            pending_heading = []
            story.append(PageBreak())
            continue
        if kind == "spacer":
            story.append(Spacer(1, block[1] * cm))
            continue
        if kind == "table":
            _, header, rows, widths = block
            data = [[Paragraph(c, styles["cellhead"]) for c in header]]
            data += [[Paragraph(c, styles["cell"]) for c in row] for row in rows]
            table = Table(data, colWidths=[w * cm for w in widths], hAlign="LEFT")
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6ecf2")),
                        ("VALIGN", (0, 0), (-1, -1), "TOP"),
                        ("TOPPADDING", (0, 0), (-1, -1), 2),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                    ]
                )
            )
            story.append(KeepTogether([*pending_heading, table, Spacer(1, 6)]))
            pending_heading = []
            continue
        para = Paragraph(block[1], styles[kind])
        if kind in ("h1", "h2", "h3"):
            pending_heading.append(para)  # keep a heading with what follows it
            continue
        if pending_heading:
            story.append(KeepTogether([*pending_heading, para]))
            pending_heading = []
        else:
            story.append(para)
    story.extend(pending_heading)
    return story


def _fixed_datetime(spec: DocSpec) -> datetime:
    """The creation/modification time written into a generated file: 09:00 UTC on the document's date."""
    return datetime.fromisoformat(spec.date + "T09:00:00+00:00")


def build_pdf(spec: DocSpec, out_dir: Path) -> Path:
    path = out_dir / spec.filename

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        width, _height = A4
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor("#555555"))
        if spec.header:
            canvas.setFont("Helvetica-Bold", 8)
            canvas.setFillColor(colors.HexColor("#a11d1d"))
            canvas.drawCentredString(width / 2, A4[1] - 1.3 * cm, spec.header)
            canvas.setFont("Helvetica", 8)
            canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(2.2 * cm, 1.3 * cm, spec.footer)
        canvas.drawRightString(width - 2.2 * cm, 1.3 * cm, f"Seite {doc.page}")
        canvas.restoreState()

    margin = 2.2 * cm
    doc = BaseDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=spec.title,
        author=spec.author,
        subject=spec.subject,
        keywords=spec.keywords,
        creator="VKID NRW Beispielkorpus (corpus/build_corpus.py)",
        lang="de-DE",
        displayDocTitle=1,
        invariant=1,
    )
    frame = Frame(margin, margin, A4[0] - 2 * margin, A4[1] - 2 * margin, id="body")
    # Header and footer are drawn at the end of each page, so a page's text layer starts with its content.
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPageEnd=decorate)])
    # Invariant mode alone would stamp every PDF with 2000-01-01; ReportLab takes SOURCE_DATE_EPOCH instead, so the
    # document info carries the document's own date and the output stays reproducible.
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(_fixed_datetime(spec).timestamp()))
    try:
        doc.build(_pdf_flowables(spec))
    finally:
        if previous is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous
    return path


# ---------------------------------------------------------------------------------------------------------------
# DOCX rendering
# ---------------------------------------------------------------------------------------------------------------


def build_docx(spec: DocSpec, out_dir: Path) -> Path:
    import docx
    from docx.oxml.ns import qn
    from docx.shared import Pt

    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(11)
    # German as the document language, so spell checking and hyphenation in Word behave.
    rpr_default = document.styles.element.find(qn("w:docDefaults"))
    if rpr_default is not None:
        for lang in rpr_default.iter(qn("w:lang")):
            lang.set(qn("w:val"), "de-DE")

    for block in spec.blocks:
        kind = block[0]
        if kind == "title":
            document.add_paragraph(block[1], style="Title")
        elif kind == "subtitle":
            document.add_paragraph(block[1], style="Subtitle")
        elif kind == "meta":
            para = document.add_paragraph()
            run = para.add_run(block[1])
            run.italic = True
        elif kind == "h1":
            document.add_heading(block[1], level=1)
        elif kind == "h2":
            document.add_heading(block[1], level=2)
        elif kind == "p":
            document.add_paragraph(block[1])
        elif kind == "bullet":
            document.add_paragraph(block[1], style="List Bullet")
        elif kind in ("label", "decision", "task"):
            label, text = {
                "label": (block[1], block[2] if len(block) > 2 else ""),
                "decision": ("Beschluss:", block[1]),
                "task": ("Aufgabe:", block[1]),
            }[kind]
            para = document.add_paragraph()
            para.add_run(label).bold = kind != "task"
            if text:
                para.add_run(" " + text)
        else:
            raise ValueError(f"unknown DOCX block {kind!r} in {spec.filename}")

    stamp = _fixed_datetime(spec)
    props = document.core_properties
    props.title = spec.title
    props.author = spec.author
    props.subject = spec.subject
    props.keywords = spec.keywords
    props.category = {"minutes": "Protokoll"}.get(spec.doc_type, "Handlungsempfehlung")
    props.comments = "Fiktives Beispieldokument des VKID-NRW-Beispielkorpus."
    props.language = "de-DE"
    props.last_modified_by = spec.author
    props.revision = 1
    props.created = stamp
    props.modified = stamp
    props.last_printed = stamp
    props.version = "1.0"
    props.identifier = spec.filename
    props.content_status = {"adopted": "beschlossen", "draft": "Entwurf"}.get(spec.status, spec.status)

    buffer = io.BytesIO()
    document.save(buffer)
    path = out_dir / spec.filename
    path.write_bytes(_normalise_zip(buffer.getvalue(), stamp))
    return path


def _normalise_zip(data: bytes, stamp: datetime) -> bytes:
    """Rewrite a zip with fixed entry timestamps and attributes: python-docx stamps entries with the current time."""
    date_time = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Sidecars and questions
# ---------------------------------------------------------------------------------------------------------------


def sidecar_text(spec: DocSpec) -> str:
    data = {
        "title": spec.title,
        "doc_type": spec.doc_type,
        "working_group": spec.working_group,
        "visibility": spec.visibility,
        "date": spec.date,
        "status": spec.status,
    }
    header = (
        "# Metadata for " + spec.filename + " (generated by build_corpus.py; fictional sample document)\n"
    )
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def write_generated(out_dir: Path) -> list[Path]:
    written: list[Path] = []
    for spec in PDF_SPECS:
        written.append(build_pdf(spec, out_dir))
    for spec in DOCX_SPECS:
        written.append(build_docx(spec, out_dir))
    for spec in PDF_SPECS + DOCX_SPECS:
        sidecar = out_dir / (spec.filename + ".meta.yaml")
        sidecar.write_text(sidecar_text(spec), encoding="utf-8")
        written.append(sidecar)
    questions = out_dir / "questions.jsonl"
    questions.write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS), encoding="utf-8"
    )
    written.append(questions)
    return written


# ---------------------------------------------------------------------------------------------------------------
# Extraction (as the checks see it) and checks
# ---------------------------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    return " ".join(text.split())


def pdf_page_texts(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(path).pages]


def docx_text(path: Path) -> str:
    import docx

    return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)


_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


def markdown_parts(path: Path) -> tuple[dict[str, Any], str]:
    raw = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(raw)
    if not match:
        raise CheckError(f"{path.name}: no YAML front matter")
    return yaml.safe_load(match.group(1)), raw[match.end() :]


def markdown_plain(body: str) -> str:
    """Markdown body without markup characters, roughly what a Markdown parser keeps as text."""
    lines = []
    for line in body.splitlines():
        line = re.sub(r"^\s{0,3}#{1,6}\s+", "", line)
        line = re.sub(r"^\s*[-*]\s+", "", line)
        lines.append(line.replace("**", ""))
    return "\n".join(lines)


class CheckError(Exception):
    pass


GERMAN_CHARS = set("äöüÄÖÜß")
REQUIRED_FRONT_MATTER = {"title", "doc_type", "working_group", "date", "visibility", "status"}


def check_corpus(corpus_dir: Path) -> list[str]:
    """Check the corpus in `corpus_dir`; return a report of what was verified. Raises CheckError on failure."""
    report: list[str] = []
    # Extracted, whitespace-normalised text per document: one entry per page for PDFs, a single entry otherwise.
    doc_pages: dict[str, list[str]] = {}
    markdown_without_markup: dict[str, str] = {}

    for spec in PDF_SPECS:
        from pypdf import PdfReader

        path = corpus_dir / spec.filename
        reader = PdfReader(path)
        pages = [normalise(p) for p in pdf_page_texts(path)]
        if spec.pages is not None and len(pages) != spec.pages:
            raise CheckError(f"{spec.filename}: {len(pages)} pages, planned {spec.pages}")
        meta: dict[str, Any] = dict(reader.metadata or {})
        if meta.get("/Title") != spec.title or meta.get("/Author") != spec.author:
            raise CheckError(f"{spec.filename}: PDF metadata title/author differ: {meta!r}")
        for number, text in enumerate(pages, start=1):
            if len(text) < 800:
                raise CheckError(f"{spec.filename} page {number}: only {len(text)} characters of text")
            if not GERMAN_CHARS & set(text):
                raise CheckError(f"{spec.filename} page {number}: no umlaut or ß in the text layer")
            if "\ufffd" in text or "■" in text:
                raise CheckError(f"{spec.filename} page {number}: replacement characters in the text layer")
            if f"Seite {number}" not in text:
                raise CheckError(f"{spec.filename} page {number}: footer 'Seite {number}' missing")
            for marker in spec.page_markers.get(number, []):
                if marker not in text:
                    raise CheckError(f"{spec.filename} page {number}: expected {marker!r} on this page")
        if len(set(pages)) != len(pages):
            raise CheckError(f"{spec.filename}: pages with identical text")
        # Every block of the content reaches the text layer, with umlauts intact.
        whole = " ".join(pages)
        for block in spec.blocks:
            if block[0] in ("p", "item", "h1", "h2", "h3", "title"):
                plain = normalise(re.sub(r"<[^>]+>", " ", block[1]).replace("&amp;", "&"))
                if plain not in normalise(whole.replace("<br/>", " ")):
                    raise CheckError(f"{spec.filename}: text not found in the text layer: {plain[:80]!r}")
        doc_pages[spec.filename] = pages
        report.append(
            f"{spec.filename}: {len(pages)} pages, title {spec.title[:40]!r}…, markers on every page"
        )

    for spec in DOCX_SPECS:
        import docx

        path = corpus_dir / spec.filename
        document = docx.Document(str(path))
        styles = {p.style.name if p.style else "" for p in document.paragraphs}
        needed = {"Heading 1", "Heading 2"}
        if not needed <= styles:
            raise CheckError(f"{spec.filename}: missing heading styles {needed - styles}")
        if document.core_properties.title != spec.title:
            raise CheckError(f"{spec.filename}: core property title differs")
        text = normalise(docx_text(path))
        for block in spec.blocks:
            if block[0] in ("p", "h1", "h2", "bullet", "title", "decision", "task") and (
                normalise(block[1]) not in text
            ):
                raise CheckError(f"{spec.filename}: text missing: {block[1][:80]!r}")
        doc_pages[spec.filename] = [text]
        headings = sum(1 for p in document.paragraphs if p.style and p.style.name.startswith("Heading"))
        report.append(f"{spec.filename}: {len(document.paragraphs)} paragraphs, {headings} Word headings")

    for name in MARKDOWN_FILES:
        path = corpus_dir / name
        front, body = markdown_parts(path)
        missing = REQUIRED_FRONT_MATTER - set(front)
        if missing:
            raise CheckError(f"{name}: front matter lacks {sorted(missing)}")
        if front["doc_type"] != "minutes":
            raise CheckError(f"{name}: doc_type must be minutes")
        tops = re.findall(r"^## TOP \d+: .+$", body, re.MULTILINE)
        decisions = re.findall(r"^\*\*Beschluss:\*\* .+Abstimmungsergebnis: .+$", body, re.MULTILINE)
        tasks = re.findall(r"^Aufgabe: .+ – verantwortlich: .+ – bis: \d\d\.\d\d\.\d{4}$", body, re.MULTILINE)
        if not (4 <= len(tops) <= 6) or not decisions or not tasks:
            raise CheckError(
                f"{name}: {len(tops)} TOPs, {len(decisions)} decisions, {len(tasks)} action items"
            )
        doc_pages[name] = [normalise(body)]
        markdown_without_markup[name] = normalise(markdown_plain(body))
        report.append(f"{name}: {len(tops)} TOPs, {len(decisions)} decisions, {len(tasks)} action items")

    for spec in PDF_SPECS + DOCX_SPECS:
        sidecar = yaml.safe_load((corpus_dir / (spec.filename + ".meta.yaml")).read_text(encoding="utf-8"))
        if set(sidecar) != REQUIRED_FRONT_MATTER:
            raise CheckError(f"{spec.filename}.meta.yaml: keys {sorted(sidecar)}")

    lines = (corpus_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line) for line in lines]
    ids = [q["id"] for q in questions]
    if len(set(ids)) != len(ids):
        raise CheckError("questions.jsonl: duplicate ids")
    covered: set[str] = set()
    for q in questions:
        passages = []
        for rel in q["relevant"]:
            doc = rel["doc"]
            if doc not in doc_pages:
                raise CheckError(f"{q['id']}: unknown document {doc}")
            paged = doc.endswith(".pdf")
            if paged != ("page" in rel):
                raise CheckError(f"{q['id']}: 'page' must be given exactly for PDFs ({doc})")
            if rel["text"] != normalise(rel["text"]):
                raise CheckError(f"{q['id']}: passage is not whitespace-normalised")
            haystack = doc_pages[doc][rel["page"] - 1] if paged else doc_pages[doc][0]
            if rel["text"] not in haystack:
                raise CheckError(
                    f"{q['id']}: passage not on {doc} page {rel.get('page')}: {rel['text'][:80]!r}"
                )
            if doc in markdown_without_markup and rel["text"] not in markdown_without_markup[doc]:
                raise CheckError(f"{q['id']}: passage contains Markdown markup: {rel['text'][:80]!r}")
            passages.append(rel["text"])
            covered.add(doc)
        for answer in q["answers"]:
            if not any(answer in p for p in passages):
                raise CheckError(f"{q['id']}: answer {answer!r} not in its passages")
    all_docs = {s.filename for s in PDF_SPECS + DOCX_SPECS} | set(MARKDOWN_FILES)
    if covered != all_docs:
        raise CheckError(f"questions.jsonl: documents without a question: {sorted(all_docs - covered)}")
    report.append(
        f"questions.jsonl: {len(questions)} questions, every passage verbatim on its page, "
        f"all {len(all_docs)} documents covered"
    )
    return report


def check_reproducible(corpus_dir: Path) -> list[str]:
    """Rebuild into a temporary directory and require byte-identical generated files."""
    with tempfile.TemporaryDirectory() as tmp:
        rebuilt = write_generated(Path(tmp))
        differing = [p.name for p in rebuilt if not filecmp.cmp(p, corpus_dir / p.name, shallow=False)]
    if differing:
        raise CheckError(f"generated files are out of date or not reproducible: {differing}")
    return [f"rebuild is byte-identical for {len(rebuilt)} generated files"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write into corpus/: rebuild in a temp dir, compare, and check",
    )
    args = parser.parse_args(argv)
    try:
        if args.check:
            report = check_reproducible(CORPUS_DIR)
        else:
            report = [f"wrote {p.name}" for p in write_generated(CORPUS_DIR)]
        report += check_corpus(CORPUS_DIR)
    except CheckError as exc:
        print(f"corpus check failed: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
