"""Looking back at runs: one run's record by name (``runs show``), two runs compared
(``runs diff``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ..errors import SqlCompilerError
from .record import RunRecord, list_runs, run_with_results


@dataclass
class CampaignCount:
    group: str
    campaign: str
    assigned: int


def show(conn: psycopg.Connection, run_id: int) -> tuple[RunRecord, list[CampaignCount]]:
    found = list_runs(conn, 1, run_id=run_id)
    if not found:
        raise SqlCompilerError(f"run {run_id} does not exist; `sqlcompiler runs` lists the runs")
    record = found[0]
    names = _names(conn, [record])
    counts = []
    for gid, g in ((record.counts or {}).get("groups") or {}).items():
        for cid in {**g.get("campaign_names", {}), **g.get("campaigns", {})}:
            counts.append(CampaignCount(
                g.get("name") or f"group id {gid}",
                g.get("campaign_names", {}).get(cid) or names.get(int(cid), f"campaign id {cid}"),
                int(g.get("campaigns", {}).get(cid, 0)),
            ))  # fmt: skip
    return record, counts


@dataclass
class Movement:
    group: str
    change: str  # entered | left | moved
    from_campaign: str | None
    to_campaign: str | None
    customers: int
    sample: list[str] = field(default_factory=list)


DIFF = """
WITH a AS (SELECT cif, campaign_group_id, campaign_id FROM campaign_results.assignments
           WHERE run_id = %(a)s {pop_a}),
     b AS (SELECT cif, campaign_group_id, campaign_id FROM campaign_results.assignments
           WHERE run_id = %(b)s {pop_b})
SELECT coalesce(a.campaign_group_id, b.campaign_group_id), a.campaign_id, b.campaign_id,
       {what}
FROM a FULL JOIN b ON a.cif = b.cif AND a.campaign_group_id = b.campaign_group_id
WHERE a.campaign_id IS DISTINCT FROM b.campaign_id
{tail}
"""


def _population(record: RunRecord, other: RunRecord) -> sql.Composable:
    """Compare list runs on the customers both runs covered."""
    parts = [
        sql.SQL(
            "AND cif IN (SELECT cif FROM campaign_results.run_population WHERE run_id = {})"
        ).format(sql.Literal(r.run_id))
        for r in (record, other)
        if r.kind == "list"
    ]
    return sql.SQL(" ").join(parts)


def diff(
    conn: psycopg.Connection, a: int, b: int, *, sample: int = 0
) -> tuple[RunRecord, RunRecord, list[Movement]]:
    ra, rb = run_with_results(conn, a), run_with_results(conn, b)
    names = _names(conn, [ra, rb])
    groups = _group_names(conn, [ra, rb])
    query = sql.SQL(DIFF).format(
        pop_a=_population(ra, rb), pop_b=_population(rb, ra),
        what=sql.SQL("count(*), (array_agg(coalesce(a.cif, b.cif) ORDER BY coalesce(a.cif, b.cif)))[1:{}]").format(
            sql.Literal(max(sample, 0))
        ),
        tail=sql.SQL("GROUP BY 1, 2, 3 ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST"),
    )  # fmt: skip
    out = []
    for gid, old, new, n, cifs in conn.execute(query, {"a": a, "b": b}).fetchall():
        change = "entered" if old is None else "left" if new is None else "moved"
        out.append(Movement(
            groups.get(gid, f"group id {gid}"), change,
            None if old is None else names.get(old, f"campaign id {old}"),
            None if new is None else names.get(new, f"campaign id {new}"), n, list(cifs or []),
        ))  # fmt: skip
    return ra, rb, out


def diff_rows(conn: psycopg.Connection, a: int, b: int) -> Iterator[tuple[str, ...]]:
    """Every customer that entered, left or moved between runs ``a`` and ``b`` (CSV rows)."""
    ra, rb = run_with_results(conn, a), run_with_results(conn, b)
    names = _names(conn, [ra, rb])
    groups = _group_names(conn, [ra, rb])
    query = sql.SQL(DIFF).format(
        pop_a=_population(ra, rb), pop_b=_population(rb, ra),
        what=sql.SQL("coalesce(a.cif, b.cif)"), tail=sql.SQL("ORDER BY 4, 1"),
    )  # fmt: skip
    yield ("cif", "group", "change", "from_campaign", "to_campaign")
    with conn.cursor(name="runs_diff") as cur:  # server-side: constant memory
        cur.execute(query, {"a": a, "b": b})
        for gid, old, new, cif in cur:
            change = "entered" if old is None else "left" if new is None else "moved"
            yield (
                cif, groups.get(gid, f"group id {gid}"), change,
                "" if old is None else names.get(old, f"campaign id {old}"),
                "" if new is None else names.get(new, f"campaign id {new}"),
            )  # fmt: skip


def _names(conn: psycopg.Connection, records: list[RunRecord]) -> dict[int, str]:
    """Campaign names as the runs recorded them, else as configured now."""
    names = {
        i: n for i, n in conn.execute("SELECT id, name FROM campaign_engine.campaigns").fetchall()
    }
    for r in records:
        for g in ((r.counts or {}).get("groups") or {}).values():
            names.update({int(c): n for c, n in g.get("campaign_names", {}).items()})
    return names


def _group_names(conn: psycopg.Connection, records: list[RunRecord]) -> dict[int, str]:
    names = {
        i: n
        for i, n in conn.execute("SELECT id, name FROM campaign_engine.campaign_groups").fetchall()
    }
    for r in records:
        for gid, g in ((r.counts or {}).get("groups") or {}).items():
            if g.get("name"):
                names[int(gid)] = g["name"]
    return names
