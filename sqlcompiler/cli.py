"""Command line: thin click commands over sqlcompiler.api and friends."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click
import psycopg

from . import __version__, api, migrations
from .errors import SqlCompilerError


class Ctx:
    def __init__(self, dsn: str | None, debug: bool):
        self._dsn = dsn
        self.debug = debug

    @property
    def dsn(self) -> str:
        from .connection import resolve_dsn

        return resolve_dsn(self._dsn)


pass_ctx = click.make_pass_decorator(Ctx)


LOG = {"format": "text"}


def echo_err(msg: str, level: str = "info") -> None:
    """Progress and errors on stderr: plain lines, or one JSON object per line for log shippers."""
    if LOG["format"] == "json":
        import datetime as dt

        record = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "msg": msg.strip(),
        }
        click.echo(json.dumps(record), err=True)
    else:
        click.echo(msg, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--dsn",
    envvar="SQLCOMPILER_DSN",
    metavar="DSN",
    help="libpq connection string or URL of the target database (env SQLCOMPILER_DSN). "
    "Default: the project-managed embedded PostgreSQL.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="SQLCOMPILER_LOG_FORMAT",
    show_default=True,
    help="Progress and errors on stderr as text or JSON lines (env SQLCOMPILER_LOG_FORMAT).",
)
@click.version_option(__version__, prog_name="sqlcompiler")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, debug: bool, log_format: str) -> None:
    """In-database SQL compiler for debt-collection campaigns.

    Turns the campaign configuration into one PostgreSQL statement per campaign group and
    runs them inside the database over the bank-sync data. Typical use:

    \b
      sqlcompiler db upgrade                 # create/upgrade the schema
      sqlcompiler config apply campaigns.yaml
      sqlcompiler compile --explain          # review the SQL
      sqlcompiler run                        # the nightly job
    """
    LOG["format"] = log_format
    ctx.obj = Ctx(dsn, debug)


# -- db ------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Schema migrations (campaign_engine, campaign_results)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_ctx
def db_upgrade(ctx: Ctx, revision: str) -> None:
    """Upgrade the schema to REVISION (default: head). Never touches bank_sync_service."""
    migrations.upgrade(ctx.dsn, revision)
    click.echo(f"schema at {revision}")


@db.command("downgrade")
@click.argument("revision", default="-1")
@pass_ctx
def db_downgrade(ctx: Ctx, revision: str) -> None:
    """Downgrade the schema to REVISION (default: one step; 'base' removes everything)."""
    migrations.downgrade(ctx.dsn, revision)
    click.echo(f"schema downgraded to {revision}")


@db.command("sql")
@click.option("--revision", default="head", show_default=True)
def db_sql(revision: str) -> None:
    """Print the migration DDL for a DBA to review (offline; connects to nothing)."""
    click.echo(migrations.offline_sql(revision), nl=False)


@db.command("current")
@pass_ctx
def db_current(ctx: Ctx) -> None:
    """Show the schema revision of the target database."""
    from .connection import connect

    with connect(ctx.dsn) as conn:
        cur = migrations.current_revision(conn)
    click.echo(f"current: {cur or 'none'}  head: {migrations.head_revision()}")


# -- embedded ------------------------------------------------------------------------------
@cli.group()
def embedded() -> None:
    """The project-managed local PostgreSQL used when no DSN is given."""


@embedded.command("status")
def embedded_status() -> None:
    """Show where the embedded cluster lives and whether it runs."""
    from .embedded import Cluster

    for k, v in Cluster.default().status().items():
        click.echo(f"{k:12} {v}")


@embedded.command("start")
def embedded_start() -> None:
    """Initialise (first time) and start the embedded cluster."""
    from .embedded import Cluster

    click.echo(Cluster.default().ensure())


@embedded.command("stop")
def embedded_stop() -> None:
    """Stop the embedded cluster."""
    from .embedded import Cluster

    click.echo("stopped" if Cluster.default().stop() else "not running")


# -- demo ----------------------------------------------------------------------------------
@cli.group(invoke_without_command=True)
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
    from . import demo as demo_mod
    from .config import files, store
    from .connection import connect
    from .runner import run

    ctx: Ctx = click_ctx.obj
    dsn = ctx.dsn
    migrations.upgrade(dsn)
    click.echo(f"generating {customers:,} customers (seed {seed})")
    with connect(dsn) as conn:
        demo_mod.generate(conn, customers, seed, force=force, progress=click.echo)
        example = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"
        res = store.apply(conn, files.load(example), applied_by="demo", source=str(example))
        click.echo(f"configuration {res.fingerprint[:12]} applied ({len(res.changes)} changes)")
    if not no_run:
        click.echo(run(dsn, progress=click.echo).summary())


@demo.command("init")
@pass_ctx
def demo_init(ctx: Ctx) -> None:
    """Create the bank_sync_service reference tables (empty) where missing."""
    from . import demo as demo_mod
    from .connection import connect

    with connect(ctx.dsn) as conn:
        demo_mod.init_schema(conn)
        conn.commit()
    click.echo("bank_sync_service tables ready")


# -- config --------------------------------------------------------------------------------
@cli.group()
def config() -> None:
    """Declarative campaign configuration: validate, plan, apply, export."""


FILE = click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))


@config.command("validate")
@FILE
@pass_ctx
def config_validate(ctx: Ctx, file: str) -> None:
    """Check FILE's structure and semantics against the live catalog."""
    cfg = api.validate_file(ctx.dsn, file)
    n = sum(len(g.campaigns) for g in cfg.groups)
    click.echo(
        f"{file}: valid ({len(cfg.groups)} groups, {n} campaigns, fingerprint {cfg.fingerprint[:12]})"
    )


