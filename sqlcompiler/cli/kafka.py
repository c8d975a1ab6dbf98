"""Kafka: publish results (relay) and answer processing requests (serve)."""

from __future__ import annotations

import click

from .. import api
from ..console import echo_err
from .options import Ctx, kafka_options, pass_ctx, stop_on_sigterm


@click.command("relay")
@click.option(
    "--run",
    "run_id",
    type=int,
    help="Only this run (default: every succeeded run not yet published).",
)
@click.option("--follow", is_flag=True, help="Keep running and publish new runs as they commit.")
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
@kafka_options
@pass_ctx
def relay(ctx: Ctx, run_id, follow, topic, batch, bootstrap, metrics_port, metrics_addr) -> None:
    """Publish run results to Kafka: one message per assignment, keyed by cif.

    At-least-once and resumable: progress is stored in the database after the broker
    acknowledged each batch. Message format: docs/kafka.md.
    """
    settings = api.kafka_settings(bootstrap, topic)
    stop = stop_on_sigterm()
    if follow and metrics_port:
        api.serve_metrics(metrics_port, metrics_addr)
    stats = api.relay(
        ctx.dsn, settings, run_id=run_id, follow=follow, batch=batch, stop=stop, progress=echo_err
    )
    click.echo(
        f"published {stats.messages:,} messages from {stats.runs} run(s) to {settings.topic} in {stats.seconds:.1f}s"
    )


@click.command("serve")
@click.option(
    "--group-id",
    default="sqlcompiler-serve",
    show_default=True,
    help="Consumer group; instances in one group split the partitions.",
)
@kafka_options
@pass_ctx
def serve(ctx: Ctx, group_id, bootstrap, metrics_port, metrics_addr) -> None:
    """Answer processing requests from the request topic (see docs/kafka.md).

    Requests polled together become one run; results are published tagged with their
    request ids; invalid requests go to the dead-letter topic. Stops on SIGTERM.
    """
    settings = api.kafka_settings(bootstrap)
    stop = stop_on_sigterm()
    if metrics_port:
        api.serve_metrics(metrics_port, metrics_addr)
    stats = api.serve(ctx.dsn, settings, group_id=group_id, stop=stop, progress=echo_err)
    click.echo(
        f"served {stats.requests} request(s) in {stats.batches} batch(es); {stats.dead_lettered} dead-lettered"
    )


COMMANDS = (relay, serve)
