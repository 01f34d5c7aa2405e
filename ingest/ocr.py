"""OCR of PDF pages without a text layer: the page rendered by pypdfium2, read by Debian's tesseract.

Runs where the parse runs (inside the parse worker, under its time limit and memory cap; tesseract is a child of
the worker and inherits the cap). tesseract is called as a program, not through a binding: it reads the page
image from stdin (PGM, written here from pypdfium2's grey bitmap, so no imaging library is needed) and writes the
text to stdout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["OcrOptions", "OcrUnavailable", "ocr_pages", "unavailable_reason"]

DPI = 300
# A poster-sized page at 300 dpi would be gigapixels; larger renders are scaled down to this many pixels.
_MAX_PIXELS = 40_000_000
# One page never takes longer than this (the worker's own time limit usually ends a file before).
_PAGE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class OcrOptions:
    """What the parser needs to know about OCR (from `IngestSettings.ocr`, `IngestSettings.ocr_language`)."""

    enabled: bool = True
    language: str = "deu"
    executable: str = "tesseract"


class OcrUnavailable(Exception):
    """tesseract or its language data is missing; the message says which (no paths)."""


def unavailable_reason(options: OcrOptions) -> str | None:
    """Why OCR cannot run with `options` (None when it can): turned off, tesseract or the language missing."""
    if not options.enabled:
        return "OCR is turned off (KB_INGEST__OCR=false)"
    if shutil.which(options.executable) is None:
        return "OCR is unavailable: tesseract is not installed"
    if not set(options.language.split("+")) <= installed_languages(options.executable):
        return f"OCR is unavailable: tesseract has no language data for '{options.language}'"
    return None


def installed_languages(executable: str = "tesseract") -> set[str]:
    """The languages tesseract reports (`--list-langs`); empty when it cannot be run."""
    try:
        done = subprocess.run(
            [executable, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return set()
    # The first line is "List of available languages in …" (a path); the rest are language codes.
    lines = (done.stdout + done.stderr).splitlines()
    return {line.strip() for line in lines if line.strip() and " " not in line.strip()}


def ocr_pages(data: bytes, page_indexes: list[int], options: OcrOptions) -> dict[int, str]:
    """The OCR text of the given 0-based pages of the PDF in `data`. Raises `OcrUnavailable`."""
    reason = unavailable_reason(options)
    if reason is not None:
        raise OcrUnavailable(reason)
    import pypdfium2 as pdfium  # heavy, and only needed for scans

    texts: dict[int, str] = {}
    document = pdfium.PdfDocument(data)
    try:
        for index in page_indexes:
            page = document[index]
            try:
                image = _render_pgm(page)
            finally:
                page.close()
            texts[index] = _tesseract(image, options)
    finally:
        document.close()
    return texts


def _render_pgm(page: object) -> bytes:
    width, height = page.get_size()  # type: ignore[attr-defined]  # PDF points (1/72 inch)
    scale = DPI / 72
    pixels = width * height * scale * scale
    if pixels > _MAX_PIXELS:
        scale *= (_MAX_PIXELS / pixels) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)  # type: ignore[attr-defined]
    try:
        buffer = bytes(bitmap.buffer)
        columns, rows, stride = bitmap.width, bitmap.height, bitmap.stride
    finally:
        bitmap.close()
    # One byte per pixel; rows may be padded to the stride.
    body = (
        buffer
        if stride == columns
        else b"".join(buffer[r * stride : r * stride + columns] for r in range(rows))
    )
    return f"P5\n{columns} {rows}\n255\n".encode() + body


def _tesseract(image: bytes, options: OcrOptions) -> str:
    # One thread: the machine's cores are shared with the service, and OpenMP threads cost address space under
    # the worker's memory cap.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    command = [options.executable, "stdin", "stdout", "-l", options.language, "--dpi", str(DPI)]
    try:
        done = subprocess.run(
            command, input=image, capture_output=True, timeout=_PAGE_TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise OcrUnavailable(f"OCR of a page took longer than {_PAGE_TIMEOUT_S:.0f} s") from exc
    except OSError as exc:
        raise OcrUnavailable(f"OCR is unavailable: tesseract could not be started ({exc.strerror})") from exc
    if done.returncode != 0:
        # Its stderr names files of the installation (server paths): only the exit status is passed on.
        raise OcrUnavailable(f"OCR failed: tesseract ended with exit status {done.returncode}")
    return done.stdout.decode("utf-8", "replace").replace("\f", "\n")
