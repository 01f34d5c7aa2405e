#!/usr/bin/env bash
# Print the CMake flags for a portable llama.cpp build that suits this CPU, never -march=native.
#
# The native build (GGML_NATIVE=ON) compiles ggml's AMX kernels on Intel Xeons with AMX (Sapphire Rapids and
# later); in a VM those segfault in Llama.eval -> decode. So AMX stays off everywhere. AVX-512 (with VNNI/VBMI)
# is used where the CPU has it (1.5x faster prefill than AVX2); every other x86-64 CPU with AVX2 gets the AVX2
# build; a CPU without AVX2 gets a baseline SSE build. The flags, not the machine, decide the wheel's cache key.
set -euo pipefail
flags="$(grep -m1 -E '^flags' /proc/cpuinfo 2>/dev/null || true)"
has() { [[ " $flags " == *" $1 "* ]]; }
arch="$(uname -m)"
out=(-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF)
variant="${KB_LLAMA_VARIANT:-auto}"
if [ "$variant" = auto ]; then
  if [ "$arch" != x86_64 ]; then
    variant=generic
  elif has avx512f && has avx512bw && has avx512vl && has avx512dq && has avx512cd && has avx512_vnni && has avx512vbmi; then
    variant=avx512
  elif has avx2 && has fma && has f16c; then
    variant=avx2
  else
    variant=sse
  fi
fi
case "$variant" in
  avx512)
    out+=(-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
          -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX_VNNI=OFF) ;;
  avx2)
    out+=(-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF) ;;
  sse)
    out+=(-DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_AVX512=OFF) ;;
  generic) ;;
  *) echo "unknown KB_LLAMA_VARIANT=$variant (avx512, avx2, sse, generic, auto)" >&2; exit 2 ;;
esac
if [ "${1:-}" = --variant ]; then echo "$variant"; else echo "${out[*]}"; fi
