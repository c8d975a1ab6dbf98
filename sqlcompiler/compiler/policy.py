"""The contact policy's stage (SPEC §6) as SQL: one set-based statement per run, after the
run statement and before publishing, on a connection that sees the staged contact lists.

Every selected contact meets the blocks active on the run's day and the attempts of the days
the policy looks back (one read of those days' partitions, aggregated once per party and once
per number), gets the first reason that applies, and is either kept (its assignment's list is
rewritten without the removed ones, which renumbers the rest: ``position`` is the place in the
list) or recorded in ``suppressed_contacts_staging`` with its reason. Without a policy there
is no stage. Every value in it is a literal: validated numbers, dates, an IANA zone name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg import sql

from ..config.policy import ContactPolicy

STAGE = """
WITH listed AS MATERIALIZED (
  SELECT u.cif, u.campaign_group_id, u.campaign_id, u.position, u.rule_priority, u.phone_rank,
         b.party_order, b.party_cif, b.contact_type, b.phone_number
  FROM (
    SELECT l.cif, l.campaign_group_id, l.campaign_id, u.ord AS position,
           l.rule_priorities[u.ord] AS rule_priority, u.phone_rank
    FROM campaign_results.contact_lists_staging AS l
    CROSS JOIN LATERAL unnest(l.phone_ranks) WITH ORDINALITY AS u(phone_rank, ord)
    OFFSET 0  -- a fence: the lists are unnested first, then meet the phone book in one join
  ) AS u
  JOIN campaign_results.phone_books_staging AS b
    ON b.owner = u.cif AND b.phone_rank = u.phone_rank
),
by_party AS (
  SELECT a.party_cif{party_columns}
  FROM (SELECT a.party_cif, a.outcome, a.attempted_at
        FROM campaign_engine.contact_attempts AS a
        WHERE a.attempted_at >= {party_from} AND a.attempted_at < {until}) AS a
  WHERE {party_needed}
  GROUP BY a.party_cif
),
by_phone AS (
  SELECT a.phone_number{phone_columns}
  FROM (SELECT a.phone_number, a.attempted_at
        FROM campaign_engine.contact_attempts AS a
        WHERE a.attempted_at >= {phone_from} AND a.attempted_at < {until}) AS a
  WHERE {phone_needed}
  GROUP BY a.phone_number
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
    WHERE (v.cif, v.campaign_group_id) IN (SELECT cif, campaign_group_id FROM verdicts
                                           WHERE reason IS NOT NULL)
    GROUP BY v.cif, v.campaign_group_id
  ) AS v
  WHERE l.cif = v.cif AND l.campaign_group_id = v.campaign_group_id
  RETURNING 1
)
SELECT s.campaign_group_id, s.campaign_id, s.reason, COUNT(*),
       (SELECT COUNT(*) FROM kept)
FROM suppressed AS s GROUP BY 1, 2, 3
"""


# The first instant of a local day. ``midnight AT TIME ZONE`` is the later of two midnights
# where clocks fall back across it (America/Havana on 2026-11-01: 05:00 UTC, though 04:00-05:00
# UTC is already Nov 1 there), so the hour or half hour before it is taken when it is on the
# same day. All constants: the planner folds it to one timestamptz, and no attempt is converted
# to its local day (at 1M customers, 5.7M attempts: the per-party aggregate 7.7 s with a local
# day per row, 3.0-3.8 s comparing instants).
DAY_START = """CASE
  WHEN CAST({early_1h} AT TIME ZONE {tz} AS date) >= {day} THEN {early_1h}
  WHEN CAST({early_30m} AT TIME ZONE {tz} AS date) >= {day} THEN {early_30m}
  ELSE {midnight}