@config.command("plan")
@FILE
@pass_ctx
def config_plan(ctx: Ctx, file: str) -> None:
    """Show what `config apply FILE` would change."""
    changes = api.plan_file(ctx.dsn, file)
    if not changes:
        click.echo("no changes: the database already holds this configuration")
    for c in changes:
        click.echo(str(c))


@config.command("apply")
@FILE
@click.option("--applied-by", help="Who applies it (default: the OS user).")
@pass_ctx
def config_apply(ctx: Ctx, file: str, applied_by: str | None) -> None:
    """Make the configuration tables equal FILE, all or nothing, and record it."""
    res = api.apply_file(ctx.dsn, file, applied_by)
    for c in res.changes:
        click.echo(str(c))
    click.echo(
        f"applied {len(res.changes)} changes, fingerprint {res.fingerprint[:12]}"
        if res.changes
        else "no changes"
    )


@config.command("lint")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--strict", is_flag=True, help="Exit with code 1 when there are warnings.")
@pass_ctx
def config_lint(ctx: Ctx, file: str | None, strict: bool) -> None:
    """Warn about legal but suspicious configuration (FILE, or the stored one).

    Campaigns that can never win, contradictory or duplicate conditions, campaigns without
    contact rules, rules without outputs, custom fields never used or never uploaded.
    """
    findings = api.lint(ctx.dsn, file)
    for f in findings:
        click.echo(str(f))
    click.echo(f"{len(findings)} warning(s)" if findings else "no warnings")
    if strict and findings:
        sys.exit(1)


