"""Shared helpers of the benchmark scripts: machine facts, statistics, markdown tables, RESULTS.md sections.

The scripts are run from the repository root, e.g. `.venv/bin/python bench/ingest_throughput.py`; each one puts the
repository root on `sys.path` so that `ingest`, `service` and `tests` import without an install.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import platform
import re
import shlex
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
CACHE = Path(os.path.expanduser("~/.cache/kb/bench"))
CORPUS_REAL = Path("/work/shared/datasets/corpus-real")
DATASETS = Path("/work/shared/datasets")

_HEADER = (
    "# Benchmarks\n\n"
    "Written by the scripts in `bench/` (each replaces its own section). The machine is shared: every comparison "
    "is measured side by side in one run (interleaved repetitions) and reported as a ratio plus absolute "
    "figures. Load averages are given at the start and the end of each run.\n"
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def mem_total_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class RunInfo:
    """What every section records: when, on what, how it was started, and how busy the machine was."""

    started: str = field(default_factory=lambda: dt.datetime.now().astimezone().isoformat(timespec="seconds"))
    load_start: str = field(default_factory=load_average)
    load_end: str = ""
    command: str = field(
        default_factory=lambda: " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])
    )

    def finish(self) -> None:
        self.load_end = load_average()

    def markdown(self) -> str:
        return (
            f"- date: {self.started}\n"
            f"- machine: nproc {os.cpu_count()}, CPU `{cpu_model()}`, {mem_total_gib():.1f} GiB RAM, "
            f"Python {platform.python_version()}\n"
            f"- load average (1/5/15 min): start {self.load_start}, end {self.load_end or load_average()}\n"
            f"- command (from `/work/main`): `{self.command}`\n"
        )


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100) of a non-empty sequence."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_section(name: str, title: str, body: str, results: Path = RESULTS) -> None:
    """Replace (or append) the section `name` of RESULTS.md, under a file lock (scripts may run concurrently)."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    section = f"{start}\n## {title}\n\n{body.rstrip()}\n{end}\n"
    results.parent.mkdir(parents=True, exist_ok=True)
    with open("/tmp/kb-bench-results.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = results.read_text(encoding="utf-8") if results.exists() else _HEADER
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.S)
        found = pattern.search(text)
        text = pattern.sub(lambda _: section, text) if found else text.rstrip() + "\n\n" + section
        results.write_text(text, encoding="utf-8")
    print(f"\nwrote section '{name}' of {results}")


def fmt(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"
