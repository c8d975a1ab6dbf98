"""Staging tables and publishing: a run's rows become its partitions in one commit.

Results go to ``*_staging`` tables constrained to the run; publishing renames them into the
run's partitions of ``assignments`` / ``contacts`` and leaves fresh empty ones behind, so
readers of the views keep seeing the previous run until the run commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import errors, sql

from ..errors import RunError
from ..infra.connection import connect_like

# Result tables are written once, ANALYZEd when published and dropped whole by retention, so
# autovacuum has nothing to reclaim; left on, it rescanned every new partition after each run
# (see alembic revision 0005).
NO_AUTOVACUUM = sql.SQL("autovacuum_enabled = false, toast.autovacuum_enabled = false")


RESULTS = sql.Identifier("campaign_results")
# contact_rows: the reference engine's contacts, one row each; a compiled run writes
# contact_lists and phone_books instead (alembic revision 0014: the view contacts reads both)
BASES = ("assignments", "contact_rows", "contact_lists", "phone_books", "unassignments",
         "suppressed_contacts")  # fmt: skip
# what each staging table is indexed on (the index keeps the name *_cif_idx for all)
KEYS = {"phone_books": ("owner", "phone_rank")}
DEFAULT_KEY = ("cif", "campaign_group_id")

# The staged contacts as rows, as the view campaign_results.contacts expands published ones
# (alembic revision 0014): for checks that compare a statement's output row for row.
STAGED_CONTACTS = sql.SQL("""
SELECT l.run_id, l.cif, l.campaign_group_id, l.campaign_id,
       array_position(l.phone_ranks, b.phone_rank) AS position,
       l.rule_priorities[array_position(l.phone_ranks, b.phone_rank)] AS rule_priority,
       CASE WHEN b.party_order = 0 THEN 'customer' ELSE 'reference' END AS party_type,
       b.party_cif, b.relationship_type, b.contact_type, b.phone_number, b.is_primary,
       b.is_verified, b.phone_id
FROM campaign_results.contact_lists_staging l
JOIN campaign_results.phone_books_staging b
  ON b.run_id = l.run_id AND b.owner = l.cif AND b.phone_rank = ANY(l.phone_ranks)""")


def staging_name(base: str, what: str = "") -> sql.Identifier:
    return sql.Identifier(f"{base}_staging{what}")


def prepare_staging(meta: psycopg.Connection, run_id: int) -> None:
    """Empty the staging tables and constrain them to this run, before the work snapshot.

    With CHECK (run_id = N) in place while the rows go in, ATTACH PARTITION needs no
    validation scan when the run publishes (3 s at 1M customers, bench configuration). No
    index while the groups insert: it is built once, at the end (_index_staging).
    """
    for base in BASES:
        meta.execute(
            sql.SQL("DROP INDEX IF EXISTS {}.{}").format(RESULTS, staging_name(base, "_cif_idx"))
        )
        meta.execute(
            sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT IF EXISTS {}").format(
                RESULTS, staging_name(base), staging_name(base, "_run_check")
            )
        )
    empty_staging(meta)
    for base in BASES:
        meta.execute(
            sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} CHECK (run_id = {})").format(
                RESULTS, staging_name(base), staging_name(base, "_run_check"), sql.Literal(run_id)
            )
        )


def unconstrain_statements() -> list[sql.Composed]:
    return [
        sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT IF EXISTS {}").format(
            RESULTS, staging_name(base), staging_name(base, "_run_check")
        )
        for base in BASES
    ]


def unconstrain_staging(conn: psycopg.Connection) -> None:
    """Drop the last run's run_id checks (the next run adds its own): for a preview or an
    EXPLAIN ANALYZE that writes staging rows under the run lock."""
    for statement in unconstrain_statements():
        conn.execute(statement)


def index_staging(work: psycopg.Connection, committed: bool) -> None:
    """Index and ANALYZE the staging tables: (cif, group) serves the views' per-customer
    lookups and the relay's keyset order; (owner, phone_rank) the lists' phones.

    When the group connections committed the rows (``committed``), the tables are done at the
    same time, each on a connection of its own (with the CHECK above: publishing took 20.0 s
    instead of 22.5 s at 1M customers, bench configuration); otherwise the rows exist only in
    the work transaction, which does them all.
    """

    def index(conn: psycopg.Connection, base: str) -> None:
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {}.{} ({})").format(
                staging_name(base, "_cif_idx"),
                RESULTS,
                staging_name(base),
                sql.SQL(", ").join(map(sql.Identifier, KEYS.get(base, DEFAULT_KEY))),
            )
        )
        conn.execute(sql.SQL("ANALYZE {}.{}").format(RESULTS, staging_name(base)))

    if not committed:
        for base in BASES:
            index(work, base)
        return

    def own_connection(base: str) -> None:
        with connect_like(work, "sqlcompiler-run-index", autocommit=True) as conn:
            index(conn, base)

    with ThreadPoolExecutor(max_workers=len(BASES)) as pool:
        for future in [pool.submit(own_connection, base) for base in BASES]:
            future.result()


def publish(work: psycopg.Connection, run_id: int) -> None:
    """Turn the indexed staging tables into the run's partitions; leave fresh empty ones behind."""
    schema = RESULTS
    for base in BASES:
        name = f"{base}_r{run_id}"
        part = sql.Identifier(name)
        staging = staging_name(base)
        work.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(schema, staging, part))
        work.execute(
            sql.SQL("ALTER TABLE {}.{} RENAME CONSTRAINT {} TO {}").format(
                schema, part, staging_name(base, "_run_check"), sql.Identifier(f"{name}_run_check")
            )
        )
        work.execute(
            sql.SQL("ALTER INDEX {}.{} RENAME TO {}").format(
                schema, staging_name(base, "_cif_idx"), sql.Identifier(f"{name}_cif_idx")
            )
        )
        work.execute(
            sql.SQL("ALTER TABLE {}.{} ATTACH PARTITION {}.{} FOR VALUES IN ({})").format(
                schema, sql.Identifier(base), schema, part, sql.Literal(run_id)
            )
        )
        work.execute(
            sql.SQL("CREATE TABLE {}.{} (LIKE {}.{}) WITH ({})").format(
                schema, staging, schema, sql.Identifier(base), NO_AUTOVACUUM
            )
        )
    analyze_parents_once(work)


