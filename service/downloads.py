"""How an original file is sent to a browser: its media type (from the suffix of the name it was ingested
under, the same suffix that chose its parser), an inline disposition naming it as the user knows it (never a
server path), and headers that keep the browser from sniffing or running what it shows.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA_TYPES = {
    ".pdf": PDF,
    ".md": "text/markdown; charset=utf-8",
    ".markdown": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".docx": DOCX,
}
FALLBACK_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Download:
    """What the response of one original file carries besides its bytes."""

    filename: str
    media_type: str
    headers: dict[str, str]


def display_name(source_path: str | None, doc_id: str) -> str:
    """The file's own name: the last part of the name it was ingested under (relative to the ingested folder,
    or the upload's name), else of the document id. Control characters are dropped."""
    for candidate in (source_path or "", doc_id):
        name = candidate.replace("\\", "/").rsplit("/", 1)[-1]
        name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
        if name and name not in (".", ".."):
            return name
    return "dokument"


def media_type_of(name: str) -> str:
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return MEDIA_TYPES.get(suffix, FALLBACK_MEDIA_TYPE)


def content_disposition(name: str) -> str:
    """`inline` with the name twice (RFC 6266): an ASCII stand-in for old clients and the exact UTF-8 name."""
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def download(source_path: str | None, doc_id: str) -> Download:
    name = display_name(source_path, doc_id)
    media_type = media_type_of(name)
    headers = {
        "Content-Disposition": content_disposition(name),
        "X-Content-Type-Options": "nosniff",
        # Access can be withdrawn: a shared cache never keeps it, the browser asks again each time.
        "Cache-Control": "private, no-cache",
    }
    if media_type != PDF:
        # Text shown inline runs no script and loads nothing (an uploaded "Markdown" may hold HTML). PDFs are
        # left out: Chromium's PDF viewer does not render in a sandboxed document, and it runs a PDF's own
        # scripts (if any) inside the viewer, never with the service's origin.
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return Download(name, media_type, headers)
