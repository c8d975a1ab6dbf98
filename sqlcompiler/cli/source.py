"""Where the bank-sync tables come from."""

from __future__ import annotations

import sys

import click

from .. import api, console
from ..console import echo_err
from .options import Ctx, pass_ctx


@click.group("source")
def source() -> None:
    """Where the bank-sync tables come from: this database, postgres_fdw, or a logical replica.

    \b
    local    the tables are bank_sync_service.* in this database (default)
    fdw      foreign tables over postgres_fdw; every run first copies them into local
             unlogged tables in one remote transaction (a consistent snapshot)
    replica  bank_sync_service.* here subscribe to a publication on the bank-sync database
    citus    (this database is a Citus coordinator) distribute the local tables on cif

    The compiled SQL is the same in every mode. Every command is idempotent; --sql prints the
    statements for a DBA instead of running them (credentials appear as psql variables).
    """


@source.command("fdw")
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
    res = api.source_fdw(
        ctx.dsn, server_dsn, schema, refresh=refresh, sql_only=sql_only, progress=echo_err
    )
    click.echo(console.source_setup(res))


@source.command("replica")
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
    res = api.source_replica(
        ctx.dsn, publisher_dsn, sql_only=sql_only, wait=wait or None, progress=echo_err
    )
    click.echo(console.source_setup(res))


@source.command("citus")
@click.option("--sql", "sql_only", is_flag=True, help="Print the statements, run nothing.")
@pass_ctx
def source_citus(ctx: Ctx, sql_only: bool) -> None:
    """Distribute the bank-sync tables on the Citus cluster whose coordinator is --dsn.

    customers, loans and reference_customers become distributed tables co-located on the
    customer's cif; loan_custom_fields and phones become reference tables. loans and
    reference_customers get primary keys that contain the distribution column, and the
    foreign key from loan_custom_fields to loans is dropped (Citus cannot keep it). One
    transaction; run again, it does nothing. See docs/scaling.md.
    """
    res = api.source_citus(ctx.dsn, sql_only=sql_only, progress=echo_err)
    click.echo(console.source_setup(res))


@source.command("status")
@pass_ctx
def source_status(ctx: Ctx) -> None:
    """Mode, every table reachable with its row count, the column check, replica lag.

    Exits with code 1 when something needs fixing.
    """
    st = api.source_status(ctx.dsn)
    click.echo(console.source_status(st))
    if not st.ok:
        sys.exit(1)


@source.command("local")
@pass_ctx
def source_local(ctx: Ctx) -> None:
    """Read bank_sync_service.* of this database again (drops the fdw snapshot copies)."""
    for note in api.source_local(ctx.dsn):
        click.echo(note)
    click.echo("source: local")


COMMANDS = (source,)
