"""The contact policy's stage (SPEC §6): one set-based statement per run.

It runs after the run statement has written the staged contact lists and before they are
published, on a connection that sees them: every selected contact meets the blocks active on
the run's day and the attempts of the days the policy looks back (one read of those days'
partitions, aggregated once per party and once per number), gets the first reason that
applies, and is either kept (the assignment's list rewritten without the removed ones, which
renumbers the rest: ``position`` is the place in the list) or recorded in
``suppressed_contacts_staging`` with its reason. Without a policy there is no stage: the run
is exactly what it was before the policy existed.
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg
from psycopg import sql

from ..config.policy import ContactPolicy
from ..infra.connection import connect_like
from ..progress import Progress
from .record import GroupResult

STAGE = """
WITH listed AS (
  SELECT l.cif, l.campaign_group_id, l.campaign_id, u.ord AS position,
         l.rule_priorities[u.ord] AS rule_priority, u.phone_rank, b.party_order, b.party_cif,
         b.contact_type, b.phone_number
  FROM campaign_results.contact_lists_staging AS l
  CROSS JOIN LATERAL unnest(l.phone_ranks) WITH ORDINALITY AS u(phone_rank, ord)
  JOIN campaign_results.phone_books_staging AS b
    ON b.owner = l.cif AND b.phone_rank = u.phone_rank
),
attempts AS (
  SELECT a.party_cif, a.phone_number, a.outcome,
         CAST(a.attempted_at AT TIME ZONE {tz} AS date) AS day
  FROM campaign_engine.contact_attempts AS a
  WHERE a.attempted_at >= CAST({first_day} AS timestamp) AT TIME ZONE {tz}
    AND a.attempted_at < CAST({day_after} AS timestamp) AT TIME ZONE {tz}
),
by_party AS (
  SELECT a.party_cif{party_columns} FROM attempts AS a GROUP BY a.party_cif
),
by_phone AS (
  SELECT a.phone_number{phone_columns} FROM attempts AS a GROUP BY a.phone_number
),
blocks AS (
  SELECT DISTINCT ON (b.scope, b.value) b.scope, b.value, b.reason, b.valid_from
  FROM campaign_engine.contact_blocks AS b
  WHERE b.removed_at IS NULL AND b.valid_from <= {as_of}
    AND (b.valid_until IS NULL OR {as_of} <= b.valid_until)
  ORDER BY b.scope, b.value, b.valid_from, b.reason COLLATE "C"
),
verdicts AS (
  SELECT k.*,
    CASE
      WHEN pb.value IS NOT NULL AND (yb.value IS NULL OR pb.valid_from < yb.valid_from
           OR (pb.valid_from = yb.valid_from AND pb.reason COLLATE "C" <= yb.reason COLLATE "C"))
        THEN 'blocked: ' || pb.reason
      WHEN yb.value IS NOT NULL THEN 'blocked: ' || yb.reason
      {reasons}
    END AS reason
  FROM listed AS k
  LEFT JOIN blocks AS pb ON pb.scope = 'phone' AND pb.value = k.phone_number
  LEFT JOIN blocks AS yb ON yb.scope = 'party' AND yb.value = k.party_cif
  LEFT JOIN by_party AS bp ON bp.party_cif = k.party_cif
  LEFT JOIN by_phone AS bh ON bh.phone_number = k.phone_number
),
suppressed AS (
  INSERT INTO campaign_results.suppressed_contacts_staging (run_id, cif, campaign_group_id,
    campaign_id, rule_priority, party_type, party_cif, contact_type, phone_number, reason)
  SELECT {run_id}, v.cif, v.campaign_group_id, v.campaign_id, v.rule_priority,
    CASE WHEN v.party_order = 0 THEN 'customer' ELSE 'reference' END, v.party_cif,
    v.contact_type, v.phone_number, v.reason
  FROM verdicts AS v WHERE v.reason IS NOT NULL
  RETURNING campaign_group_id, campaign_id, reason
),
kept AS (
  UPDATE campaign_results.contact_lists_staging AS l
  SET phone_ranks = v.ranks, rule_priorities = v.priorities
  FROM (
    SELECT v.cif, v.campaign_group_id,
      COALESCE(ARRAY_AGG(CAST(v.phone_rank AS INT) ORDER BY v.position)
               FILTER (WHERE v.reason IS NULL), '{{}}') AS ranks,
      COALESCE(ARRAY_AGG(v.rule_priority ORDER BY v.position)
               FILTER (WHERE v.reason IS NULL), '{{}}') AS priorities
    FROM verdicts AS v
    GROUP BY v.cif, v.campaign_group_id
    HAVING BOOL_OR(v.reason IS NOT NULL)
  ) AS v
  WHERE l.cif = v.cif AND l.campaign_group_id = v.campaign_group_id
  RETURNING 1
)
SELECT s.campaign_group_id, s.campaign_id, s.reason, COUNT(*),
       (SELECT COUNT(*) FROM kept)
FROM suppressed AS s GROUP BY 1, 2, 3
"""


def statement(policy: ContactPolicy, as_of: dt.date, run_id: int) -> sql.Composed:
    """The stage for ``policy`` on day ``as_of``; every value a literal (validated numbers,
    dates and an IANA zone name), the reasons in the SPEC's order."""
    lit = sql.Literal

    def since(days: int) -> sql.Composable:
        return lit(as_of - dt.timedelta(days=days - 1))

    party, phone = [], []
    reasons: list[sql.Composable] = []
    if policy.after_connected_days:
        party.append(sql.SQL("BOOL_OR(a.outcome = 'connected' AND a.day >= {}) AS connected")
                     .format(since(policy.after_connected_days)))  # fmt: skip
        reasons.append(sql.SQL("WHEN bp.connected THEN 'connected_recently'"))
    if policy.reference_min_days:
        party.append(sql.SQL("BOOL_OR(a.day >= {}) AS called").format(
            since(policy.reference_min_days)))  # fmt: skip
        reasons.append(sql.SQL("WHEN k.party_order <> 0 AND bp.called THEN 'reference_recently'"))
    for i, limit in enumerate(policy.limits):
        name = sql.Identifier(f"limit_{i}")
        count = sql.SQL("COUNT(*) FILTER (WHERE a.day >= {}) AS {}").format(since(limit.days), name)
        (party if limit.per == "party" else phone).append(count)
        alias = sql.SQL("bp" if limit.per == "party" else "bh")
        reasons.append(sql.SQL("WHEN {}.{} >= {} THEN {}").format(
            alias, name, lit(limit.attempts), lit(f"limit: {limit.per}/{limit.days}d")))  # fmt: skip

    def columns(items: list[sql.Composable]) -> sql.Composable:
        return sql.SQL("").join(sql.SQL(", ") + x for x in items)

    longest = max(policy.longest, 1)
    return sql.SQL(STAGE).format(
        tz=lit(policy.timezone),
        first_day=lit(as_of - dt.timedelta(days=longest - 1)),
        day_after=lit(as_of + dt.timedelta(days=1)),
        as_of=lit(as_of),
        run_id=lit(run_id),
        party_columns=columns(party),
        phone_columns=columns(phone),
        reasons=sql.SQL("\n      ").join(reasons),
    )


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
