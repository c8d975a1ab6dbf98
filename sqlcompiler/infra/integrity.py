"""Is the product's schema whole? What `db check` reports and `db repair` recreates.

The version table says which migrations ran, not that their objects still exist: a dropped
staging table used to make every run fail while `db upgrade` said "at head". Every run (via
``migrations.require_current``) and ``db current`` compare the catalog with ``EXPECTED``; a
test keeps ``EXPECTED`` equal to what the migrations create.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from ..errors import MigrationError

RESULTS = "campaign_results"
PARTITIONED = ("assignments", "contact_rows", "contact_lists", "phone_books", "unassignments",
               "suppressed_contacts")  # fmt: skip
# (schema, name) -> kind: r table, p partitioned table, v view, f function
EXPECTED: dict[tuple[str, str], str] = {
    **{("campaign_engine", t): "r" for t in (
        "campaign_groups", "campaigns", "base_conditions", "contact_selection_rules",
        "contact_rule_conditions", "contact_rule_outputs", "custom_fields", "config_history",
        "data_source", "ui_drafts", "condition_nodes", "ui_reads", "retired_ids", "contact_blocks",
        "contact_policy", "contact_parties",
    )},
    ("campaign_engine", "contact_attempts"): "p",
    ("campaign_engine", "set_updated_at"): "f",
    ("campaign_engine", "json_date"): "f",
    ("campaign_engine", "note_contact_parties"): "f",
    ("campaign_engine", "recount_contact_parties"): "f",
    **{(RESULTS, t): "r" for t in ("runs", "run_population", "relay_progress")},
    **{(RESULTS, t): "p" for t in PARTITIONED},
    **{(RESULTS, f"{t}_staging"): "r" for t in PARTITIONED},
    **{(RESULTS, v): "v" for v in ("current_runs", "current_assignments", "current_contacts",
                                   "contacts", "current_suppressed_contacts")},
}  # fmt: skip
KINDS = {"r": "table", "p": "partitioned table", "v": "view", "f": "function"}

PRESENT = """
SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
UNION ALL
SELECT n.nspname, p.proname, 'f' FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%(schemas)s)
"""


@dataclass(frozen=True)
class Damage:
    missing: list[tuple[str, str, str]]  # (schema, name, kind)

    @property
    def repairable(self) -> list[tuple[str, str, str]]:
        """Staging tables: empty between runs, recreated from their parent table."""
        present = {(s, n) for s, n, _k in self.missing}
        return [
            m
            for m in self.missing
            if m[1].endswith("_staging") and (m[0], m[1].removesuffix("_staging")) not in present
        ]

    def describe(self) -> str:
        names = ", ".join(f"{KINDS[k]} {s}.{n}" for s, n, k in self.missing)
        if self.missing and len(self.repairable) == len(self.missing):
            return (
                f"the sqlcompiler schema is damaged: missing {names}; run `sqlcompiler db repair`"
            )
        return (
            f"the sqlcompiler schema is damaged: missing {names}. Work tables are recreated by "
            "`sqlcompiler db repair`; the others hold data: restore them from a backup "
            "(pg_restore -t …), the configuration's history is in campaign_engine.config_history"
        )


def check(conn: psycopg.Connection) -> Damage:
    schemas = sorted({s for s, _ in EXPECTED})
    present = {(s, n): k for s, n, k in conn.execute(PRESENT, {"schemas": schemas}).fetchall()}
    missing = [(s, n, k) for (s, n), k in EXPECTED.items() if present.get((s, n)) != k]
    return Damage(missing)


def require_whole(conn: psycopg.Connection) -> None:
    damage = check(conn)
    if damage.missing:
        raise MigrationError(damage.describe())


def repair(conn: psycopg.Connection) -> list[str]:
    """Recreate the missing staging tables (empty, like their parent); return what was done."""
    damage = check(conn)
    done = []
    with conn.transaction():
        for schema, name, _kind in damage.repairable:
            parent = name.removesuffix("_staging")
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {}.{} (LIKE {}.{}) "
                    "WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)"
                ).format(
                    sql.Identifier(schema),
                    sql.Identifier(name),
                    sql.Identifier(schema),
                    sql.Identifier(parent),
                )  # fmt: skip
            )
            done.append(f"recreated {schema}.{name}")
    left = check(conn)
    if left.missing:
        raise MigrationError(left.describe())
    return done
