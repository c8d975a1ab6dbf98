"""Executing the contact policy's stage (SPEC §6; the statement is compiler/policy.py) on a
connection that sees the staged contact lists, and the run's counts after it."""

from __future__ import annotations

import datetime as dt
import time

import psycopg

from ..compiler.policy import statement
from ..compiler.settings import set_local_statements
from ..config.policy import ContactPolicy
from ..infra.connection import connect_like
from ..progress import Progress
from .record import GroupResult

ANALYZE_STAGED = (
    "ANALYZE campaign_results.contact_lists_staging, campaign_results.phone_books_staging"
)


def apply_policy(
    conn: psycopg.Connection, policy: ContactPolicy, as_of: dt.date, run_id: int
) -> dict[tuple[int, int], dict[str, int]]:
    """Run the stage; the suppressed contacts per (group, campaign) and reason.

    The staging tables are analysed first (a sample: about a second at 1M customers): the
    planner otherwise estimates the contacts at 70 × their number (no statistics yet) and
    joins the whole phone book before the contacts."""
    conn.execute(ANALYZE_STAGED)
    out: dict[tuple[int, int], dict[str, int]] = {}
    for group, campaign, why, n, _kept in conn.execute(statement(policy, as_of, run_id)):
        out.setdefault((group, campaign), {})[why] = n
    return out


def run_stage(
    work: psycopg.Connection, committed: bool, policy: ContactPolicy, as_of: dt.date,
    run_id: int, groups: list[GroupResult], progress: Progress,
) -> dict[tuple[int, int], dict[str, int]]:  # fmt: skip
    """The stage on a connection that sees the staged lists (the work transaction's, or a
    fresh one when the run's connections committed them); the groups' counts follow."""
    t0 = time.monotonic()
    if committed:  # a connection of its own, with the run's session settings (work_mem …)
        with connect_like(work, "sqlcompiler-run-policy", autocommit=True) as conn:
            with conn.transaction():
                for statement in set_local_statements(False):
                    conn.execute(statement)
                found = apply_policy(conn, policy, as_of, run_id)
    else:
        found = apply_policy(work, policy, as_of, run_id)
    count_suppressed(groups, found)
    total = sum(n for reasons in found.values() for n in reasons.values())
    progress(f"  contact policy: {total:,} contacts suppressed ({time.monotonic() - t0:.2f}s)")
    return found


def count_suppressed(
    groups: list[GroupResult], found: dict[tuple[int, int], dict[str, int]]
) -> None:
    by_id = {g.group_id: g for g in groups}
    for (group, _campaign), reasons in found.items():
        g = by_id[group]
        for why, n in reasons.items():
            g.contacts -= n
            g.suppressed[why] = g.suppressed.get(why, 0) + n
