"""The publishing guards: what the last published full run was, and why a run should be held."""

from __future__ import annotations

import psycopg

from .record import RunResult

DEFAULT_MAX_DROP = 50.0  # percent: a bigger drop of assignments holds a full run


def previous_counts(
    conn: psycopg.Connection, res: RunResult
) -> tuple[int | None, dict[int, dict[int, int]] | None]:
    """The per-campaign counts of the last published full run before ``res`` (full runs only:
    a list run's population differs from run to run)."""
    if res.kind != "full":
        return None, None
    row = conn.execute(
        "SELECT run_id, counts FROM campaign_results.runs WHERE status = 'succeeded' "
        "AND kind = 'full' AND NOT dry_run AND run_id < %s ORDER BY run_id DESC LIMIT 1",
        (res.run_id,),
    ).fetchone()
    if row is None:
        return None, None
    groups = (row[1] or {}).get("groups", {})
    return row[0], {
        int(g): {int(c): int(n) for c, n in v.get("campaigns", {}).items()}
        for g, v in groups.items()
    }


def hold_reason(
    conn: psycopg.Connection, res: RunResult, max_drop: float, source_schema: str
) -> str | None:
    """Why a full run should not be published, or None (SPEC: guards before publishing).

    0 customers means the bank-sync load failed rather than that everybody paid; a drop of
    assignments larger than ``max_drop`` percent against the last published full run is more
    often a broken input or configuration than a good night.
    """
    if res.kind != "full":
        return None
    if res.population == 0:
        return (
            f"0 customers in {source_schema}.customers: publishing would end every current "
            "assignment (did the bank-sync load fail?)"
        )
    row = conn.execute(
        "SELECT run_id, assignments FROM campaign_results.runs WHERE status = 'succeeded' "
        "AND kind = 'full' AND NOT dry_run AND run_id < %s ORDER BY run_id DESC LIMIT 1",
        (res.run_id,),
    ).fetchone()
    if not row or not row[1]:
        return None
    prev_id, prev = row
    drop = 100.0 * (prev - res.assigned) / prev
    if drop > max_drop:
        return (
            f"assignments drop from {prev:,} (run {prev_id}) to {res.assigned:,} "
            f"(-{drop:.1f} %), more than --max-drop {max_drop:g} %"
        )
    return None
