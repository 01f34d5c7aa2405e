#!/usr/bin/env bash
# Create the virtual environment and install the pinned dependencies.
# llama-cpp-python is built from source once per set of CPU flags (~5 min on 2 cores) with a portable flag set
# (scripts/llama_build_flags.sh: no -march=native, no AMX) into ~/.cache/kb/wheels/<version>-<flags hash>/;
# pip's own wheel cache is bypassed for it, so a natively built wheel can never come back from there.
set -euo pipefail
PY="${1:-python3.11}"
VENV="${2:-.venv}"
HERE="$(cd "$(dirname "$0")" && pwd)"
if ! command -v "$PY" >/dev/null 2>&1; then PY=python3; fi
bash "$HERE/system_packages.sh"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade "pip==25.3"
# torch first and exactly pinned: 2.13.0 (CPU) is on local disk; a loose pin would pull a CUDA build.
"$VENV/bin/python" -m pip install --quiet "torch==2.13.0"

LLAMA_VERSION="0.3.36"
LLAMA_FLAGS="$(bash "$HERE/llama_build_flags.sh")"
LLAMA_VARIANT="$(bash "$HERE/llama_build_flags.sh" --variant)"
KEY="$(printf '%s %s' "$LLAMA_VERSION" "$LLAMA_FLAGS" | sha256sum | cut -c1-12)"
WHEEL_DIR="${KB_WHEEL_CACHE:-$HOME/.cache/kb/wheels}/llama-cpp-python-$LLAMA_VERSION-$LLAMA_VARIANT-$KEY"
if ! ls "$WHEEL_DIR"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_VERSION ($LLAMA_VARIANT: $LLAMA_FLAGS) — about 5 minutes on 2 cores"
  mkdir -p "$WHEEL_DIR.tmp"
  CMAKE_ARGS="$LLAMA_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" FORCE_CMAKE=1 \
    "$VENV/bin/python" -m pip wheel --quiet --no-cache-dir --no-deps -w "$WHEEL_DIR.tmp" \
    "llama-cpp-python==$LLAMA_VERSION"
  printf '%s\n' "$LLAMA_FLAGS" > "$WHEEL_DIR.tmp/CMAKE_ARGS"
  rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
fi
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$WHEEL_DIR"/llama_cpp_python-*.whl
# The installed build records its flags, so `kb doctor` can show which build runs.
cp "$WHEEL_DIR/CMAKE_ARGS" "$VENV/llama_cpp_build_flags.txt"
"$VENV/bin/python" -m pip install --quiet "llama-cpp-python==$LLAMA_VERSION" -e ".[dev,st,postgres,otel]"
