"""The contact policy (SPEC §6) as SQL: CTEs of the run statement (templates/run.sql.j2),
between the selection of each assignment's contacts (``firsts``) and their lists.

Every selected contact meets the blocks active on the run's day, its party's latest attempt
and latest connected attempt (``campaign_engine.contact_parties``, kept by triggers as
attempts are stored; migration 0017) and the attempts of the days the rolling limits look
back, aggregated once per party (only the parties this statement selected: on several
connections, each its slice's) and once per number; it gets the first reason that applies.
The lists are aggregated from the contacts without one (``position`` is the place in the
list, so the rest are numbered 1, 2, ... again), the others go to
``suppressed_contacts_staging`` with their reason, and the statement returns their counts per
group, campaign and reason. Without a policy none of it is in the statement. Every value in
it is a literal: validated numbers, dates, an IANA zone name. (Until the twentieth session
this was a statement of its own after the run statement, which expanded the lists against
the phone book again and rewrote them: docs/performance.md.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from psycopg import sql

from ..config.policy import ContactPolicy

BLOCKS = """blocks AS (
  SELECT DISTINCT ON (b.scope, b.value) b.scope, b.value, b.reason, b.valid_from
  FROM campaign_engine.contact_blocks AS b
  WHERE b.removed_at IS NULL AND b.valid_from <= {as_of}
    AND (b.valid_until IS NULL OR {as_of} <= b.valid_until)
  ORDER BY b.scope, b.value, b.valid_from, b.reason COLLATE "C"
)"""
# connected_recently and reference_recently read each party's latest instants
# (campaign_engine.contact_parties, kept by triggers as attempts are stored: one row per party
# instead of weeks of attempts); where the latest is after the run's day (a run for a past
# day), the attempts themselves answer (a scalar subquery, not EXISTS: the planner would hash
# every attempt of those days for it, 1.6 s at 1M customers, though it is rarely asked; and
# COALESCE: a party never called must not ask it)
LATEST = """COALESCE(p.{column} >= {since}, FALSE) AND (p.{column} < {until} OR (
        SELECT a.attempted_at FROM campaign_engine.contact_attempts AS a
        WHERE a.party_cif = k.party_cif AND a.attempted_at >= {since}
          AND a.attempted_at < {until}{outcome} LIMIT 1) IS NOT NULL)"""
# the rolling limits per party: over their days (a week, typically), only the parties this
# statement selected
BY_PARTY = """by_party AS (
  SELECT a.party_cif{columns}
  FROM campaign_engine.contact_attempts AS a
  WHERE a.attempted_at >= {since} AND a.attempted_at < {until}
    AND a.party_cif IN (SELECT f.party_cif FROM firsts AS f)
  GROUP BY a.party_cif
)"""
# the rolling limits per number: a day of attempts, typically, aggregated whole (restricted to
# the selected numbers it took longer at 1M customers)
BY_PHONE = """by_phone AS (
  SELECT a.phone_number{columns}
  FROM campaign_engine.contact_attempts AS a
  WHERE a.attempted_at >= {since} AND a.attempted_at < {until}
  GROUP BY a.phone_number
)"""
VERDICTS = """verdicts AS (
  SELECT k.*,
    CASE
      WHEN pb.value IS NOT NULL AND (yb.value IS NULL OR pb.valid_from < yb.valid_from
           OR (pb.valid_from = yb.valid_from AND pb.reason COLLATE "C" <= yb.reason COLLATE "C"))
        THEN 'blocked: ' || pb.reason
      WHEN yb.value IS NOT NULL THEN 'blocked: ' || yb.reason
      {reasons}
    END AS reason
  FROM firsts AS k
  LEFT JOIN blocks AS pb ON pb.scope = 'phone' AND pb.value = k.phone_number
  LEFT JOIN blocks AS yb ON yb.scope = 'party' AND yb.value = k.party_cif{joins}
),
suppressed AS (
  INSERT INTO campaign_results.suppressed_contacts_staging (run_id, cif, campaign_group_id,
    campaign_id, rule_priority, party_type, party_cif, contact_type, phone_number, reason)
  SELECT {run_id}, v.cif, v.campaign_group_id, v.campaign_id, v.rule_priority,
    CASE WHEN v.party_order = 0 THEN 'customer' ELSE 'reference' END, v.party_cif,
    v.contact_type, v.phone_number, v.reason
  FROM verdicts AS v WHERE v.reason IS NOT NULL
  RETURNING campaign_group_id, campaign_id, reason
)"""


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


def ctes(policy: ContactPolicy, as_of: dt.date, run_id: str) -> str:
    """The policy's CTEs for day ``as_of`` (``run_id``: the run statement's SQL for it); every
    value a literal (validated numbers, dates and an IANA zone name), the reasons in the SPEC's
    order."""
    lit = sql.Literal

    def since(days: int) -> sql.Composable:
        return day_start(as_of - dt.timedelta(days=days - 1), policy.timezone)

    until = day_start(as_of + dt.timedelta(days=1), policy.timezone)
    party, phone = [], []
    reasons: list[sql.Composable] = []
    joins: list[str] = []
    parts = [sql.SQL(BLOCKS).format(as_of=lit(as_of))]
    if policy.after_connected_days or policy.reference_min_days:
        joins.append("LEFT JOIN campaign_engine.contact_parties AS p ON p.party_cif = k.party_cif")
    if policy.after_connected_days:
        reasons.append(sql.SQL("WHEN {} THEN 'connected_recently'").format(_latest(
            "last_connected_at", since(policy.after_connected_days), until,
            " AND a.outcome = 'connected'")))  # fmt: skip
    if policy.reference_min_days:
        reasons.append(sql.SQL("WHEN k.party_order <> 0 AND {} THEN 'reference_recently'").format(
            _latest("last_attempted_at", since(policy.reference_min_days), until, "")))  # fmt: skip
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
    party_days = max((x.days for x in policy.limits if x.per == "party"), default=0)
    phone_days = max((x.days for x in policy.limits if x.per == "phone"), default=0)
    if party:
        parts.append(sql.SQL(BY_PARTY).format(columns=columns(party), since=since(party_days),
                                              until=until))  # fmt: skip
        joins.append("LEFT JOIN by_party AS bp ON bp.party_cif = k.party_cif")
    if phone:
        parts.append(sql.SQL(BY_PHONE).format(columns=columns(phone), since=since(phone_days),
                                              until=until))  # fmt: skip
        joins.append("LEFT JOIN by_phone AS bh ON bh.phone_number = k.phone_number")
    parts.append(sql.SQL(VERDICTS).format(
        reasons=sql.SQL("\n      ").join(reasons),
        joins=sql.SQL("".join("\n  " + j for j in joins)),
        run_id=sql.SQL(run_id),
    ))  # fmt: skip
    return sql.SQL(",\n").join(parts).as_string(None)


def _latest(column: str, since, until, outcome: str) -> sql.Composable:
    return sql.SQL(LATEST).format(
        column=sql.Identifier(column), since=since, until=until, outcome=sql.SQL(outcome)
    )


@dataclass(frozen=True)
class CompiledPolicy:
    """The policy as the run statement has it: its CTEs and the header in words."""

    policy: ContactPolicy
    as_of: dt.date

    def ctes(self, run_id: str) -> str:
        return ctes(self.policy, self.as_of, run_id)

    @property
    def header(self) -> list[str]:
        p = self.policy
        start, end = p.window(self.as_of)
        lines = [
            "-- the contact policy (SPEC §6), in this statement: CTEs blocks .. verdicts between "
            "the selected contacts (firsts) and their lists",
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
        lines.append("--   the remaining contacts keep their order, numbered 1, 2, ... again; the "
                     "removed ones are written to suppressed_contacts_staging with their reason")  # fmt: skip
        return lines
