"""`kb draft`: an HTTP client of /v1/drafts (plan → write with a progress bar → export).

The lead mounts `draft` as `kb draft`. The HTTP client comes from `ctx.obj` (an `httpx.Client`, or an object
with an `http_client` attribute or key — e.g. the in-process ASGI client), else one to the service URL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

app = typer.Typer(help="Recommendation drafts with checked citations.")


class DraftCLIError(Exception):
    pass


@contextmanager
def _client(ctx: typer.Context | None) -> Iterator[Any]:
    """An httpx-style client (`get`, `post`, `stream`). `kb` hands in its connector (`ctx.obj.connector`: the
    running service, or the app in process — the CLI's one path to the service); tests may hand in a client
    (itself, or its `http_client`); else one for the service URL. Duck-typed: Starlette's TestClient is built on
    a fork of httpx."""
    from service.config import Settings

    obj = ctx.obj if ctx is not None else None
    connector = getattr(obj, "connector", None)
    if connector is not None:
        with connector(Settings()) as service:
            yield service.http
        return
    given = obj.get("http_client") if isinstance(obj, dict) else getattr(obj, "http_client", None)
    for candidate in (obj, given):
        if candidate is not None and all(hasattr(candidate, m) for m in ("get", "post", "stream")):
            yield candidate
            return
    with httpx.Client(base_url=Settings().effective_service_url(), timeout=None) as client:
        yield client


def _check(response: Any) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('code')}: {body.get('detail')}"
        except ValueError:
            message = response.text[:200]
        raise DraftCLIError(f"HTTP {response.status_code} {message}")
    return response.json()


def _events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    kind, data = "", ""
    for line in lines:
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif not line.strip() and kind:
            yield kind, json.loads(data) if data else None
            kind, data = "", ""


def run_draft(
    client: Any,
    topic: str,
    *,
    template: str | None = None,
    working_group: str | None = None,
    plan_only: bool = False,
    write_id: str | None = None,
    replay: dict[str, Any] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Plan (or take the stored plan of `write_id`), then write with SSE progress; the final draft."""
    if write_id is None:
        body: dict[str, Any] = {
            "topic": topic,
            "template": template,
            "working_group": working_group,
            "plan_only": True,
            "replay": replay,
        }
        planned = _check(client.post("/v1/drafts", json=body))
        if plan_only:
            return dict(planned)
        draft_id = planned["id"]
        total = len(planned["sections"])
    else:
        draft_id = write_id
        total = len(_check(client.get(f"/v1/drafts/{draft_id}"))["sections"])
    with client.stream("POST", f"/v1/drafts/{draft_id}/write", json={"stream": True}) as response:
        if response.status_code >= 400:
            response.read()
            _check(response)
        with typer.progressbar(
            length=total, label="Abschnitte", file=None if progress else io.StringIO()
        ) as bar:
            for kind, data in _events(response.iter_lines()):
                if kind == "section":
                    bar.update(1)
                elif kind == "done":
                    return dict(data)
    return dict(_check(client.get(f"/v1/drafts/{draft_id}")))


def _summary(draft: dict[str, Any]) -> str:
    lines = [f"{draft['title']}  (id {draft['id']}, Status {draft['status']})"]
    for i, section in enumerate(draft["sections"]):
        if draft["status"] == "planned":
            lines.append(f"{i}. {section['title']}: " + " | ".join(section["questions"]))
        else:
            supported = sum(1 for s in section["statements"] if s["supported"])
            lines.append(
                f"{i}. {section['title']}: {supported} belegte Aussagen, {len(section['removed'])} entfernt"
                + (f", {len(section['conflicts'])} Widersprüche" if section["conflicts"] else "")
            )
    return "\n".join(lines)


@app.command()
def draft(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="Thema of the draft")] = "",
    template: Annotated[str | None, typer.Option(help="Template in prompts/templates")] = None,
    working_group: Annotated[str | None, typer.Option(help="Working group the draft is for")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the draft to FILE.docx or FILE.md")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the draft as JSON")] = False,
    plan_only: Annotated[bool, typer.Option(help="Only plan; edit with PATCH, then --write ID")] = False,
    write: Annotated[str | None, typer.Option(help="Write the stored (edited) plan of this draft id")] = None,
    replay: Annotated[
        Path | None, typer.Option(help="Regenerate from a reproducibility record (JSON)")
    ] = None,
) -> None:
    """Plan and write a cited draft; the plan first, then section by section with a progress bar."""
    record = json.loads(replay.read_text(encoding="utf-8")) if replay else None
    if not topic and record is None and write is None:
        typer.echo("error: a topic is needed (or --replay / --write)", err=True)
        raise typer.Exit(2)
    try:
        with _client(ctx) as client:
            result = run_draft(
                client,
                topic,
                template=template,
                working_group=working_group,
                plan_only=plan_only,
                write_id=write,
                replay=record,
                progress=not as_json,
            )
            if out is not None and result["status"] != "planned":
                fmt = "docx" if out.suffix.lower() == ".docx" else "md"
                response = client.get(f"/v1/drafts/{result['id']}/export", params={"format": fmt})
                if response.status_code >= 400:
                    _check(response)
                out.write_bytes(response.content)
    except Exception as exc:
        # Our errors, transport errors (httpx, or the httpx fork of an in-process client) and the service's
        # problems reached through `kb`'s connector (their class carries a `code`) as one line.
        known = isinstance(exc, DraftCLIError) or type(exc).__module__.startswith("httpx")
        if not known and not hasattr(exc, "code"):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        typer.echo(_summary(result))
        if record is not None:
            matches = result.get("record", {}).get("replay_matches")
            typer.echo("Replay: gleicher Text" if matches else "Replay: Text weicht ab")
        if out is not None and result["status"] != "planned":
            typer.echo(f"geschrieben: {out.name}")