@config.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the configuration file (for editors)."""
    from .config.model import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@config.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
@pass_ctx
def config_export(ctx: Ctx, file: str | None, fmt: str) -> None:
    """Write the database configuration as a file (stdout without FILE)."""
    text = api.export_config(ctx.dsn, fmt)
    if file:
        Path(file).write_text(text, encoding="utf-8")
        click.echo(f"wrote {file}")
    else:
        click.echo(text, nl=False)


# -- custom fields -------------------------------------------------------------------------
@cli.group("source")
def source_group() -> None:
    """Where the bank-sync tables come from: this database, postgres_fdw, or a logical replica.

    \b
    local    the tables are bank_sync_service.* in this database (default)
    fdw      foreign tables over postgres_fdw; every run first copies them into local
             unlogged tables in one remote transaction (a consistent snapshot)
    replica  bank_sync_service.* here subscribe to a publication on the bank-sync database

    The compiled SQL is the same in every mode. Every command is idempotent; --sql prints the
    statements for a DBA instead of running them (credentials appear as psql variables).
    """


@source_group.command("fdw")
@click.option(
    "--server-dsn",
    metavar="DSN",
    envvar="SQLCOMPILER_BANK_SYNC_DSN",
    help="libpq connection string of the bank-sync database, as this database's server must "
    "use it (env SQLCOMPILER_BANK_SYNC_DSN). user/password go into the user mapping; a "
    "service name or the server's password file work too.",
)
@click.option(
    "--schema", default="bank_sync_service", show_default=True, help="Remote schema of the tables."
)
@click.option(
    "--refresh", is_flag=True, help="Re-import the foreign tables (the remote schema changed)."
)
@click.option("--sql", "sql_only", is_flag=True, help="Print the statements, run nothing.")
@pass_ctx
def source_fdw(
    ctx: Ctx, server_dsn: str | None, schema: str, refresh: bool, sql_only: bool
) -> None:
    """Read the bank-sync tables over postgres_fdw (foreign tables in bank_sync_fdw)."""
    if server_dsn is None and not refresh:
        raise click.UsageError("pass --server-dsn DSN, or --refresh to re-import the tables")
    click.echo(
        api.source_fdw(
            ctx.dsn, server_dsn, schema, refresh=refresh, sql_only=sql_only, progress=echo_err
        ).rstrip()
    )


@source_group.command("replica")
@click.option(
    "--publisher-dsn",
    metavar="DSN",
    envvar="SQLCOMPILER_BANK_SYNC_DSN",
    required=True,
    help="libpq connection string of the bank-sync database (env SQLCOMPILER_BANK_SYNC_DSN); "
    "it must run with wal_level=logical. Stored in the subscription, never printed.",
)
@click.option("--sql", "sql_only", is_flag=True, help="Print the statements, run nothing.")
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=3600,
    show_default=True,
    help="Seconds to wait for the initial copy (0: do not wait).",
)
@pass_ctx
def source_replica(ctx: Ctx, publisher_dsn: str, sql_only: bool, wait: float) -> None:
    """Make bank_sync_service.* here a logical replica of the bank-sync database.

    Creates the local tables (from the publisher's definitions), the publication on the
    bank-sync side (or prints what its DBA must run when this role may not) and the
    subscription here, then waits for the initial copy.
    """
    click.echo(
        api.source_replica(
            ctx.dsn, publisher_dsn, sql_only=sql_only, wait=wait or None, progress=echo_err
        ).rstrip()
    )


@source_group.command("status")
@pass_ctx
def source_status(ctx: Ctx) -> None:
    """Mode, every table reachable with its row count, the column check, replica lag.

    Exits with code 1 when something needs fixing.
    """
    ok, text = api.source_status(ctx.dsn)
    click.echo(text)
    if not ok:
        sys.exit(1)


@source_group.command("local")
@pass_ctx
def source_local(ctx: Ctx) -> None:
    """Read bank_sync_service.* of this database again (drops the fdw snapshot copies)."""
    for note in api.source_local(ctx.dsn):
        click.echo(note)
    click.echo("source: local")


@cli.group("custom-fields")
def custom_fields_group() -> None:
    """Register custom fields and upload their per-loan values."""


@custom_fields_group.command("add")
@click.argument("name")
@click.option(
    "--type", "data_type", required=True, type=click.Choice(["string", "number", "date", "boolean"])
)
@click.option("--description")
@pass_ctx
def cf_add(ctx: Ctx, name: str, data_type: str, description: str | None) -> None:
    """Register custom field NAME (a key of loan_custom_fields.fields)."""
    from . import custom_fields
    from .connection import connect

    with connect(ctx.dsn) as conn:
        migrations.require_current(conn)
        custom_fields.add(conn, name, data_type, description)
    click.echo(f"registered {name} ({data_type})")


@custom_fields_group.command("list")
@pass_ctx
def cf_list(ctx: Ctx) -> None:
    """List the registered custom fields."""
    from .connection import connect

    with connect(ctx.dsn) as conn:
        rows = conn.execute(
            "SELECT field_name, data_type, coalesce(description, '') FROM campaign_engine.custom_fields ORDER BY 1"
        ).fetchall()
    for name, dtype, desc in rows:
        click.echo(f"{name:30} {dtype:8} {desc}")


@custom_fields_group.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--source-system", required=True, help="System that computed the values.")
@click.option("--uploaded-by", required=True, help="Who uploads them.")
@click.option(
    "--mode",
    type=click.Choice(["merge", "replace"]),
    default="merge",
    show_default=True,
    help="merge: update the given keys of each loan; replace: the loan's fields become the line's.",
)
@click.option(
    "--reject-file", type=click.Path(dir_okay=False), help="Write bad lines here and load the rest."
)
@pass_ctx
def cf_upload(
    ctx: Ctx, file: str, source_system: str, uploaded_by: str, mode: str, reject_file: str | None
) -> None:
    """Upload values from FILE: CSV (account_number + one column per field) or JSON lines.

    Every value is checked against its field's data_type; unknown fields and unknown account
    numbers are reported. Any bad line and nothing is written, unless --reject-file is given.
    """
    from . import custom_fields
    from .connection import connect

    with connect(ctx.dsn) as conn:
        migrations.require_current(conn)
        res = custom_fields.upload(
            conn,
            file,
            source_system=source_system,
            uploaded_by=uploaded_by,
            mode=mode,
            reject_file=reject_file,
            progress=echo_err,
        )
    click.echo(
        f"loaded {res.loaded:,} loans ({res.inserted:,} new, {res.updated:,} updated) in {res.seconds:.1f}s"
        + (f"; {res.rejected:,} bad lines written to {reject_file}" if res.rejected else "")
    )


# -- compile / run -------------------------------------------------------------------------
@cli.command("compile")
@click.option("--group", help="Only this campaign group.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one .sql file per statement here (00_prologue.sql, then one per group).",
)
@click.option(
    "--explain",
    type=click.Choice(["plan", "analyze"]),
    is_flag=False,
    flag_value="plan",
    default=None,
    help="Print the EXPLAIN plan under each statement; the prologue is executed so that the group plans see its table. Everything runs in one rolled-back transaction; --explain=analyze also runs the group statements.",
)
@pass_ctx
def compile_cmd(ctx: Ctx, group: str | None, out: Path | None, explain: str | None) -> None:
    """Print the generated SQL: the run prologue, then one statement per campaign group.

    The prologue creates a temporary table of every loan's condition values (custom fields
    extracted from JSONB once); each group's statement scans it.
    """
    dsn = ctx.dsn
    compiled = api.compile_statements(dsn, group)
    statements = compiled.statements
    plans = (
        api.explain(dsn, compiled, analyze=explain == "analyze")
        if explain
        else [None] * len(statements)
    )
    if out:
        for path in api.write_statements(compiled, out):
            click.echo(f"wrote {path}")
    for st, plan in zip(statements, plans, strict=True):
        if not out:
            click.echo(st.pretty())
        if plan:
            click.echo(f"-- EXPLAIN{' ANALYZE' if explain == 'analyze' else ''} of {st.title}:")
            click.echo("\n".join(f"--   {line}" for line in plan.splitlines()) + "\n")


@cli.command("run")
@click.option(
    "--cifs",
    type=click.File("r"),
    help="Restrict the population to these cifs (one per line; - for stdin).",
)
@click.option("--dry-run", is_flag=True, help="Run and report counts without publishing results.")
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    envvar="SQLCOMPILER_KEEP_RUNS",
    help="Runs to keep (env SQLCOMPILER_KEEP_RUNS).",
)
@click.option(
    "--engine",
    type=click.Choice(["sql", "reference"]),
    default="sql",
    show_default=True,
    help="reference: evaluate in Python customer by customer, for debugging small populations "
    "(refused above SQLCOMPILER_REFERENCE_LIMIT customers, default 10000).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    envvar="SQLCOMPILER_JOBS",
    help="Connections running group statements at once in a full run, all on one snapshot "
    "(env SQLCOMPILER_JOBS; default: 2, or 1 on a single core).",
)
@pass_ctx
def run_cmd(ctx: Ctx, cifs, dry_run: bool, keep: int, engine: str, jobs: int | None) -> None:
    """The nightly job: assign campaigns and contacts, publish atomically."""
    from .runner import read_cifs, run

    population = read_cifs(cifs) if cifs is not None else None
    try:
        res = run(
            ctx.dsn,
            cifs=population,
            dry_run=dry_run,
            keep=keep,
            progress=echo_err,
            engine=engine,
            jobs=jobs,
        )
    finally:
        from . import metrics

        metrics.export_one_shot()  # textfile collector / Pushgateway, when configured
    click.echo(res.summary())


@cli.command("bench")
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
@click.option("--no-scaling", is_flag=True, help="Skip the campaign and population scaling runs.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write the JSON report here.")
@pass_ctx
def bench_cmd(
    ctx: Ctx, customers, groups, campaigns, conditions, rules, seed, sample, no_scaling, report
) -> None:
    """Measure the run against the floor, the literal plan and a per-customer evaluator.

    Use a scratch database: it (re)generates demo bank-sync data and runs a synthetic
    configuration (the configuration in place is restored afterwards). Fails if the run and the
    literal plan disagree.
    """
    from . import bench

    rep = bench.bench(
        ctx.dsn, customers=customers, groups=groups, campaigns=campaigns, conditions=conditions,
        rules=rules, seed=seed, sample=sample, scaling=not no_scaling, progress=echo_err,
    )  # fmt: skip
    click.echo(rep.table())
    if report:
        bench.write_report(rep, report)
        click.echo(f"report written to {report}")


@cli.command("explain")
@click.argument("cif")
@click.option(
    "--run", "run_id", type=int, help="Compare with this run instead of the current results."
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_ctx
def explain_cmd(ctx: Ctx, cif: str, run_id: int | None, fmt: str) -> None:
    """Why customer CIF got its campaigns: every condition with its actual values."""
    from . import explain
    from .connection import connect

    with connect(ctx.dsn) as conn:
        migrations.require_current(conn)
        result = explain.explain(conn, cif, run_id)
    click.echo(
        json.dumps(result, indent=2, default=str) if fmt == "json" else explain.render(result)
    )


@cli.command("relay")
@click.option(
    "--run",
    "run_id",
    type=int,
    help="Only this run (default: every succeeded run not yet published).",
)
@click.option("--follow", is_flag=True, help="Keep running and publish new runs as they commit.")
@click.option(
    "--bootstrap",
    envvar="SQLCOMPILER_KAFKA_BOOTSTRAP",
    help="Kafka bootstrap servers (env SQLCOMPILER_KAFKA_BOOTSTRAP).",
)
@click.option(
    "--topic", help="Output topic (env SQLCOMPILER_KAFKA_TOPIC, default campaign-assignments)."
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="Messages per acknowledged batch.",
)
@click.option(
    "--metrics-port",
    type=int,
    envvar="SQLCOMPILER_METRICS_PORT",
    help="With --follow: serve /metrics on this port.",
)
@click.option(
    "--metrics-addr", default="127.0.0.1", envvar="SQLCOMPILER_METRICS_ADDR", show_default=True
)
@pass_ctx
def relay_cmd(
    ctx: Ctx, run_id, follow, bootstrap, topic, batch, metrics_port, metrics_addr
) -> None:
    """Publish run results to Kafka: one message per assignment, keyed by cif.

    At-least-once and resumable: progress is stored in the database after the broker
    acknowledged each batch. Message format: docs/kafka.md.
    """
    import signal

    from . import metrics, relay

    settings = relay.KafkaSettings.from_env(bootstrap, topic)
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    if follow and metrics_port:
        metrics.serve(metrics_port, metrics_addr)
    stats = relay.relay(
        ctx.dsn, settings, run_id=run_id, follow=follow, batch=batch,
        stop=lambda: stopping["now"], progress=echo_err,
    )  # fmt: skip
    click.echo(
        f"published {stats.messages:,} messages from {stats.runs} run(s) to {settings.topic} in {stats.seconds:.1f}s"
    )


@cli.command("serve")
@click.option(
    "--bootstrap",
    envvar="SQLCOMPILER_KAFKA_BOOTSTRAP",
    help="Kafka bootstrap servers (env SQLCOMPILER_KAFKA_BOOTSTRAP).",
)
@click.option(
    "--group-id",
    default="sqlcompiler-serve",
    show_default=True,
    help="Consumer group; instances in one group split the partitions.",
)
@click.option(
    "--metrics-port",
    type=int,
    envvar="SQLCOMPILER_METRICS_PORT",
    help="Serve /metrics on this port.",
)
@click.option(
    "--metrics-addr", default="127.0.0.1", envvar="SQLCOMPILER_METRICS_ADDR", show_default=True
)
@pass_ctx
def serve_cmd(ctx: Ctx, bootstrap, group_id, metrics_port, metrics_addr) -> None:
    """Answer processing requests from the request topic (see docs/kafka.md).

    Requests polled together become one run; results are published tagged with their
    request ids; invalid requests go to the dead-letter topic. Stops on SIGTERM.
    """
    import signal

    from . import metrics, relay, serve

    settings = relay.KafkaSettings.from_env(bootstrap)
    stopping = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(now=True))
    if metrics_port:
        metrics.serve(metrics_port, metrics_addr)
    stats = serve.serve(
        ctx.dsn, settings, group_id=group_id, stop=lambda: stopping["now"], progress=echo_err
    )
    click.echo(
        f"served {stats.requests} request(s) in {stats.batches} batch(es); {stats.dead_lettered} dead-lettered"
    )


@cli.command("runs")
@click.option("--limit", default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def runs_cmd(ctx: Ctx, limit: int, as_json: bool) -> None:
    """List recent runs with their status."""
    from .connection import connect

    with connect(ctx.dsn) as conn:
        rows = conn.execute(
            "SELECT run_id, kind, status, dry_run, started_at, finished_at, population_size, assignments, "
            "contacts, config_fingerprint, error, source FROM campaign_results.runs "
            "ORDER BY run_id DESC LIMIT %s",
            (limit,),
        ).fetchall()
    if as_json:
        keys = ["run_id", "kind", "status", "dry_run", "started_at", "finished_at", "population",
                "assignments", "contacts", "fingerprint", "error", "source"]  # fmt: skip
        click.echo(
            json.dumps([dict(zip(keys, r, strict=True)) for r in rows], default=str, indent=2)
        )
        return
    for r in rows:
        took = f"{(r[5] - r[4]).total_seconds():.1f}s" if r[5] else "-"
        err = f"  error: {r[10]}" if r[10] else ""
        src = r[11] or {}
        snap = src.get("snapshot")
        where = f" source={src['mode']}" if src.get("mode", "local") != "local" else ""
        if snap:
            where += f" (snapshot {sum(snap['rows'].values()):,} rows in {snap['seconds']:.1f}s)"
        click.echo(
            f"{r[0]:>6} {r[1]:4} {r[2]:9}{' dry' if r[3] else '    '} {r[4]:%Y-%m-%d %H:%M:%S} {took:>8} "
            f"pop={r[6] or 0:,} assigned={r[7] or 0:,} contacts={r[8] or 0:,}{where}{err}"
        )


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="sqlcompiler", standalone_mode=False)
    except click.exceptions.Abort:
        echo_err("Aborted.")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SqlCompilerError as exc:
        if debug:
            raise
        echo_err(f"Error: {exc}", "error")
        sys.exit(exc.exit_code)
    except psycopg.Error as exc:
        if debug:
            raise
        from .connection import redact

        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        echo_err(f"Error: database error: {redact(first)}", "error")
        sys.exit(1)
    except KeyboardInterrupt:
        echo_err("Interrupted.")
        sys.exit(130)


functools.update_wrapper(main, cli.main)
