#!/usr/bin/env bash
# Create the virtual environment and install the pinned dependencies.
# llama-cpp-python builds from source the first time (~5 min on 2 cores); pip caches the wheel afterwards.
set -euo pipefail
PY="${1:-python3.11}"
VENV="${2:-.venv}"
if ! command -v "$PY" >/dev/null 2>&1; then PY=python3; fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade "pip==25.3"
# torch first and exactly pinned: 2.13.0 (CPU) is on local disk; a loose pin would pull a CUDA build.
"$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VENV/bin/python" -m pip install --quiet -e ".[dev,st]"
