"""Compile, run and look at the results: compile, run, runs, explain."""

from __future__ import annotations

from pathlib import Path

import click

from .. import api, console
from ..api import (
    DEFAULT_KEEP,
    DEFAULT_KEEP_RECORDS_DAYS,
    DEFAULT_MAX_DROP,
    REFERENCE_LIMIT,
    RunOptions,
    read_cifs,
)
from ..console import echo_err
from ..errors import HELD_EXIT_CODE, RunLocked
from .options import Ctx, as_of_option, format_option, jobs_option, pass_ctx


def retention_options(f):
    """--keep and --keep-records-days, the same for `run` and `runs prune`."""
    f = click.option(
        "--keep-records-days",
        type=click.IntRange(min=1),
        default=DEFAULT_KEEP_RECORDS_DAYS,
        show_default=True,
        envvar="SQLCOMPILER_KEEP_RECORDS_DAYS",
        help="Days run records (the audit trail) are kept (env SQLCOMPILER_KEEP_RECORDS_DAYS).",
    )(f)
    return click.option(
        "--keep",
        type=click.IntRange(min=1),
        default=DEFAULT_KEEP,
        show_default=True,
        envvar="SQLCOMPILER_KEEP_RUNS",
        help="Succeeded full runs whose result partitions are kept; older runs lose their "
        "results, their records stay (env SQLCOMPILER_KEEP_RUNS).",
    )(f)


@click.command("compile")
@click.option("--group", help="Only this campaign group: the run statement compiled for it alone.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one .sql file per statement here (00_prologue.sql, 00_phones.sql, then the run statement).",
)
@click.option(
    "--explain",
    type=click.Choice(["plan", "analyze"]),
    is_flag=False,
    flag_value="plan",
    default=None,
    help="Print the EXPLAIN plan under each statement; the prologue is executed so that the run statement's plan sees its table. Everything runs in one rolled-back transaction; --explain=analyze also runs the run statement.",
)
@jobs_option(
    "Show the statements of a full run on this many connections, as `run --jobs`: each "
    "connection works on a slice of the customers"
)
@as_of_option("(the SQL shows each resolved date with its written form beside it)")
@pass_ctx
def compile_cmd(
    ctx: Ctx, group: str | None, out: Path | None, explain: str | None, jobs: int | None, as_of
) -> None:
    """Print the generated SQL: the run's session settings, the run prologue, then the run
    statement deciding every campaign group (its header lists each group's campaigns in
    priority order with their conditions; --group NAME compiles one group alone).

    The SET LOCAL lines at the top are exactly those the run executes first; --explain
    applies them too, so the plan shown is the plan that runs.

    The prologue creates a temporary table of every loan's condition values (custom fields
    extracted from JSONB once); the run statement reads it with the customers. With --jobs
    above 1, each connection first creates its customer slice and runs both over it.
    """
    dsn = ctx.dsn
    compiled = api.compile_statements(dsn, group, as_of=as_of, jobs=jobs)
    statements = compiled.statements
    plans = (
        api.explain_plans(dsn, compiled, analyze=explain == "analyze")
        if explain
        else [None] * len(statements)
    )
    if out:
        for path in api.write_statements(compiled, out):
            click.echo(f"wrote {path}")
    text = console.compiled(statements, plans, preamble=compiled.preamble(),
                            settings=compiled.settings, analyze=explain == "analyze",
                            with_sql=not out)  # fmt: skip
    click.echo(text, nl=False)


@click.command("run")
@click.option(
    "--cifs",
    type=click.File("r"),
    help="Restrict the population to these cifs (one per line; - for stdin).",
)
@click.option("--dry-run", is_flag=True, help="Run and report counts without publishing results.")
@retention_options
@click.option(
    "--max-drop",
    type=click.FloatRange(min=0, max=100),
    default=DEFAULT_MAX_DROP,
    show_default=True,
    envvar="SQLCOMPILER_MAX_DROP",
    help="Percent: a full run whose assignments fall by more than this against the last "
    "published full run is held, not published (exit code 3). A run over 0 customers is "
    "always held (env SQLCOMPILER_MAX_DROP).",
)
@click.option(
    "--force", is_flag=True, help="Publish even when a guard would hold the run (recorded)."
)
@click.option(
    "--publish-wait",
    "publish_patience",
    type=click.FloatRange(min=1),
    default=900,
    show_default=True,
    envvar="SQLCOMPILER_PUBLISH_WAIT",
    metavar="SECONDS",
    help="How long publishing waits for sessions that keep a transaction open on the results "
    "before the run fails naming them, previous results current (env "
    "SQLCOMPILER_PUBLISH_WAIT).",
)
@click.option(
    "--engine",
    type=click.Choice(["sql", "reference"]),
    default="sql",
    show_default=True,
    help="reference: evaluate in Python customer by customer, for debugging small populations "
    "(refused above --reference-limit customers).",
)
@click.option(
    "--reference-limit",
    type=click.IntRange(min=1),
    default=REFERENCE_LIMIT,
    show_default=True,
    envvar="SQLCOMPILER_REFERENCE_LIMIT",
    help="Most customers the reference engine accepts (env SQLCOMPILER_REFERENCE_LIMIT).",
)
@jobs_option(
    "Connections running a full run's statements at once, all on one snapshot, each over a "
    "slice of the customers"
)
@as_of_option("(recorded with the run, shown by `runs`)")
@format_option(help="text: the per-campaign table; json: the run's result for a scheduler.")
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False),
    envvar="SQLCOMPILER_METRICS_TEXTFILE",
    help="Write the run's metrics here for node_exporter's textfile collector, succeeded or "
    "failed (env SQLCOMPILER_METRICS_TEXTFILE; SQLCOMPILER_PUSHGATEWAY pushes them instead).",
)
@pass_ctx
def run_cmd(
    ctx: Ctx, cifs, jobs: int | None, fmt: str, metrics_file: str | None, **options
) -> None:
    """The nightly job: assign campaigns and contacts, publish atomically.

    \b
    Exit codes: 0 published (or dry run), 1 failed (previous results stay current),
    3 held by a guard (nothing published), 75 another run holds the lock (retry later).
    """
    opts = RunOptions(cifs=read_cifs(cifs) if cifs is not None else None, jobs=jobs, **options)
    try:
        res = api.run(ctx.dsn, opts, progress=echo_err)
    except RunLocked:
        raise  # refused, nothing ran: the last run's metrics stay as they are (exit code 75)
    except BaseException:
        api.export_metrics(metrics_file)  # the failure counters
        raise
    api.export_metrics(metrics_file)  # textfile collector / Pushgateway, when configured
    click.echo(console.run_json(res) if fmt == "json" else console.run_summary(res))
    if res.status == "held":
        click.get_current_context().exit(HELD_EXIT_CODE)


