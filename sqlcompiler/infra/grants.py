"""Least privilege: the statements that give three roles exactly what their jobs need.

* owner  — owns the product's schemas and configuration (runs migrations, ``config apply``);
* runner — reads ``bank_sync_service`` and the configuration, writes results (``run``,
  ``relay``, ``serve``). Publishing renames staging tables and attaches them as partitions,
  and retention drops partitions: PostgreSQL allows that only to a table's owner, so the
  runner owns the objects of ``campaign_results`` and the owner is made a member of the
  runner (migrations still alter them);
* reader — the two views of SPEC §4, nothing else.

The statements are built from the catalog (every object named, so a DBA can review them) and
are idempotent: run ``db grants`` again after ``db upgrade``.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from ..errors import SqlCompilerError

PRODUCT = ("campaign_engine", "sqlcompiler")  # owned by the owner
RESULTS = "campaign_results"  # owned by the runner
SOURCE = "bank_sync_service"  # read by the runner
VIEWS = ("current_assignments", "current_contacts", "current_suppressed_contacts")

OBJECTS = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
ORDER BY c.relkind, c.relname
"""
PARTITIONS = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relispartition ORDER BY c.relname
"""
FUNCTIONS = """
SELECT p.oid::regprocedure::text FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s ORDER BY 1
"""
KIND = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "f": "FOREIGN TABLE"}


@dataclass(frozen=True)
class Roles:
    owner: str
    runner: str
    reader: str


def _check(conn: psycopg.Connection, roles: Roles, *, review: bool = False) -> list[str]:
    """The roles that do not exist yet: an error when granting, to be created when only
    reviewing (``db grants --sql``)."""
    names = [roles.owner, roles.runner, roles.reader]
    if len(set(names)) != 3:
        raise SqlCompilerError("--owner, --runner and --reader must be three different roles")
    found = {
        r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (names,))
    }
    missing = [n for n in names if n not in found]
    if missing and not review:
        raise SqlCompilerError(
            f"role(s) {', '.join(map(repr, missing))} do not exist; create them first "
            "(CREATE ROLE name LOGIN PASSWORD '…'; `db grants --sql` prints the statements), "
            "then run db grants again"
        )
    if any("$" in n for n in missing):
        raise SqlCompilerError("a role name with '$' cannot be created from the review script")
    schemas = {
        r[0]
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
            ([*PRODUCT, RESULTS, SOURCE],),
        )
    }
    if not set(PRODUCT) | {RESULTS} <= schemas:
        raise SqlCompilerError(
            "the sqlcompiler schema is not installed; run `sqlcompiler db upgrade` first"
        )
    if SOURCE not in schemas:
        raise SqlCompilerError(
            f"schema {SOURCE} does not exist: the bank-sync service (or `source replica`) creates "
            "it; grant once it is there"
        )
    return missing


def _why(text: str, statement: sql.Composable) -> sql.Composable:
    """A statement with the comment a reviewer reads above it."""
    return sql.SQL("-- {}\n").format(sql.SQL(text.replace("\n", " "))) + statement


def _create_role(name: str) -> sql.Composable:
    return sql.SQL(
        "DO $grants$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN "
        "CREATE ROLE {} NOLOGIN; END IF; END $grants$"
    ).format(sql.Literal(name), sql.Identifier(name))


def statements(
    conn: psycopg.Connection, roles: Roles, *, review: bool = False
) -> list[sql.Composable]:
    """Every GRANT / ALTER … OWNER the three roles need, in order, each group with a comment
    saying why; nothing is executed. ``review``: roles that do not exist yet are created
    first (NOLOGIN, if not there: give them LOGIN and a password yourself)."""
    missing = _check(conn, roles, review=review)
    owner, runner, reader = (sql.Identifier(r) for r in (roles.owner, roles.runner, roles.reader))
    database = sql.Identifier(conn.info.dbname)
    out: list[sql.Composable] = []
    for i, name in enumerate(missing):
        create = _create_role(name)
        out.append(_why("the role does not exist yet: created without login (add LOGIN and a "
                        "password, or grant it to a login role)", create) if i == 0 else create)  # fmt: skip
    out.append(_why("owner: runs migrations and config apply; owns the product's schemas",
                    sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(database, owner)))  # fmt: skip
    for schema in PRODUCT:
        out.append(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), owner))
        out += _owned(conn, schema, owner)
    # the runner owns the results (publishing and retention are DDL); the owner, a member,
    # can still migrate them
    out.append(_why("runner: publishing renames staging tables into partitions and retention "
                    "drops them, which PostgreSQL allows only to the owner, so the runner owns "
                    "campaign_results; the owner, a member, can still migrate them",
                    sql.SQL("GRANT {} TO {}").format(runner, owner)))  # fmt: skip
    out.append(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(RESULTS), owner))
    out.append(
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(sql.Identifier(RESULTS), runner)
    )
    out += _owned(conn, RESULTS, runner, partitions=True)
    out.append(_why("runner: reads the bank-sync data and the configuration, writes the "
                    "run's temporary tables",
                    sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, runner)))  # fmt: skip
    for schema in (*PRODUCT, SOURCE):
        out.append(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), runner))
    for schema in ("campaign_engine", SOURCE):
        for nsp, name, _kind in conn.execute(OBJECTS, (schema,)).fetchall():
            out.append(
                sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(nsp, name), runner)
            )
    out.append(
        sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.Identifier("sqlcompiler", "alembic_version"), runner
        )
    )
    for (fn,) in conn.execute(FUNCTIONS, ("campaign_engine",)).fetchall():
        out.append(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(fn), runner))
    out.append(_why("runner: retention deletes the workbench's audit of reads as old as the run "
                    "records it deletes", sql.SQL("GRANT DELETE ON {} TO {}").format(
                        sql.Identifier("campaign_engine", "ui_reads"), runner)))  # fmt: skip
    # tables later migrations add to the configuration are readable by the runner too
    out.append(
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(owner, sql.Identifier("campaign_engine"), runner)
    )
    out.append(_why("reader: dialers, SMS and reports read the two views and nothing else "
                    "(the views read the tables and names with their owner's rights)",
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, reader)))  # fmt: skip
    out.append(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(RESULTS), reader))
    for view in VIEWS:
        out.append(
            sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(RESULTS, view), reader)
        )
    return out


def _owned(
    conn: psycopg.Connection, schema: str, role: sql.Identifier, *, partitions: bool = False
) -> list[sql.Composable]:
    rows = conn.execute(OBJECTS, (schema,)).fetchall()
    if partitions:
        rows += conn.execute(PARTITIONS, (schema,)).fetchall()
    out = [
        sql.SQL("ALTER {} {} OWNER TO {}").format(
            sql.SQL(KIND[kind]), sql.Identifier(nsp, name), role
        )
        for nsp, name, kind in rows
    ]
    for (fn,) in conn.execute(FUNCTIONS, (schema,)).fetchall():
        out.append(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(fn), role))
    return out


def apply(conn: psycopg.Connection, roles: Roles) -> list[str]:
    """Execute the statements in one transaction; return them as executed."""
    with conn.transaction():
        done = []
        for st in statements(conn, roles):
            conn.execute(st)
            done.append(st.as_string(conn))
    return done