# The contacts view joins these two across their partitions with the run id known only at
# execution, so the planner estimates the join from the parents' own statistics, which
# autovacuum never gathers; without them it assumes 200 distinct cifs and picks a nested
# loop (a full scan of current_contacts 2.1 x the row form's time at 1M; with them a hash
# join). ANALYZE of a partitioned table re-reads every partition (about 20 s at 1M with three
# runs kept), so it runs once, when the parent first has rows: the distinct cifs it records
# are those of one run, and later runs decide the same customers (measured: a hash join at 1M
# with three runs kept; docs/performance.md, seventeenth session).
ANALYZED_PARENTS = ("contact_lists", "phone_books")


def analyze_parents_once(conn: psycopg.Connection) -> None:
    for parent in ANALYZED_PARENTS:
        (known,) = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = 'campaign_results' "
            "AND tablename = %s AND inherited)",
            (parent,),
        ).fetchone()
        if not known:
            conn.execute(sql.SQL("ANALYZE {}.{}").format(RESULTS, sql.Identifier(parent)))


def empty_staging(meta: psycopg.Connection) -> None:
    meta.execute(
        sql.SQL("TRUNCATE {}").format(
            sql.SQL(", ").join(sql.SQL("{}.{}").format(RESULTS, staging_name(b)) for b in BASES)
        )
    )


UNASSIGNED = sql.SQL("""
WITH ins AS (
  INSERT INTO campaign_results.unassignments_staging
    (run_id, cif, campaign_group_id, previous_run_id, previous_campaign_id)
  SELECT current_setting('sqlcompiler.run_id')::bigint, p.cif, p.campaign_group_id, p.run_id,
         p.campaign_id
  FROM campaign_results.current_assignments p
  WHERE {where}
    AND NOT EXISTS (SELECT 1 FROM campaign_results.assignments_staging s
                    WHERE s.cif = p.cif AND s.campaign_group_id = p.campaign_group_id)
  RETURNING campaign_group_id
)
SELECT campaign_group_id, count(*) FROM ins GROUP BY 1
""")


# The runs whose rows the current views show: the last published full run and the list runs
# after it (the definition of campaign_results.current_runs).
CURRENT_RUN_GROUPS = sql.SQL("""
SELECT counts -> 'groups' FROM campaign_results.runs
WHERE status = 'succeeded' AND NOT dry_run
  AND run_id >= (SELECT COALESCE(max(run_id), 0) FROM campaign_results.runs
                 WHERE status = 'succeeded' AND kind = 'full' AND NOT dry_run)
""")


def removed_groups(conn: psycopg.Connection, configured: list[int]) -> list[int] | None:
    """The groups that may have current assignments but are no longer configured.

    Read from the run records (every run lists its groups in ``counts``), so the usual night,
    when no group was removed, costs no scan of the current results: that anti-join took
    1.4 s at 100k customers to find nothing. None when a current run's record does not list
    its groups: then every group not configured has to be checked.
    """
    seen: set[int] = set()
    for (groups,) in conn.execute(CURRENT_RUN_GROUPS).fetchall():
        if not isinstance(groups, dict):
            return None
        seen.update(int(g) for g in groups)
    return sorted(seen - set(configured))


def record_removed_groups(
    conn: psycopg.Connection, configured: list[int], *, population: bool = False
) -> dict[int, int]:
    """End the current assignments of groups no longer configured (see removed_groups)."""
    removed = removed_groups(conn, configured)
    if removed == []:
        return {}
    return record_unassignments(
        conn,
        other_than=configured if removed is None else None,
        only=removed,
        population=population,
    )


