"""`kb doctor` on a broken installation: each problem on its own line with its fix, exit code 1, 80 columns."""

from __future__ import annotations

import io
import signal
import socket
import sys
from pathlib import Path

from service.config import Settings
from service.doctor import _child, run_doctor


def test_doctor_names_each_problem_with_its_fix_and_exits_1(tmp_path: Path) -> None:
    settings = Settings()
    settings.llm.model_dir = tmp_path / "no-models"
    settings.store.path = tmp_path / "store"
    with socket.socket() as foreign:  # a program that is not our service holds the port
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        settings.server.port = foreign.getsockname()[1]
        settings.service_url = f"http://127.0.0.1:{settings.server.port}"
        out = io.StringIO()
        code = run_doctor(settings, out=out)
    report = out.getvalue()
    lines = report.splitlines()
    assert code == 1
    # A line may run past 80 columns only for a path, which is never split.
    too_long = [line for line in lines if len(line) > 80 and not any(len(w) > 40 for w in line.split())]
    assert not too_long, too_long
    status = {
        line.split()[1]: line.split()[0] for line in lines if line[:1] in "OPI" and len(line.split()) > 1
    }
    assert status["model"] == "PROBLEM" and status["port"] == "PROBLEM" and status["venv"] == "OK"
    assert status["embedder"] == "OK" and status["store"] == "OK"
    model_line = next(i for i, line in enumerate(lines) if line.startswith("PROBLEM model"))
    fix_line = next(line for line in lines[model_line:] if "fix:" in line)
    assert fix_line.split("fix: ")[1] == "kb models fetch --model qwen2.5-1.5b"
    assert "KB_SERVER__PORT" in report
    assert "problem(s) found" in lines[-1]


def test_a_crash_in_a_doctor_child_is_reported_with_its_signal() -> None:
    script = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    result = _child([sys.executable, "-c", script], timeout_s=30)
    assert result.status == -signal.SIGSEGV
    assert result.describe() == "killed by signal SIGSEGV"
