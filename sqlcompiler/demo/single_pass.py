"""The bench's single-pass peer (issue 34): the run's own prologue and run statement on one
connection, unsliced and unpublished, checked row for row against what the run published."""

from __future__ import annotations

import time

import psycopg
from psycopg import sql

from ..config.model import Configuration
from ..run.staging import STAGED_CONTACTS
from .measure import Measurement, warm_up


def measure_single_pass(
    conn: psycopg.Connection, config: Configuration, run_id: int, population: int
) -> Measurement:
    """The single-pass plan of issue 34 on one connection: the run prologue and the run
    statement (every group in one pass over customers and loans, one contacts pass) in one
    transaction, with the run's settings, no slices, no publishing; its staging rows compared
    row for row with what the run published (assignments and contacts, ``position`` included),
    then rolled back. The run must be no slower than this."""
    from ..compiler import compile_config

    warm_up(conn)
    compiled = compile_config(config)
    assert compiled.statement is not None
    with conn.transaction(force_rollback=True):
        for statement in compiled.settings:
            conn.execute(statement)
        conn.execute("SELECT set_config('sqlcompiler.run_id', %s, true)", (str(run_id),))
        t0 = time.monotonic()
        for table in compiled.tables:
            for statement in table.statements():
                conn.execute(statement)
        t_prologue = time.monotonic() - t0
        conn.execute(compiled.statement.sql)
        seconds = time.monotonic() - t0
        diffs = {}
        staged = {"assignments": sql.Identifier("campaign_results", "assignments_staging"),
                  "contacts": sql.SQL("({}) AS k").format(STAGED_CONTACTS)}  # fmt: skip
        for table, cols in (
            ("assignments", "cif, campaign_group_id, campaign_id, account_numbers"),
            ("contacts", "cif, campaign_group_id, campaign_id, position, rule_priority, party_type, "
                         "party_cif, contact_type, phone_number, phone_id"),
        ):  # fmt: skip
            q = sql.SQL(
                "SELECT count(*) FROM ((SELECT {c} FROM {s} WHERE run_id = %(r)s EXCEPT ALL "
                "SELECT {c} FROM {p} WHERE run_id = %(r)s) UNION ALL (SELECT {c} FROM {p} "
                "WHERE run_id = %(r)s EXCEPT ALL SELECT {c} FROM {s} WHERE run_id = %(r)s)) d"
            ).format(c=sql.SQL(cols), s=staged[table], p=sql.Identifier("campaign_results", table))
            diffs[table] = conn.execute(q, {"r": run_id}).fetchone()[0]
    return Measurement(
        "single pass, 1 connection", seconds, population,
        note=f"prologue {t_prologue:.2f}s; the run statement unsliced, not published",
        details={"prologue_seconds": round(t_prologue, 3), "differences_from_run": diffs},
    )  # fmt: skip