def record_unassignments(
    conn: psycopg.Connection,
    *,
    other_than: list[int] | None = None,
    only: list[int] | None = None,
    population: bool = False,
) -> dict[int, int]:
    """Who had an assignment in a group before this run and has none in its results.

    Run in the transaction that wrote the staging rows, whose snapshot is the run's: there
    ``current_assignments`` still shows the state before the run. The compiled run
    statement does this for its groups (``gone`` in templates/run.sql.j2); this serves
    the groups no longer configured (``other_than`` the configured ones, or ``only`` those
    removed_groups found) and the reference engine. With ``population`` only the cifs of
    ``pg_temp.run_population`` count (a list run or a slice). Returns the number per group.
    """
    where = [sql.SQL("true")]
    if other_than is not None:
        where.append(sql.SQL("p.campaign_group_id <> ALL({})").format(sql.Literal(other_than)))
    if only is not None:
        where.append(sql.SQL("p.campaign_group_id = ANY({})").format(sql.Literal(only)))
    if population:
        where.append(sql.SQL("p.cif IN (SELECT cif FROM pg_temp.run_population)"))
    rows = conn.execute(UNASSIGNED.format(where=sql.SQL(" AND ").join(where))).fetchall()
    return {int(g): int(n) for g, n in rows}


# The views' readers plan with the partitions attached when they plan, and read with the
# snapshot taken after planning (READ COMMITTED): a reader that planned just before the
# publishing commit and read just after it saw the new run's record but not its partitions,
# so both views were empty (15 of 43,318 polls over 60 runs, before this lock). Holding the
# parents in ACCESS EXCLUSIVE mode from just before the commit makes every reader plan and read
# on one side of it. Each try waits a short while only (readers queue behind a waiting lock)
# and stays under deadlock_timeout, so a reader is never the one a deadlock check aborts.
LOCK_TRY_SECONDS = 0.2
LOCK_PAUSE_SECONDS = 0.3
READERS_REPORT_SECONDS = 30.0

HOLDERS = """
SELECT DISTINCT a.pid, coalesce(nullif(a.application_name, ''), '?'), a.usename, a.state,
       to_char(coalesce(a.xact_start, a.query_start), 'YYYY-MM-DD HH24:MI:SS')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.pid <> pg_backend_pid() AND l.locktype = 'relation'
  AND l.relation IN (SELECT to_regclass(n) FROM unnest(%s::text[]) AS n) ORDER BY a.pid"""


def hold_off_readers(
    work: psycopg.Connection, progress: Callable[[str], None], patience: float
) -> None:
    """Lock the result tables' parents against readers until the work transaction commits;
    retried for ``patience`` seconds while readers hold them, then a RunError naming them."""
    # ONLY: the parents, which every reader of the views locks first; a session reading an
    # old run's partition directly does not hold publishing up
    parents = sql.SQL(", ").join(
        sql.SQL("ONLY {}.{}").format(RESULTS, sql.Identifier(b)) for b in BASES
    )
    lock = sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(parents)
    deadlock_ms, before = work.execute(
        "SELECT (SELECT setting::int FROM pg_settings WHERE name = 'deadlock_timeout'), "
        "current_setting('lock_timeout')"
    ).fetchone()
    try_ms = max(1, min(int(LOCK_TRY_SECONDS * 1000), deadlock_ms // 2))
    start = time.monotonic()
    next_report = start + 2.0
    while True:
        work.execute("SAVEPOINT sqlcompiler_publish_lock")
        work.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{try_ms}ms")))
        try:
            work.execute(lock)
        except (errors.LockNotAvailable, errors.DeadlockDetected):
            work.execute("ROLLBACK TO SAVEPOINT sqlcompiler_publish_lock")
        else:
            work.execute("RELEASE SAVEPOINT sqlcompiler_publish_lock")
            work.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
            return
        now = time.monotonic()
        if now - start >= patience:
            raise RunError(
                f"publishing waited {now - start:.0f} s for sessions reading the results to let "
                f"go of them: {_readers(work)}; the previous results stay current. End those "
                "sessions (SELECT pg_terminate_backend(pid)) or run again when they are done"
            )
        if now >= next_report:
            progress(f"  publishing: waiting for sessions reading the results: {_readers(work)}")
            next_report = now + READERS_REPORT_SECONDS
        time.sleep(LOCK_PAUSE_SECONDS)


def _readers(work: psycopg.Connection) -> str:
    return sessions_holding(work, [f"campaign_results.{b}" for b in BASES])


def sessions_holding(conn: psycopg.Connection, tables: list[str]) -> str:
    """Who holds a lock on any of ``tables`` (other than this session), for a message."""
    rows = conn.execute(HOLDERS, (tables,)).fetchall()
    if not rows:
        return "none left"
    return "; ".join(
        f"pid {pid} ({app!r}, user {user}, {state} since {since})"
        for pid, app, user, state, since in rows
    )
