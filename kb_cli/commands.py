"""The service commands of `kb`: each one calls the service's HTTP routes through `ServiceClient`.

Errors come back as problem+json and leave as one line, `error [code] detail`, and exit code 1.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

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
from rich.text import Text

from ingest.errors import KBError
from ingest.metadata import read_sidecar
from ingest.pipeline import FileOutcome, SourceFile, Status, discover
from ingest.store import SearchMode
from kb_cli import output
from kb_cli.client import Connector, ServiceClient, ServiceError, connect
from service.config import Settings

EXIT_ERROR = 1


@dataclass(frozen=True)
class CliContext:
    """What `main` hands every command: how to reach the service (tests pass an in-process app)."""

    connector: Connector = connect


def fail(code: str, detail: str) -> NoReturn:
    output.stderr().print(Text.assemble(("error", "red"), f" [{code}] {detail}"))
    raise typer.Exit(EXIT_ERROR)


@contextmanager
def service(ctx: typer.Context) -> Iterator[ServiceClient]:
    """The service client for one command; a problem from the service becomes one line and exit 1."""
    connector = ctx.obj.connector if isinstance(ctx.obj, CliContext) else connect
    try:
        with connector(Settings()) as client:
            yield client
    except ServiceError as exc:
        fail(exc.code, exc.detail)
    except KBError as exc:
        fail(exc.code, str(exc))


def _show(data: Any, json_out: bool, render: Callable[[Console, Any], None]) -> None:
    """JSON for machines, else the layout for people."""
    if json_out:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        render(output.stdout(), data)


# -- ingest -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Upload:
    source: SourceFile
    shown: str  # the name a person reads: relative to the folder given, or the file as given


def _uploads(paths: list[Path]) -> tuple[list[_Upload], list[FileOutcome]]:
    """Discovery happens here, client side: the pipeline's rules for doc ids and `.kbignore`."""
    uploads: list[_Upload] = []
    skipped: list[FileOutcome] = []
    for given in paths:
        sources, ignored = discover([given])
        base = given.resolve().parent if given.is_dir() else None

        def shown(path: Path, base: Path | None = base, given: Path = given) -> str:
            return path.relative_to(base).as_posix() if base else str(given)

        uploads += [_Upload(s, shown(s.path)) for s in sources]
        for outcome in ignored:
            outcome.path = shown(Path(outcome.path))
            skipped.append(outcome)
    return uploads, skipped


