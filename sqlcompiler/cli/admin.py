"""Administration: schema migrations, the embedded cluster, demo data and the benchmark."""

from __future__ import annotations

import click

from .. import api, console
from ..console import echo_err
from ..errors import MigrationError
from .options import Ctx, jobs_option, pass_ctx


@click.group()
def db() -> None:
    """Schema migrations (campaign_engine, campaign_results) and privileges."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_ctx
def db_upgrade(ctx: Ctx, revision: str) -> None:
    """Upgrade the schema to REVISION (default: head). Never touches bank_sync_service."""
    api.db_upgrade(ctx.dsn, revision)
    click.echo(f"schema at {revision}")


@db.command("downgrade")
@click.argument("revision", default="-1")
@pass_ctx
def db_downgrade(ctx: Ctx, revision: str) -> None:
    """Downgrade the schema to REVISION (default: one step; 'base' removes everything)."""
    api.db_downgrade(ctx.dsn, revision)
    click.echo(f"schema downgraded to {revision}")


@db.command("sql")
@click.option("--revision", default="head", show_default=True)
def db_sql(revision: str) -> None:
    """Print the migration DDL for a DBA to review (offline; connects to nothing)."""
    click.echo(api.db_sql(revision), nl=False)


@db.command("current")
@pass_ctx
def db_current(ctx: Ctx) -> None:
    """Show the schema revision of the target database."""
    rev = api.db_current(ctx.dsn)
    click.echo(f"current: {rev.current or 'none'}  head: {rev.head}")
    if rev.damage:
        echo_err(f"warning: {rev.damage}", "warning")


@db.command("check")
@pass_ctx
def db_check(ctx: Ctx) -> None:
    """Verify the schema: revision, every object the product owns, no run left "running".

    Exit code 1 when something is wrong, with what is missing and how to fix it. Runs left
    "running" by a process that died are marked failed ("interrupted").
    """
    result = api.db_check(ctx.dsn)
    rev = result.revision
    if rev.current != rev.head:
        state = "not installed" if rev.current is None else f"at {rev.current}"
        raise MigrationError(
            f"schema {state}, the code needs {rev.head}: run `sqlcompiler db upgrade`"
        )
    if rev.damage:
        raise MigrationError(rev.damage)
    click.echo(f"ok: schema at {rev.head}, every object present")
    if result.abandoned_runs:
        ids = ", ".join(map(str, result.abandoned_runs))
        click.echo(f"marked failed (interrupted): run(s) {ids}, whose process had ended")


@db.command("repair")
@pass_ctx
def db_repair(ctx: Ctx) -> None:
    """Recreate the work tables a run needs (the empty staging tables) if they are missing.

    Tables that hold data (runs, results, configuration) are not recreated: restore them from
    a backup; the error says which.
    """
    done = api.db_repair(ctx.dsn)
    click.echo("\n".join(done) if done else "nothing to repair")


@db.command("grants")
@click.option(
    "--owner",
    required=True,
    help="Owns the product's schemas and configuration: runs db upgrade and config apply.",
)
@click.option(
    "--runner",
    required=True,
    help="Runs run, relay and serve: reads bank_sync_service "
    "and the configuration, owns the results.",
)
@click.option("--reader", required=True, help="Dialers, SMS and reports: the two views only.")
@click.option(
    "--sql", "as_sql", is_flag=True, help="Print the statements for review; change nothing."
)
@pass_ctx
def db_grants(ctx: Ctx, owner: str, runner: str, reader: str, as_sql: bool) -> None:
    """Give three existing roles least privilege (docs/operations.md lists each and why).

    Run as a superuser (or a role with CREATEROLE that may change the objects' owners) after
    db upgrade, and again after each upgrade; it is idempotent.
    """
    done = api.db_grants(ctx.dsn, api.Roles(owner, runner, reader), execute=not as_sql)
    click.echo(console.grants(done, as_sql=as_sql))


@click.group()
def embedded() -> None:
    """The project-managed local PostgreSQL used when no DSN is given."""


@embedded.command("status")
def embedded_status() -> None:
    """Show where the embedded cluster lives and whether it runs."""
    click.echo(console.key_values(api.embedded_status()))


@embedded.command("start")
def embedded_start() -> None:
    """Initialise (first time) and start the embedded cluster."""
    click.echo(api.embedded_start())


@embedded.command("stop")
def embedded_stop() -> None:
    """Stop the embedded cluster."""
    click.echo("stopped" if api.embedded_stop() else "not running")


@click.group(invoke_without_command=True)
@click.option("--customers", type=click.IntRange(min=0), default=10_000, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--no-run", is_flag=True, help="Only load data and configuration.")
@click.option("--force", is_flag=True, help="Overwrite bank_sync_service data not made by demo.")
@click.pass_context
def demo(click_ctx: click.Context, customers: int, seed: int, no_run: bool, force: bool) -> None:
    """Load synthetic bank-sync data and the sample configuration, then run.

    Creates the schema and the bank_sync_service tables where missing. Deterministic for a
    given --seed. Refuses to overwrite bank_sync_service data it did not create.
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: Ctx = click_ctx.obj
    res = api.demo(ctx.dsn, customers, seed, run_after=not no_run, force=force, progress=click.echo)
    if res.run is not None:
        click.echo(console.run_summary(res.run))


@demo.command("init")
@pass_ctx
def demo_init(ctx: Ctx) -> None:
    """Create the bank_sync_service reference tables (empty) where missing."""
    api.demo_init(ctx.dsn)
    click.echo("bank_sync_service tables ready")


@click.command("bench")
@click.option("--customers", type=click.IntRange(min=100), default=1_000_000, show_default=True)
@click.option("--groups", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--campaigns", type=click.IntRange(min=1), default=20, show_default=True, help="Per group."
)
@click.option(
    "--conditions", type=click.IntRange(min=0), default=4, show_default=True, help="Per campaign."
)
@click.option(
    "--rules",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Contact rules per campaign.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--sample",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="Customers for the per-customer evaluator.",
)
@click.option(
    "--contact-heavy",
    is_flag=True,
    help="Every contact rule asks for every phone of the customer and of all their references "
    "(the second bench configuration: the contacts step dominates).",
)
@click.option("--no-scaling", is_flag=True, help="Skip the campaign and population scaling runs.")
@click.option(
    "--no-trees",
    is_flag=True,
    help="Skip the runs of the same leaves written as condition trees and with relative dates.",
)
@jobs_option("Connections of the measured runs, as `run --jobs`")
@click.option("--report", type=click.Path(dir_okay=False), help="Write the JSON report here.")
@pass_ctx
def bench(
    ctx: Ctx, customers, groups, campaigns, conditions, rules, seed, sample, contact_heavy,
    no_scaling, no_trees, jobs, report,
) -> None:  # fmt: skip
    """Measure the run against the floor, the literal plan, the single-pass plan on one
    connection and a per-customer evaluator.

    Use a scratch database: it (re)generates demo bank-sync data and runs a synthetic
    configuration (the configuration in place is restored afterwards). Fails if the run, the
    literal plan and the single pass disagree.
    """
    rep = api.bench(
        ctx.dsn, customers=customers, groups=groups, campaigns=campaigns, conditions=conditions,
        rules=rules, seed=seed, sample=sample, contact_heavy=contact_heavy, scaling=not no_scaling,
        trees=not no_trees, jobs=jobs,
        progress=echo_err,
    )  # fmt: skip
    click.echo(rep.table())
    if report:
        api.write_bench_report(rep, report)
        click.echo(f"report written to {report}")


COMMANDS = (db, embedded, demo, bench)
