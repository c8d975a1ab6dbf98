"""Executing the contact policy's stage (SPEC §6; the statement is compiler/policy.py) on a
connection that sees the staged contact lists, and the run's counts after it."""

from __future__ import annotations

import datetime as dt
import time

import psycopg

from ..compiler.policy import statement
from ..config.policy import ContactPolicy
from ..infra.connection import connect_like
from ..progress import Progress
from .record import GroupResult


def apply_policy(
    conn: psycopg.Connection, policy: ContactPolicy, as_of: dt.date, run_id: int
) -> dict[tuple[int, int], dict[str, int]]:
    """Run the stage; the suppressed contacts per (group, campaign) and reason."""
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
    if committed:
        with connect_like(work, "sqlcompiler-run-policy", autocommit=True) as conn:
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