def _progress() -> Progress:
    console = output.stderr()
    return Progress(
        TextColumn("[bold]ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )


def _upload(
    client: ServiceClient, upload: _Upload, form: dict[str, str], doc_id: str | None
) -> list[FileOutcome]:
    try:
        sidecar = read_sidecar(upload.source.path)
    except KBError as exc:
        return [
            FileOutcome(upload.shown, upload.source.doc_id, Status.FAILED, code=exc.code, message=exc.message)
        ]
    if doc_id:  # the flag outranks the sidecar's id, as everywhere in metadata
        sidecar.pop("doc_id", None)
    fields = {**form, "doc_ids": doc_id or upload.source.doc_id, "sidecars": json.dumps(sidecar, default=str)}
    # The target group goes into the query string too: the service checks it before it reads the body.
    group = fields.pop("working_group", None)
    params = {"working_group": group} if group else None
    try:
        with upload.source.path.open("rb") as fh:
            # httpx streams the file object into the multipart body: no copy of the folder in memory.
            reply = client.request(
                "POST",
                "/v1/documents",
                params=params,
                files={"files": (upload.source.path.name, fh)},
                data=fields,
            )
    except OSError as exc:
        return [
            FileOutcome(
                upload.shown, upload.source.doc_id, Status.FAILED, code="unreadable", message=str(exc)
            )
        ]
    except ServiceError as exc:
        if exc.status is None:  # the service is gone: no later file can fare better
            raise
        # A problem with this file (or this request) is that file's outcome; the batch goes on.
        return [
            FileOutcome(upload.shown, upload.source.doc_id, Status.FAILED, code=exc.code, message=exc.detail)
        ]
    return [
        FileOutcome(
            **{
                **item,
                "path": upload.shown,
                "status": Status(item["status"]),
                "warnings": tuple(item.get("warnings") or ()),
            }
        )
        for item in reply["outcomes"]
    ]


def ingest(
    ctx: typer.Context,
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
    """Ingest files; names are shown relative to the folder given. Exits 1 if any file failed."""
    given = {"doc_type": doc_type, "working_group": working_group, "visibility": visibility, "date": date}
    form = {k: v for k, v in {**given, "status": status, "title": title}.items() if v is not None}
    uploads, outcomes = _uploads(paths)
    with service(ctx) as client, ExitStack() as stack:
        if client.url:
            output.stderr().print(f"service at {client.url} owns the store: uploading through it")
        progress = stack.enter_context(_progress())
        task = progress.add_task("", total=len(uploads))
        for upload in uploads:
            progress.update(task, description=upload.shown)
            outcomes += _upload(client, upload, form, doc_id)
            progress.advance(task)
    if json_out:
        for o in outcomes:
            print(json.dumps(o.as_dict(), ensure_ascii=False))
    else:
        output.print_outcomes(output.stdout(), outcomes)
    if any(o.status is Status.FAILED for o in outcomes):
        raise typer.Exit(EXIT_ERROR)


# -- search and ask -----------------------------------------------------------------------------------------
def _filters(
    doc_type: list[str] | None,
    working_group: list[str] | None,
    date_from: str | None = None,
    date_to: str | None = None,
    legal_ref: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "doc_type": doc_type or [],
        "working_group": working_group or [],
        "legal_ref": legal_ref or [],
        "date_from": date_from,
        "date_to": date_to,
    }


def search(
    ctx: typer.Context,
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
    """Search passages; shows document id, page (S. N), title, section and the sentences matching the query."""
    body = {
        "query": query,
        "top_k": top_k,
        "mode": mode.value if mode else None,
        "filters": _filters(doc_type, working_group, date_from, date_to, legal_ref),
    }
    with service(ctx) as client:
        data = client.post("/v1/search", body)
    _show(data, json_out, output.print_hits)


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="Question in German.")],
    doc_type: Annotated[list[str] | None, typer.Option()] = None,
    working_group: Annotated[list[str] | None, typer.Option()] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer with the LLM; every statement cites its numbered source (document, page, section)."""
    body = {"question": question, "filters": _filters(doc_type, working_group)}
    with service(ctx) as client:
        data = client.post("/v1/answers", body)
    _show(data, json_out, output.print_answer)


# -- documents, decisions -----------------------------------------------------------------------------------
def documents(
    ctx: typer.Context,
    history: Annotated[bool, typer.Option("--history", help="Also list superseded revisions.")] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The ingested documents: id, title, type, working group, date, size, revision — one block each."""
    with service(ctx) as client:
        rows = client.get("/v1/documents", {"include_history": history})
    _show(rows, json_out, output.print_documents)


def delete(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(help="Document id as listed by `kb documents`.")],
) -> None:
    """Delete a document with every revision."""
    with service(ctx) as client:
        reply = client.delete(f"/v1/documents/{doc_id}")
    output.stdout().print(Text(f"deleted {reply['doc_id']} ({reply['deleted_points']} chunks)"))


def decisions(
    ctx: typer.Context,
    working_group: Annotated[str | None, typer.Option(help="Only this working group.")] = None,
    since: Annotated[str | None, typer.Option(help="Only meetings on or after YYYY-MM-DD.")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decisions (Beschlüsse) found in minutes: one block each with document, page, text and vote."""
    params = {k: v for k, v in {"working_group": working_group, "since": since}.items() if v}
    with service(ctx) as client:
        rows = client.get("/v1/decisions", params)
    _show(rows, json_out, output.print_decisions)


# -- the service itself, and its health -------------------------------------------------------------------
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs); it owns the store while it runs.

    It records its URL and store id in the data folder (service.json), so that `kb` commands find it.
    """
    import uvicorn

    from kb_cli.client import forget_service, record_service
    from service.app import create_app

    settings = Settings()
    if host:
        settings.server.host = host
    if port:
        settings.server.port = port
    logging.basicConfig(level=logging.INFO)
    # A wildcard bind is reached on loopback by the CLI on this machine.
    reachable = "127.0.0.1" if settings.server.host in ("0.0.0.0", "::", "") else settings.server.host
    record_service(settings, f"http://{reachable}:{settings.server.port}")
    try:
        uvicorn.run(
            create_app(settings, preload_llm=True), host=settings.server.host, port=settings.server.port
        )
    finally:
        forget_service(settings)


def doctor() -> None:
    """Check the installation and print each problem with its fix; exit code 0 when all is well.

    Checks the venv, the model files, a one-token generation, the embedder, the store and the port.
    """
    from service.doctor import run_doctor  # written beside this CLI; imported when the command runs

    raise typer.Exit(run_doctor(Settings()))


def register(app: typer.Typer) -> None:
    for command in (ingest, search, ask, documents, delete, decisions, serve, doctor):
        app.command()(command)