@click.group("runs", invoke_without_command=True)
@click.option("--limit", default=10, show_default=True)
@format_option()
@click.pass_context
def runs_cmd(click_ctx: click.Context, limit: int, fmt: str) -> None:
    """List recent runs with their status (``runs prune`` applies retention)."""
    if click_ctx.invoked_subcommand is not None:
        return
    records = api.runs(click_ctx.obj.dsn, limit)
    text = console.runs_json(records) if fmt == "json" else console.runs_table(records)
    if text:
        click.echo(text)


@runs_cmd.command("show")
@click.argument("run_id", type=int)
@format_option()
@pass_ctx
def show_cmd(ctx: Ctx, run_id: int, fmt: str) -> None:
    """One run: status, as-of date, fingerprint, population, per-campaign counts, timings, source."""
    record, counts = api.run_details(ctx.dsn, run_id)
    click.echo(console.run_details(record, counts, as_json=fmt == "json"))


@runs_cmd.command("diff")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "csv"]), default="text", show_default=True,
    help="csv: every customer that entered, left or moved (cif, group, change, from, to).",
)  # fmt: skip
@click.option("--show-customers", type=click.IntRange(min=0), default=5, show_default=True,
              metavar="N", help="Sample cifs per movement (text).")  # fmt: skip
@pass_ctx
def diff_cmd(ctx: Ctx, a: int, b: int, fmt: str, show_customers: int) -> None:
    """What changed from run A to run B: customers who entered, left or moved, per campaign."""
    if fmt == "csv":
        api.runs_diff_csv(ctx.dsn, a, b, click.get_text_stream("stdout"))
        return
    ra, rb, moves = api.runs_diff(ctx.dsn, a, b, sample=show_customers)
    click.echo(console.runs_diff(ra, rb, moves))


@runs_cmd.command("prune")
@retention_options
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@pass_ctx
def prune_cmd(ctx: Ctx, keep: int, keep_records_days: int, dry_run: bool) -> None:
    """Apply retention now (every run does it after publishing).

    Result partitions of runs older than the newest --keep succeeded full runs are dropped;
    run records stay until --keep-records-days old. The current results are never touched.
    """
    pruned = api.prune_runs(ctx.dsn, keep, keep_records_days, dry_run=dry_run, progress=echo_err)
    click.echo(console.pruned(pruned, dry_run=dry_run))


@click.command("explain")
@click.argument("cif")
@click.option(
    "--run", "run_id", type=int, help="Compare with this run instead of the current results."
)
@format_option()
@as_of_option("(default: the as-of date of the run compared with)")
@pass_ctx
def explain_cmd(ctx: Ctx, cif: str, run_id: int | None, fmt: str, as_of) -> None:
    """Why customer CIF got its campaigns: every condition with its actual values."""
    result = api.trace_customer(ctx.dsn, cif, run_id, as_of=as_of)
    click.echo(console.to_json(result) if fmt == "json" else console.trace(result))


@click.group("results")
def results_cmd() -> None:
    """The current results (the two views of docs/results.md) for dialer and SMS feeds."""


@results_cmd.command("export")
@click.option("--group", help="Only this campaign group (by name).")
@click.option("--campaign", help="Only this campaign (by name).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
    help="csv: one row per contact (assignments without contacts: one row, contact columns "
    "empty); jsonl: one object per assignment with its contacts.",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (whole or not at all) instead of stdout.",
)  # fmt: skip
@pass_ctx
def export_cmd(
    ctx: Ctx, group: str | None, campaign: str | None, fmt: str, out: Path | None
) -> None:
    """Stream the current assignments with their contacts; memory stays constant."""
    n = api.export_results(ctx.dsn, out, fmt=fmt, group=group, campaign=campaign)
    if out is not None:
        echo_err(f"wrote {n:,} {'rows' if fmt == 'csv' else 'assignments'} to {out}")


COMMANDS = (compile_cmd, run_cmd, runs_cmd, explain_cmd, results_cmd)
