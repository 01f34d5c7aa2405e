"""`kb doctor` on this installation with the real models: every check passes, exit code 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]


def test_doctor_passes_on_a_set_up_machine_and_stays_within_80_columns(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "KB_STORE__PATH": str(tmp_path / "store")}
    env["KB_SERVER__PORT"] = "0"  # any port: the doctor must find it free
    done = subprocess.run(
        [sys.executable, "-m", "service.doctor"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    # A file path is never split: a line may run past 80 columns only for a path that stands alone on it.
    too_long = [line for line in lines if len(line) > 80]
    assert all(line.split()[-1].startswith("/") and len(line.split()) <= 3 for line in too_long), too_long
    for name in ("venv", "model", "llama.cpp", "generation", "embedder", "store", "port"):
        assert any(line.startswith("OK") and line.split()[1] == name for line in lines), name
    assert any("system info: CPU:" in line for line in lines)
