"""Calibrate the relevance decision: best dense cosine and term overlap for in- and out-of-corpus questions.

Run from the repo root: `.venv/bin/python bench/relevance_calibration.py`. Ingests corpus/ into a temp store.
"""

import json
import time
from pathlib import Path

from ingest.domain import AccessScope
from service.app import build_services
from service.config import Settings

s = Settings()
s.store.path = Path("/tmp/kb-calibration-store")
svc = build_services(s, llm_factory=lambda: None)
if svc.store.count(AccessScope.everything()) == 0:
    t = time.time()
    r = svc.pipeline.ingest_paths([Path("corpus")])
    print("ingest", time.time() - t, r.chunks)
qs = [json.loads(line)["question"] for line in Path("corpus/questions.jsonl").read_text().splitlines()]
out = [
    "Wie hoch ist der Eiffelturm in Paris?",
    "Wer gewann die Fußball-Weltmeisterschaft 2014?",
    "Wie backe ich einen Käsekuchen?",
    "Welche Hauptstadt hat Australien?",
    "Wie viele Einwohner hat Tokio?",
    "Was kostet ein Liter Benzin in Frankreich?",
    "Wann wurde Goethe geboren?",
    "Welche Farbe hat ein Flamingo?",
    "Wie funktioniert Photosynthese?",
    "Welche Partei stellt den Bürgermeister von München?",
    "Wie viele Tore schoss Gerd Müller?",
    "Welche Programmiersprache eignet sich für Kinder?",
]
for label, group in (("IN", qs), ("OUT", out)):
    for q in group:
        r = svc.retriever.search(q, AccessScope.everything())
        print(label, f"{r.best_dense:.3f}", f"{r.term_overlap:.2f}", r.relevant, q[:70])
svc.store.close()
