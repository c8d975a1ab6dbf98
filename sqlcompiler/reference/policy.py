"""SPEC §6, the contact policy, in plain Python, written to be read beside the SPEC.

A stage after §3's contact selection: it removes contacts (never adds one, never changes an
assignment), gives each removed contact the first reason that applies, numbers the remaining
contacts 1, 2, … again, and gives them the calling window of the run's day. The differential
suite holds the product's SQL stage against this; the hand-written tests in
tests/reference/test_policy.py hold this against the SPEC, rule by rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from ..config.policy import ContactPolicy, Limit

__all__ = ["Attempt", "Block", "Limit", "Outcome", "Policy", "apply", "apply_all", "reason"]


Policy = ContactPolicy  # the validated configuration's policy (config/policy.py)


@dataclass(frozen=True)
class Attempt:
    attempt_id: str
    cif: str  # the customer whose debt it was about
    party_cif: str  # the person called
    phone_number: str
    attempted_at: dt.datetime  # aware
    outcome: str


@dataclass(frozen=True)
class Block:
    scope: str  # phone | party
    value: str
    reason: str
    valid_from: dt.date
    valid_until: dt.date | None = None  # None: open-ended


@dataclass
class Outcome:
    """One assignment's contacts after the policy."""

    kept: list[dict[str, Any]]  # renumbered 1, 2, …, each with window_start / window_end
    suppressed: list[dict[str, Any]] = field(default_factory=list)  # each with its reason


def first_reports(reports: Iterable[Attempt]) -> list[Attempt]:
    """Attempts as stored: a report whose attempt_id was seen before is ignored."""
    seen: dict[str, Attempt] = {}
    for a in reports:
        seen.setdefault(a.attempt_id, a)
    return list(seen.values())


def day_of(a: Attempt, policy: Policy) -> dt.date:
    """An attempt's day: the date of attempted_at in the policy's time zone."""
    return a.attempted_at.astimezone(ZoneInfo(policy.timezone)).date()


def within(day: dt.date, days: int, as_of: dt.date) -> bool:
    """On a day from D − (N − 1) to D inclusive."""
    return as_of - dt.timedelta(days=days - 1) <= day <= as_of


def window(policy: Policy, as_of: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(policy.timezone)
    return (dt.datetime.combine(as_of, policy.start, zone),
            dt.datetime.combine(as_of, policy.end, zone))  # fmt: skip


def reason(
    contact: dict[str, Any],
    policy: Policy,
    as_of: dt.date,
    attempts: list[Attempt],
    blocks: list[Block],
) -> str | None:
    """The first of §6's reasons that applies to one selected contact, or None."""
    number, party = contact["phone_number"], contact["party_cif"]
    active = [
        b for b in blocks
        if b.valid_from <= as_of and (b.valid_until is None or as_of <= b.valid_until)
        and ((b.scope == "phone" and number is not None and b.value == number)
             or (b.scope == "party" and b.value == party))
    ]  # fmt: skip
    if active:
        first = min(active, key=lambda b: (b.valid_from, b.reason.encode()))  # C order
        return f"blocked: {first.reason}"
    days = {a.attempt_id: day_of(a, policy) for a in attempts}
    mine = [a for a in attempts if a.party_cif == party]
    if policy.after_connected_days > 0 and any(
        a.outcome == "connected" and within(days[a.attempt_id], policy.after_connected_days, as_of)
        for a in mine
    ):
        return "connected_recently"
    if (
        policy.reference_min_days > 0
        and contact["party_type"] != "customer"
        and any(within(days[a.attempt_id], policy.reference_min_days, as_of) for a in mine)
    ):
        return "reference_recently"
    for limit in policy.limits:
        same = (
            mine if limit.per == "party"
            else [a for a in attempts if number is not None and a.phone_number == number]
        )  # fmt: skip
        if sum(within(days[a.attempt_id], limit.days, as_of) for a in same) >= limit.attempts:
            return f"limit: {limit.per}/{limit.days}d"
    return None


def apply(
    contacts: list[dict[str, Any]],
    policy: Policy | None,
    as_of: dt.date,
    attempts: list[Attempt],
    blocks: list[Block],
) -> Outcome:
    """One assignment's contacts (in §3's order) through the policy; without a policy they
    are returned as they are (§6: nothing is removed)."""
    if policy is None:
        return Outcome([dict(c) for c in contacts])
    start, end = window(policy, as_of)
    kept, suppressed = [], []
    for c in sorted(contacts, key=lambda c: c["position"]):
        why = reason(c, policy, as_of, attempts, blocks)
        if why is None:
            kept.append(c | {"position": len(kept) + 1, "window_start": start,
                             "window_end": end})  # fmt: skip
        else:
            suppressed.append(c | {"reason": why})
    return Outcome(kept, suppressed)


def load_inputs(
    conn: psycopg.Connection, policy: Policy, as_of: dt.date
) -> tuple[list[Attempt], list[Block]]:
    """The stored attempts around the days the policy looks back (a day more on each side in
    UTC: which of them count is decided above, by their day in the policy's zone) and the
    blocks not removed."""
    days = max(policy.longest, 1)
    low = dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time(), dt.UTC)
    high = dt.datetime.combine(as_of + dt.timedelta(days=2), dt.time(), dt.UTC)
    attempts = [
        Attempt(*row)
        for row in conn.execute(
            "SELECT attempt_id, cif, party_cif, phone_number, attempted_at, outcome "
            "FROM campaign_engine.contact_attempts WHERE attempted_at >= %s AND attempted_at < %s",
            (low, high),
        )
    ]
    blocks = [
        Block(*row)
        for row in conn.execute(
            "SELECT scope, value, reason, valid_from, valid_until FROM campaign_engine.contact_blocks "
            "WHERE removed_at IS NULL"
        )
    ]
    return attempts, blocks


def apply_all(conn: psycopg.Connection, policy: Policy, as_of: dt.date, found: list) -> list[dict]:
    """The reference engine's assignments through the policy: each keeps its remaining
    contacts, renumbered; the suppressed ones are returned, each with its assignment's keys."""
    attempts, blocks = load_inputs(conn, policy, as_of)
    removed = []
    for a in found:
        parties = {c["party_cif"] for c in a.contacts}
        numbers = {c["phone_number"] for c in a.contacts}
        mine = [x for x in attempts if x.party_cif in parties or x.phone_number in numbers]
        out = apply(a.contacts, policy, as_of, mine, blocks)
        a.contacts = out.kept
        removed += [c | {"cif": a.cif, "campaign_group_id": a.campaign_group_id,
                         "campaign_id": a.campaign_id} for c in out.suppressed]  # fmt: skip
    return removed
