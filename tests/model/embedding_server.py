"""llama-cpp-python's OpenAI-compatible server with mean pooling, for the remote-embedding tests and bench.

`python -m llama_cpp.server` has no pooling option: a generative GGUF (the 0.5B Qwen here) then answers with one
vector per token, and several inputs in one request come back mixed up (identical texts at cosine 0.05). A real
embedding server (TEI, vLLM, `llama-server --pooling mean`) pools per input; this sets llama.cpp's pooling type to
mean before the unchanged server starts, which is what `--pooling mean` does in llama.cpp's own server.

Usage: python tests/model/embedding_server.py --model X.gguf --embedding true --host 127.0.0.1 --port N
"""

from __future__ import annotations

import functools
import runpy
import sys
from typing import Any

import llama_cpp


def main() -> None:
    original = llama_cpp.Llama.__init__

    @functools.wraps(original)
    def with_mean_pooling(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("pooling_type", llama_cpp.LLAMA_POOLING_TYPE_MEAN)
        original(self, *args, **kwargs)

    llama_cpp.Llama.__init__ = with_mean_pooling  # type: ignore[method-assign]
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__")


if __name__ == "__main__":
    main()
