"""Runs and their results: run, runs, diff, export, prune, explain a customer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import psycopg

from ..progress import Progress, quiet
from ..reference.trace import trace_customer as _trace
from ..run import RunOptions, RunResult, export, history, retention
from ..run import run as _run
from ..run.record import RunRecord, list_runs, reap_abandoned, run_with_results
from ..run.retention import Pruned
from .common import migrated
from .configuration import load_config


def run(dsn: str, options: RunOptions | None = None, *, progress: Progress = quiet) -> RunResult:
    return _run(dsn, options, progress=progress)


def runs(dsn: str, limit: int = 10) -> list[RunRecord]:
    with migrated(dsn, autocommit=True) as conn:
        reap_abandoned(conn)
        return list_runs(conn, limit)


def run_details(dsn: str, run_id: int) -> tuple[RunRecord, list[history.CampaignCount]]:
    """``runs show``: the record with per-campaign counts by name."""
    with migrated(dsn) as conn:
        return history.show(conn, run_id)


def runs_diff(
    dsn: str, a: int, b: int, *, sample: int = 0
) -> tuple[RunRecord, RunRecord, list[history.Movement]]:
    """``runs diff``: entered / left / moved per campaign between two runs' results."""
    with migrated(dsn) as conn:
        return history.diff(conn, a, b, sample=sample)


def runs_diff_csv(dsn: str, a: int, b: int, out) -> int:
    """Every customer that moved between runs ``a`` and ``b``, as CSV on ``out``; row count."""
    import csv

    writer = csv.writer(out)
    n = -1
    with migrated(dsn) as conn:
        for n, row in enumerate(history.diff_rows(conn, a, b)):  # noqa: B007
            writer.writerow(row)
    return max(n, 0)


def export_results(
    dsn: str,
    out: Path | None,
    *,
    fmt: str = "csv",
    group: str | None = None,
    campaign: str | None = None,
    stdout=None,
) -> int:
    """``results export``: to ``out`` (written whole or not at all) or to ``stdout``."""
    import sys

    with migrated(dsn) as conn:
        if out is None:
            stream = stdout if stdout is not None else sys.stdout.buffer
            return export.export(conn, stream, fmt=fmt, group=group, campaign=campaign)
        return export.export_file(conn, out, fmt=fmt, group=group, campaign=campaign)


def results_csv_chunks(dsn: str):
    """The current results as CSV in blocks of about 1 MB (the workbench's download streams them)."""
    with migrated(dsn) as conn:
        yield from export.csv_blocks(conn)


def prune_runs(
    dsn: str,
    keep: int,
    keep_records_days: int,
    *,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> Pruned:
    """Retention on demand (``runs prune``), under the run lock so no run publishes meanwhile."""
    with migrated(dsn, autocommit=True) as conn:
        return retention.prune(conn, keep, keep_records_days, dry_run=dry_run, progress=progress)


def trace_customer(
    dsn: str, cif: str, run_id: int | None = None, *, as_of: dt.date | None = None
) -> dict[str, Any]:
    """Why ``cif`` got its campaigns (``explain CIF``): the reference trace beside the stored
    run, relative dates resolved as that run resolved them unless ``as_of`` says otherwise."""
    with migrated(dsn) as conn:
        if run_id is not None:
            run_with_results(conn, run_id)
        if as_of is None:
            as_of = _stored_as_of(conn, cif, run_id)
        return _trace(conn, load_config(conn, as_of), cif, run_id)


def _stored_as_of(conn: psycopg.Connection, cif: str, run_id: int | None) -> dt.date | None:
    """The as-of date of ``run_id``, else of the run behind the customer's current results,
    else of the last published run."""
    row = conn.execute(
        "SELECT as_of FROM campaign_results.runs WHERE run_id = COALESCE(%s::bigint, "
        "(SELECT max(run_id) FROM campaign_results.current_assignments WHERE cif = %s), "
        "(SELECT max(run_id) FROM campaign_results.runs WHERE status = 'succeeded' "
        "AND NOT dry_run))",
        (run_id, cif),
    ).fetchone()
    return row[0] if row else None


def record_read(dsn: str, username: str, what: str, subject: str | None = None) -> None:
    """The audit of reads (campaign_engine.ui_reads): who opened which customer or downloaded
    the results, kept as long as run records."""
    with migrated(dsn) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO campaign_engine.ui_reads (username, what, subject) VALUES (%s, %s, %s)",
            (username, what, subject),
        )
