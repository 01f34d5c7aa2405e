"""`kb`, the one entry point: dispatches to the service commands, `kb models` and `kb eval`.

Layers: this package may import `service`, `eval` and `ingest`; nothing imports it. Further command groups
(users, tokens, audit, …) are typer sub-apps mounted in `build_app` below.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.text import Text

from eval.cli import eval_app
from ingest.errors import KBError
from kb_cli import commands, output
from kb_cli.client import Connector, ServiceError, connect
from kb_cli.models import models_app
from service.admin_cli import audit_app, tokens_app, users_app
from service.draft_cli import draft as draft_command
from service.store_cli import store_app

HELP = "Wissensbasis der Arbeitskreise: ingest, search and cited answers."


def build_app() -> typer.Typer:
    app = typer.Typer(help=HELP, no_args_is_help=True)
    commands.register(app)
    # Sub-apps: one `add_typer` per command group.
    app.add_typer(models_app, name="models")
    app.add_typer(eval_app, name="eval")
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(audit_app, name="audit")
    app.add_typer(store_app, name="store")
    app.command("draft")(draft_command)
    return app


app = build_app()


def main(argv: Sequence[str] | None = None, connector: Connector = connect) -> int:
    """Run `kb` with `argv` (default: the process arguments) and return its exit code; `connector` says how the
    commands reach the service (tests hand in an app of their own)."""
    try:
        app(args=list(argv) if argv is not None else None, obj=commands.CliContext(connector), prog_name="kb")
    except SystemExit as exc:  # click ends every run this way, with the exit code
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (ServiceError, KBError) as exc:
        # Errors outside a service call (e.g. the eval commands' own set-up) leave the same way.
        output.stderr().print(Text.assemble(("error", "red"), f" [{exc.code}] {exc}"))
        return commands.EXIT_ERROR
    return 0


def run() -> None:
    """The console script `kb`."""
    sys.exit(main())
