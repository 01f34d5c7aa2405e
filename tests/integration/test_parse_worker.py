"""Parsing in the worker process: same results and typed errors as in process, time limit, memory cap, crashes.

Real parsers in a real child process; the pipeline tests use a real Qdrant Edge store (the embedder is faked).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.config import IngestSettings
from ingest.domain import ParsedDocument
from ingest.errors import IngestError
from ingest.parse_worker import IsolatedParser, parse_document
from ingest.parsers import parse_bytes
from ingest.pipeline import IngestPipeline, Status
from ingest.store import EdgeStore
from tests.conftest import CORPUS
from tests.fakes import HashEmbedder

DEFAULTS = IngestSettings()
PDF = CORPUS / "positionspapier-ki-infrastruktur.pdf"
MINUTES = CORPUS / "protokoll-ak-ki-2025-09-18.md"
PipelineFactory = Callable[[IngestSettings], IngestPipeline]
SAMPLES = sorted(
    p.name for p in CORPUS.iterdir() if p.suffix in {".pdf", ".docx", ".md"} and p.name != "README.md"
)


# One parser (one worker at a time) for this module's tests, as the service has one.
PARSER = IsolatedParser()


@pytest.fixture(scope="module", autouse=True)
def _stop_parser() -> Iterator[None]:
    yield
    PARSER.close()


def worker_pid() -> int | None:
    return PARSER.pid


def _isolated(
    data: bytes,
    filename: str,
    timeout_s: float = DEFAULTS.parse_timeout_s,
    memory_mib: int = DEFAULTS.parse_memory_mib,
) -> ParsedDocument:
    return PARSER.parse(
        data, filename, max_bytes=DEFAULTS.max_file_bytes, timeout_s=timeout_s, memory_mib=memory_mib
    )


def _big_markdown(megabytes: int, title: str = "Titel") -> bytes:
    paragraph = "Ein Absatz über den Betrieb kommunaler Rechenzentren und ihre Kosten. " * 12
    section = f"# Abschnitt\n\n{paragraph}\n\n"
    return (f"# {title}\n\n" + section * (megabytes * 1024 * 1024 // len(section))).encode()


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.fixture
def pipeline_factory(tmp_path: Path) -> Iterator[PipelineFactory]:
    emb = HashEmbedder()
    store = EdgeStore(str(tmp_path / "store"), emb.dim)
    yield lambda settings: IngestPipeline(store, emb, settings, parser=PARSER)
    store.close()


@pytest.mark.parametrize("name", SAMPLES)
def test_isolated_parse_equals_in_process_parse(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    in_process = parse_bytes(data, name, max_bytes=DEFAULTS.max_file_bytes)
    assert _isolated(data, name) == in_process
    assert parse_document(data, name, DEFAULTS, PARSER) == in_process


def test_sample_corpus_covers_every_format() -> None:
    assert {Path(name).suffix for name in SAMPLES} == {".pdf", ".docx", ".md"}


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("kaputt.pdf", PDF.read_bytes()[:3000], "corrupt_file"),
        ("leer.pdf", b"", "empty_file"),
        ("rauschen.docx", bytes(range(256)) * 8, "corrupt_file"),
        ("daten.xyz", b"123", "unsupported_format"),
    ],
)
def test_typed_errors_cross_the_process_boundary(filename: str, data: bytes, code: str) -> None:
    with pytest.raises(IngestError) as in_process:
        parse_bytes(data, filename, max_bytes=DEFAULTS.max_file_bytes)
    with pytest.raises(IngestError) as isolated:
        _isolated(data, filename)
    assert type(isolated.value) is type(in_process.value)
    assert isolated.value.code == in_process.value.code == code
    assert isolated.value.message == in_process.value.message
    assert isolated.value.path == in_process.value.path == filename
    assert _isolated(MINUTES.read_bytes(), MINUTES.name).text  # the worker goes on


def test_timeout_fails_the_file_and_a_fresh_worker_ingests_afterwards(
    pipeline_factory: PipelineFactory, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(PDF, folder / "a-positionspapier.pdf")
    shutil.copy(MINUTES, folder / "b-protokoll.md")
    _isolated(MINUTES.read_bytes(), MINUTES.name)
    before = worker_pid()

    hasty = pipeline_factory(IngestSettings(parse_timeout_s=0.001))
    report = hasty.ingest_paths([folder])
    first = report.outcomes[0]
    assert Path(first.path).name == "a-positionspapier.pdf"
    assert (first.status, first.code) == (Status.FAILED, "parse_timeout")
    assert first.message.startswith("parsing did not finish within 0.001 s")
    assert worker_pid() != before

    patient = pipeline_factory(IngestSettings())
    again = patient.ingest_paths([folder])
    assert not again.failed, [(o.path, o.code, o.message) for o in again.failed]
    assert {Path(o.path).name: o.status for o in again.outcomes}["a-positionspapier.pdf"] is Status.INGESTED
    assert worker_pid() not in (None, before)


def test_in_process_parsing_when_isolation_is_off() -> None:
    _isolated(MINUTES.read_bytes(), MINUTES.name)
    running = worker_pid()
    settings = IngestSettings(parse_isolation=False, parse_timeout_s=0.001)  # no limit applies in process
    assert parse_document(PDF.read_bytes(), PDF.name, settings, PARSER) == parse_bytes(
        PDF.read_bytes(), PDF.name
    )
    assert worker_pid() == running


def test_worker_killed_between_files_is_replaced_transparently() -> None:
    expected = parse_bytes(PDF.read_bytes(), PDF.name)
    assert _isolated(PDF.read_bytes(), PDF.name) == expected
    killed = worker_pid()
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    assert _isolated(PDF.read_bytes(), PDF.name) == expected
    assert worker_pid() not in (None, killed)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see the worker busy")
def test_worker_dying_while_parsing_fails_that_file_only() -> None:
    _isolated(MINUTES.read_bytes(), MINUTES.name)
    pid = worker_pid()
    assert pid is not None
    idle = _cpu_ticks(pid)
    failure: list[BaseException] = []

    def parse_big_file() -> None:
        try:
            _isolated(_big_markdown(4), "gross.md")
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=parse_big_file)
    worker.start()
    deadline = time.monotonic() + 20
    # Kill once the worker has spent 0.1 s of CPU on this file: it has read the request and is parsing.
    while _cpu_ticks(pid) < idle + os.sysconf("SC_CLK_TCK") // 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    worker.join(timeout=30)
    assert len(failure) == 1 and isinstance(failure[0], IngestError)
    error = failure[0]
    assert (error.code, error.path) == ("parse_crashed", "gross.md")
    assert "killed by signal SIGKILL" in error.message
    assert _isolated(MINUTES.read_bytes(), MINUTES.name).text


def test_memory_cap_fails_the_file_and_the_next_file_parses() -> None:
    with pytest.raises(IngestError) as exhausted:
        # One emoji makes Python store the decoded text with 4 bytes a character: 80 MiB at once.
        _isolated(_big_markdown(20, title="Titel 🙂"), "gross.md", memory_mib=150)
    assert (exhausted.value.code, exhausted.value.path) == ("parse_memory_limit", "gross.md")
    assert "memory limit of 150 MiB" in exhausted.value.message
    assert _isolated(PDF.read_bytes(), PDF.name) == parse_bytes(PDF.read_bytes(), PDF.name)


HOSTILE = Path(__file__).with_name("hostile_parse_worker.py")


@pytest.mark.parametrize(
    "mode", ["pickle", "pickle-greeting", "not-json", "wrong-shape", "unknown-type", "huge-frame"]
)
def test_invalid_reply_fails_the_file_with_parse_crashed(tmp_path: Path, mode: str) -> None:
    """A worker that sends anything but a valid JSON reply (a compromised parser, say) fails that file cleanly:
    nothing it sent is unpickled or trusted, and it is stopped."""
    marker = tmp_path / "unpickled"
    hostile = IsolatedParser(command=[sys.executable, str(HOSTILE), mode, str(marker)])
    try:
        with pytest.raises(IngestError) as failed:
            hostile.parse(
                MINUTES.read_bytes(),
                MINUTES.name,
                max_bytes=DEFAULTS.max_file_bytes,
                timeout_s=10,
                memory_mib=0,
            )
        assert (failed.value.code, failed.value.path) == ("parse_crashed", MINUTES.name)
        assert "invalid" in failed.value.message
        assert hostile.pid is None, "the worker that sent it is stopped"
    finally:
        hostile.close()
    assert not marker.exists()


def test_worker_can_only_report_errors_of_a_file(tmp_path: Path) -> None:
    hostile = IsolatedParser(command=[sys.executable, str(HOSTILE), "foreign-error", str(tmp_path / "x")])
    with hostile, pytest.raises(IngestError) as failed:
        hostile.parse(
            MINUTES.read_bytes(), MINUTES.name, max_bytes=DEFAULTS.max_file_bytes, timeout_s=10, memory_mib=0
        )
    assert type(failed.value) is IngestError and failed.value.code == "ingest_failed"
    assert (failed.value.message, failed.value.path) == ("from the worker", MINUTES.name)


def test_invalid_replies_fail_each_file_and_the_batch_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(PDF, folder / "a.pdf")
    shutil.copy(MINUTES, folder / "b.md")
    emb = HashEmbedder()
    store = EdgeStore(str(tmp_path / "store"), emb.dim)
    hostile = IsolatedParser(command=[sys.executable, str(HOSTILE), "pickle", str(tmp_path / "unpickled")])
    try:
        report = IngestPipeline(store, emb, DEFAULTS, parser=hostile).ingest_paths([folder])
    finally:
        hostile.close()
        store.close()
    assert [(Path(o.path).name, o.status, o.code) for o in report.outcomes] == [
        ("a.pdf", Status.FAILED, "parse_crashed"),
        ("b.md", Status.FAILED, "parse_crashed"),
    ]
    assert not (tmp_path / "unpickled").exists()