END"""
# (timestamptz - interval is only stable, so the earlier instants are reckoned in UTC's wall
# clock, where every step is immutable and the whole CASE folds)
EARLIER = "(({midnight}) AT TIME ZONE 'UTC' - INTERVAL {step}) AT TIME ZONE 'UTC'"


def day_start(day: dt.date, timezone: str) -> sql.Composable:
    midnight = sql.SQL("CAST({} AS timestamp) AT TIME ZONE {}").format(
        sql.Literal(day), sql.Literal(timezone)
    )
    early = {
        name: sql.SQL(EARLIER).format(midnight=midnight, step=sql.Literal(step))
        for name, step in (("early_1h", "1 hour"), ("early_30m", "30 minutes"))
    }
    return sql.SQL(DAY_START).format(
        day=sql.Literal(day), tz=sql.Literal(timezone), midnight=midnight, **early
    )


def statement(policy: ContactPolicy, as_of: dt.date, run_id: int) -> sql.Composed:
    """The stage for ``policy`` on day ``as_of``; every value a literal (validated numbers,
    dates and an IANA zone name), the reasons in the SPEC's order."""
    lit = sql.Literal

    def since(days: int) -> sql.Composable:
        return day_start(as_of - dt.timedelta(days=days - 1), policy.timezone)

    party, phone = [], []
    reasons: list[sql.Composable] = []
    if policy.after_connected_days:
        party.append(sql.SQL("BOOL_OR(a.outcome = 'connected' AND a.attempted_at >= {}) AS connected")
                     .format(since(policy.after_connected_days)))  # fmt: skip
        reasons.append(sql.SQL("WHEN bp.connected THEN 'connected_recently'"))
    if policy.reference_min_days:
        party.append(sql.SQL("BOOL_OR(a.attempted_at >= {}) AS called").format(
            since(policy.reference_min_days)))  # fmt: skip
        reasons.append(sql.SQL("WHEN k.party_order <> 0 AND bp.called THEN 'reference_recently'"))
    for i, limit in enumerate(policy.limits):
        name = sql.Identifier(f"limit_{i}")
        count = sql.SQL("COUNT(*) FILTER (WHERE a.attempted_at >= {}) AS {}").format(
            since(limit.days), name
        )
        (party if limit.per == "party" else phone).append(count)
        alias = sql.SQL("bp" if limit.per == "party" else "bh")
        reasons.append(sql.SQL("WHEN {}.{} >= {} THEN {}").format(
            alias, name, lit(limit.attempts), lit(f"limit: {limit.per}/{limit.days}d")))  # fmt: skip

    def columns(items: list[sql.Composable]) -> sql.Composable:
        return sql.SQL("").join(sql.SQL(", ") + x for x in items)

    # each side reads only the days its rules look back, and nothing when it has no rule
    party_days = max([policy.after_connected_days, policy.reference_min_days,
                      *(x.days for x in policy.limits if x.per == "party")], default=0)  # fmt: skip
    phone_days = max((x.days for x in policy.limits if x.per == "phone"), default=0)
    return sql.SQL(STAGE).format(
        party_from=since(max(party_days, 1)),
        phone_from=since(max(phone_days, 1)),
        party_needed=sql.SQL("true" if party else "false"),
        phone_needed=sql.SQL("true" if phone else "false"),
        until=day_start(as_of + dt.timedelta(days=1), policy.timezone),
        as_of=lit(as_of),
        run_id=lit(run_id),
        party_columns=columns(party),
        phone_columns=columns(phone),
        reasons=sql.SQL("\n      ").join(reasons),
    )


@dataclass(frozen=True)
class CompiledPolicy:
    """The stage as ``compile`` shows it: a header in words, then the statement."""

    policy: ContactPolicy
    as_of: dt.date
    run_id: int = 0

    title = "the contact policy stage (SPEC §6)"

    @property
    def sql(self) -> str:
        return statement(self.policy, self.as_of, self.run_id).as_string(None)

    @property
    def header(self) -> str:
        p = self.policy
        start, end = p.window(self.as_of)
        lines = [
            "-- The contact policy stage (SPEC §6), once per run after the run statement, before "
            "publishing:",
            f"--   day {self.as_of} in {p.timezone}; calling window {start:%H:%M}-{end:%H:%M} "
            f"({start.isoformat()} to {end.isoformat()})",
            "--   a selected contact is removed with the first reason that applies, in order:",
            "--   1. blocked: <reason>  a block active that day on its number or its person",
        ]
        n = 2
        if p.after_connected_days:
            lines.append(f"--   {n}. connected_recently  a connected attempt in the last "
                         f"{p.after_connected_days} days")  # fmt: skip
            n += 1
        if p.reference_min_days:
            lines.append(f"--   {n}. reference_recently  a reference called in the last "
                         f"{p.reference_min_days} days")  # fmt: skip
            n += 1
        for limit in p.limits:
            lines.append(f"--   {n}. limit: {limit.per}/{limit.days}d  {limit.attempts} or more "
                         f"attempts per {limit.per} in the last {limit.days} days")  # fmt: skip
            n += 1
        lines.append("--   the remaining contacts keep their order, numbered 1, 2, ... again")
        return "\n".join(lines) + "\n"

    def pretty(self) -> str:
        return self.header + self.sql.strip() + ";\n"
