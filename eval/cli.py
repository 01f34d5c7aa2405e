"""`kb eval`: retrieval and answer evaluation on gold sets, and the comparison of two runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from eval.compare import comparability_warnings, compare_metrics, load_metrics
from eval.draft_report import DRAFTS_FILE, SUMMARY_KEYS, drafts_report, write_drafts_run
from eval.draft_run import run_drafts
from eval.gold import Corpus
from eval.report import PLOT_FILE, answers_report, plot_recall_curve, retrieval_report, write_run
from eval.runner import RunOutput, default_cache_dir, run_answers, run_retrieval
from ingest.embedding import Embedder
from ingest.errors import KBError
from ingest.store import SearchMode
from service.config import Settings
from service.llm import LLM

eval_app = typer.Typer(
    help="Evaluation suites: retrieval and answer quality on gold sets (JSONL), and the comparison of two "
    "runs. Settings come from the usual KB_* environment variables and are recorded in every run.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

CorpusOption = Annotated[
    list[Path],
    typer.Option(
        "--corpus",
        help="Folder of the documents to search. Give it several times to search several folders together "
        "(their names must differ: each file's doc id starts with its folder's name).",
        exists=True,
        file_okay=False,
        metavar="DIR",
    ),
]
QuestionsOption = Annotated[
    Path,
    typer.Option(
        "--questions",
        help="Gold set (JSONL: id, question, answers, relevant[{doc, text}]).",
        exists=True,
        dir_okay=False,
    ),
]
OutOption = Annotated[
    Path, typer.Option("--out", help="Folder for metrics.json, per_question.jsonl, report.md.")
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        envvar="KB_EVAL_CACHE",
        help="Where indexed corpora are cached (default ~/.cache/kb/eval). A second run on the same corpus "
        "and settings reuses the index.",
    ),
]


def _log(message: str) -> None:
    err_console.print(message, highlight=False)


def _fail(exc: KBError) -> NoReturn:
    # Escaped: "[eval_input]" would otherwise be read as rich markup and vanish from the line.
    err_console.print(f"[red]error[/red] {escape(f'[{exc.code}] {exc}')}", highlight=False)
    raise typer.Exit(1)


def _run(
    run: Callable[..., RunOutput], corpus: Corpus, questions: Path, cache_dir: Path | None, **options: Any
) -> RunOutput:
    """A run on the cached index of `corpus`, with the settings of the environment; errors as one line.
    Every log line starts with the seconds since the start, so that a slow step shows itself."""
    started = time.perf_counter()

    def log(message: str) -> None:
        _log(f"[{time.perf_counter() - started:6.1f} s] {message}")

    try:
        return run(
            corpus,
            questions,
            cache_dir=cache_dir or default_cache_dir(),
            settings=Settings(),
            log=log,
            **options,
        )
    except KBError as exc:
        _fail(exc)


@dataclass(frozen=True)
class ModelEdge:
    """Models a test hands to `kb eval answers` or `kb eval drafts` (`CliRunner.invoke(eval_app, …,
    obj=ModelEdge(…))`) instead of the configured ones; `kb` itself never passes one."""

    llm: LLM | None = None
    embedder: Embedder | None = None


@eval_app.command()
def retrieval(
    corpus: CorpusOption,
    questions: QuestionsOption,
    out: OutOption,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Passages retrieved per question.")] = 10,
    mode: Annotated[SearchMode, typer.Option("--mode", help="hybrid (dense + BM25), dense or bm25.")] = (
        SearchMode.HYBRID
    ),
    limit: LimitOption = None,
    cache_dir: CacheOption = None,
) -> None:
    """Retrieval quality: recall@1/5/10, MRR@10 and nDCG@10 of the gold passages.

    Indexes the corpus into an isolated store (cached) and searches every question.

    Writes metrics.json, per_question.jsonl, report.md and recall_at_k.png to --out.
    """
    output = _run(run_retrieval, corpus, questions, cache_dir, k=k, mode=mode, limit=limit)
    title = f"{questions.resolve().parent.name} ({mode.value})"
    plot_recall_curve(output.curve, out / PLOT_FILE, f"recall@k — {title}")
    write_run(
        out,
        output.metrics,
        output.rows,
        retrieval_report(title, output.metrics, output.rows, output.curve, output.notes),
    )
    _summary(output, ("questions", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"), out)


@eval_app.command()
def answers(
    ctx: typer.Context,
    corpus: CorpusOption,
    questions: QuestionsOption,
    out: OutOption,
    limit: LimitOption = None,
    cache_dir: CacheOption = None,
) -> None:
    """Answer quality through the full answer path (retrieval, LLM, citation check) with the configured LLM.

    Scores token F1, exact match, citation validity, precision and recall, abstention, latency and tokens/s.

    Writes metrics.json, per_question.jsonl and report.md to --out.
    """
    edge = ctx.obj if isinstance(ctx.obj, ModelEdge) else ModelEdge()
    output = _run(
        run_answers, corpus, questions, cache_dir, limit=limit, embedder=edge.embedder, llm=edge.llm
    )
    title = questions.resolve().parent.name
    write_run(
        out, output.metrics, output.rows, answers_report(title, output.metrics, output.rows, output.notes)
    )
    _summary(
        output,
        (
            "questions",
            "answered",
            "exact_match",
            "token_f1",
            "token_f1_answer",
            "short_answer_rate",
            "citation_validity",
            "citation_precision",
            "citation_recall",
            "abstention_rate",
            "wrong_citation_rate",
            "wrong_document_rate",
            "latency_p50_s",
            "latency_p95_s",
            "latency_first_token_p50_s",
            "tokens_per_s",
        ),
        out,
    )


@eval_app.command()
def drafts(
    ctx: typer.Context,
    corpus: CorpusOption,
    topics: Annotated[
        Path,
        typer.Option(
            "--topics",
            help="Draft topics (JSONL: id, topic, working_group, key_facts[{id, fact, values, source{doc, start, "
            "end}}]), e.g. eval/gold/drafts/topics.jsonl.",
            exists=True,
            dir_okay=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.json, drafts.jsonl, report.md.")],
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="Draft template in prompts/templates (default: the service's, "
            "KB_DRAFT__TEMPLATE); kurzempfehlung keeps a run short.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N topics.")] = None,
    cache_dir: CacheOption = None,
) -> None:
    """Recommendation drafts: one per topic, through the service's drafting path and the configured LLM.

    Scores key-fact recall, citation precision, gold overlap, removals, unsourced figures, repeats, time.

    Writes metrics.json, drafts.jsonl and report.md to --out.
    """
    edge = ctx.obj if isinstance(ctx.obj, ModelEdge) else ModelEdge()
    try:
        output = run_drafts(
            corpus,
            topics,
            template=template,
            limit=limit,
            cache_dir=cache_dir or default_cache_dir(),
            settings=Settings(),
            log=_log,
            embedder=edge.embedder,
            llm=edge.llm,
        )
    except KBError as exc:
        _fail(exc)
    write_drafts_run(
        out,
        output.metrics,
        output.rows,
        drafts_report(topics.resolve().parent.name, output.metrics, output.rows),
    )
    _index_line(output.metrics)
    table = Table("metric", "value", title=f"drafts ({output.metrics['config']['draft']['template']})")
    for key in SUMMARY_KEYS:
        table.add_row(key, _value(output.metrics.get(key)))
    console.print(table)
    origins = Table("statements", "pairs", "precision", "gold", "unsourced", title="by origin")
    for origin, o in output.metrics["by_origin"].items():
        origins.add_row(
            origin,
            str(o["citation_pairs"]),
            _value(o["citation_precision"]),
            _value(o["gold_citation_share"]),
            str(o["unsourced_figures"]),
        )
    console.print(origins)
    per_topic = Table("topic", "facts", "precision", "gold", "removed", "unsourced", "seconds")
    for row in output.rows:
        covered = sum(1 for f in row["key_facts"] if f["statement"] is not None)
        per_topic.add_row(
            row["id"],
            f"{covered}/{len(row['key_facts'])}",
            _value(row["citation_precision"]),
            _value(row["gold_citation_share"]),
            _value(row["unsupported_removed_share"]),
            str(row["unsourced_figures"]),
            f"{row['total_s']:.1f}",
        )
    console.print(per_topic)
    console.print(f"written to {out}/ (metrics.json, {DRAFTS_FILE}, report.md)", highlight=False)


@eval_app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="The reference run (folder with metrics.json).", exists=True)],
    run_b: Annotated[Path, typer.Argument(help="The new run.", exists=True)],
    fail_on_drop: Annotated[
        float,
        typer.Option(
            "--fail-on-drop",
            min=0.0,
            help="Exit 1 if a quality metric (recall, MRR, nDCG, F1, citations) of B is lower than A's by "
            "more than this (absolute, e.g. 0.02 = 2 points), or if a latency grows / tokens/s falls by more "
            "than this share of A's value (0.02 = 2 %). Counts and abstention rate are shown but never fail.",
        ),
    ] = 0.02,
) -> None:
    """Table of metric changes from run A to run B. Exit code 0: no regression; 1: a metric regressed."""
    try:
        before, after = load_metrics(run_a), load_metrics(run_b)
    except KBError as exc:
        _fail(exc)
        return
    deltas = compare_metrics(before, after, fail_on_drop)
    table = Table("metric", "A", "B", "change", "better", "regressed", title=f"{run_a}  →  {run_b}")
    for d in deltas:
        whole = d.before.is_integer() and d.after.is_integer() and abs(d.before) > 1
        change = (f"{d.change:+.0f}" if whole else f"{d.change:+.4f}") + (
            f" ({d.relative_change:+.1%})" if d.relative and d.relative_change else ""
        )
        table.add_row(
            d.name,
            _number(d.before),
            _number(d.after),
            change,
            {"info": "–"}.get(d.direction, d.direction),
            "[red]yes[/red]" if d.regressed else "",
        )
    console.print(table)
    for warning in comparability_warnings(before, after):
        console.print(f"[yellow]warning:[/yellow] {warning}: the runs may not be comparable")
    failed = [d.name for d in deltas if d.regressed]
    if not deltas:
        console.print("no numeric metric is present in both runs")
    if failed:
        console.print(f"[red]regression[/red] beyond {fail_on_drop}: {', '.join(failed)}")
        raise typer.Exit(1)
    console.print(f"no regression beyond {fail_on_drop}")


def _number(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() and abs(value) > 1 else f"{value:.4f}"


def _value(value: Any) -> str:
    return "–" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _index_line(metrics: dict[str, Any]) -> None:
    index: dict[str, Any] = metrics["config"]["index"]
    state = (
        "reused cached index (indexing skipped)" if index["reused"] else f"built in {index['indexing_s']} s"
    )
    console.print(
        f"index: {state} — {index['documents']} documents, {index['chunks']} chunks", highlight=False
    )


def _summary(output: RunOutput, keys: tuple[str, ...], out: Path) -> None:
    _index_line(output.metrics)
    for note in output.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    table = Table("metric", "value", title=f"mode {output.metrics['mode']}")
    for key in keys:
        table.add_row(key, _value(output.metrics.get(key)))
    console.print(table)
    console.print(f"written to {out}/ (metrics.json, per_question.jsonl, report.md)", highlight=False)
