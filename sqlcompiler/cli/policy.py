"""The contact policy's inputs (SPEC §6): `attempts upload` and `blocks add|remove|list`."""

from __future__ import annotations

import datetime as dt
import getpass

import click

from .. import api, console
from ..console import echo_err
from .options import Ctx, kafka_options, pass_ctx, stop_on_sigterm

DATE = click.DateTime(["%Y-%m-%d"])


@click.group("attempts")
def attempts() -> None:
    """Contact attempts reported by dialers and SMS services (the contact policy's input)."""


@attempts.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--reject-file", type=click.Path(dir_okay=False), help="Write bad lines here and load the rest."
)
@click.option("--source", help="Where the attempts come from (default: the file's name).")
@pass_ctx
def attempts_upload(ctx: Ctx, file: str, reject_file: str | None, source: str | None) -> None:
    """Store the attempts in FILE: CSV with the columns attempt_id, cif, party_cif,
    phone_number, attempted_at, outcome, or JSON lines with those keys.

    attempted_at is ISO 8601 with its UTC offset (2026-12-07T09:30:00+07:00); outcome is one of
    connected, no_answer, busy, voicemail, failed, wrong_party. An attempt_id seen before is
    ignored (the first report stands), so a file can be sent again. Any bad line and nothing is
    written, unless --reject-file is given. Run it as the schema's owner: it creates each day's
    partition.
    """
    res = api.upload_attempts(ctx.dsn, file, reject_file=reject_file, source=source,
                              progress=echo_err)  # fmt: skip
    click.echo(
        f"stored {res.stored:,} attempts ({res.repeated:,} seen before) in {res.seconds:.1f}s"
        + (f"; {res.rejected:,} bad lines written to {reject_file}" if res.rejected else "")
    )


@attempts.command("consume")
@click.option("--group-id", default="sqlcompiler-attempts", show_default=True,
              help="Consumer group; instances in one group split the partitions.")  # fmt: skip
@click.option("--batch", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Messages stored per transaction (offsets committed after it).")  # fmt: skip
@click.option("--until-idle", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Stop after SECONDS with no message (a scheduled catch-up instead of a "
              "service).")  # fmt: skip
@kafka_options
@pass_ctx
def attempts_consume(ctx: Ctx, group_id, batch, until_idle, bootstrap, metrics_port,
                     metrics_addr) -> None:  # fmt: skip
    """Store contact attempts from Kafka (topic env SQLCOMPILER_KAFKA_ATTEMPTS_TOPIC, default
    contact-attempts) until SIGTERM.

    One JSON object per message, with the keys of `attempts upload`'s JSON lines. Offsets are
    committed after the batch is stored (at least once; an attempt_id seen before is ignored).
    A message that is not an attempt goes to the dead-letter topic
    (SQLCOMPILER_KAFKA_ATTEMPTS_DLQ_TOPIC, default contact-attempts-dlq) with the reason; the
    database away, the batch is retried. Run it as the schema's owner: it creates each day's
    partition.
    """
    settings = api.kafka_settings(bootstrap)
    stop = stop_on_sigterm()
    if metrics_port:
        api.serve_metrics(metrics_port, metrics_addr)
    stats = api.consume_attempts(ctx.dsn, settings, group_id=group_id, batch_size=batch,
                                 stop=stop, idle_exit=until_idle, progress=echo_err)  # fmt: skip
    click.echo(
        f"consumed {stats.messages:,} messages: {stats.stored:,} attempts stored, "
        f"{stats.repeated:,} seen before, {stats.dead_lettered:,} to "
        f"{settings.attempts_dead_letter_topic}"
    )


@attempts.command("prune")
@click.option("--keep-days", type=int, default=400, show_default=True,
              help="Days of attempts kept; no policy rule may look back further.")  # fmt: skip
@pass_ctx
def attempts_prune(ctx: Ctx, keep_days: int) -> None:
    """Drop the days of attempts older than --keep-days (whole partitions). Run it as the
    schema's owner, e.g. nightly after `run`."""
    dropped = api.prune_attempts(ctx.dsn, keep_days)
    click.echo(f"dropped {len(dropped)} day(s) of attempts older than {keep_days} days")


@click.group("blocks")
def blocks() -> None:
    """Numbers and people not to be called (the contact policy's blocks)."""


@blocks.command("add")
@click.argument("scope", type=click.Choice(["phone", "party"]))
@click.argument("value")
@click.option("--reason", required=True,
              help="Why: do_not_call, cease_and_desist, dispute, deceased, …")  # fmt: skip
@click.option("--from", "valid_from", type=DATE, help="First day it applies (default today).")
@click.option("--until", "valid_until", type=DATE, help="Last day it applies (default: no end).")
@click.option("--note", help="Anything the next person should know (a ticket number).")
@click.option("--by", "added_by", default=None, help="Who adds it (default: your login name).")
@pass_ctx
def blocks_add(ctx: Ctx, scope: str, value: str, reason: str, valid_from, valid_until,
               note: str | None, added_by: str | None) -> None:  # fmt: skip
    """Block a phone number (SCOPE phone) or a person, customer or reference, by cif (party)."""
    block_id = api.add_block(
        ctx.dsn, scope, value, reason, added_by=added_by or getpass.getuser(),
        valid_from=_day(valid_from), valid_until=_day(valid_until), note=note,
    )  # fmt: skip
    click.echo(f"block {block_id}: {scope} {value} ({reason}) from {_day(valid_from) or 'today'}")


@blocks.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--by", "added_by", default=None, help="Who adds them (default: your login name).")
@pass_ctx
def blocks_upload(ctx: Ctx, file: str, added_by: str | None) -> None:
    """Add the blocks in FILE, a CSV with the columns scope, value, reason and optionally
    valid_from, valid_until (YYYY-MM-DD, empty: today / no end) and note. All or none: a bad
    line adds nothing and is named."""
    n = api.upload_blocks(ctx.dsn, file, added_by=added_by or getpass.getuser())
    click.echo(f"added {n:,} blocks")


@blocks.command("remove")
@click.argument("block_id", type=int)
@click.option("--by", "removed_by", default=None, help="Who removes it (default: your login).")
@pass_ctx
def blocks_remove(ctx: Ctx, block_id: int, removed_by: str | None) -> None:
    """End block BLOCK_ID now (it stays on record with who removed it)."""
    api.remove_block(ctx.dsn, block_id, removed_by=removed_by or getpass.getuser())
    click.echo(f"block {block_id} removed")


@blocks.command("list")
@click.option("--all", "everything", is_flag=True, help="Removed blocks too.")
@click.option("--value", help="Only the blocks of this number or cif.")
@pass_ctx
def blocks_list(ctx: Ctx, everything: bool, value: str | None) -> None:
    """The blocks, newest first."""
    click.echo(console.blocks(api.list_blocks(ctx.dsn, everything=everything, value=value)))


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


COMMANDS = (attempts, blocks)
