"""The DDL a DBA is handed applies as it is, and migrations need no rights on ``public``."""

from __future__ import annotations

import json
import os
import subprocess

import psycopg
import pytest
from psycopg import sql

from sqlcompiler.errors import MigrationError
from sqlcompiler.infra import migrations
from sqlcompiler.infra.embedded import find_bindir
from tests.cli.test_cli import sqlc
from tests.conftest import create_database, drop_database


def _tool(name: str) -> str:
    return str(find_bindir() / name)


def _pg_env(dsn: str) -> tuple[list[str], dict[str, str]]:
    """libpq command-line arguments for ``dsn`` (psql and pg_dump take a connection string)."""
    return ["-d", dsn], {**os.environ, "PGAPPNAME": "sqlcompiler-tests"}


def _schema_dump(dsn: str) -> str:
    args, env = _pg_env(dsn)
    out = subprocess.run(
        [_tool("pg_dump"), "--schema-only", "--no-owner", *args],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    # pg_dump 15.14+ wraps the script in \restrict <random key>
    return "\n".join(
        x for x in out.splitlines() if not x.startswith(("\\restrict", "\\unrestrict"))
    )


@pytest.fixture
def two_databases(pg_server):
    admin = pg_server.dsn("postgres")
    names = [f"ddl_{os.getpid()}_{x}" for x in ("online", "script")]
    yield [create_database(admin, n) for n in names]
    for n in names:
        drop_database(admin, n)


def test_db_sql_applies_with_psql_and_equals_db_upgrade(two_databases):
    online, script = two_databases
    migrations.upgrade(online)
    ddl = sqlc("db", "sql")
    assert ddl.returncode == 0, ddl.stderr
    args, env = _pg_env(script)
    applied = subprocess.run(
        [_tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
        input=ddl.stdout, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert _schema_dump(script) == _schema_dump(online)
    with psycopg.connect(script) as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        migrations.require_current(conn)


def test_a_role_without_rights_on_public_can_migrate(pg_server, empty_dsn):
    """PostgreSQL 15: only the owner of ``public`` may create in it."""
    role = f"owner_{os.getpid()}"
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        dbname = conn.info.dbname
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("GRANT CREATE, CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(dbname), sql.Identifier(role)
            )
        )
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM PUBLIC"))
    try:
        as_owner = psycopg.conninfo.make_conninfo(empty_dsn, user=role)
        migrations.upgrade(as_owner)
        with psycopg.connect(as_owner) as conn:
            migrations.require_current(conn)
            tables = conn.execute(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname LIKE '%alembic%' AND c.relkind = 'r'"
            ).fetchall()
            assert tables == [("sqlcompiler.alembic_version",)]
        migrations.downgrade(as_owner, "base")
    finally:
        with psycopg.connect(empty_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_version_table_moves_out_of_public_on_upgrade(empty_dsn):
    migrations.upgrade(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:  # as an older release left it
        conn.execute(
            "ALTER TABLE sqlcompiler.alembic_version RENAME TO sqlcompiler_alembic_version"
        )
        conn.execute("ALTER TABLE sqlcompiler.sqlcompiler_alembic_version SET SCHEMA public")
        assert migrations.current_revision(conn) == migrations.head_revision()
        with pytest.raises(MigrationError, match="run `sqlcompiler db upgrade` once"):
            migrations.require_current(conn)
    migrations.upgrade(empty_dsn)
    with psycopg.connect(empty_dsn) as conn:
        migrations.require_current(conn)
        assert conn.execute(
            "SELECT to_regclass('public.sqlcompiler_alembic_version')"
        ).fetchone() == (None,)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://camp:S3cret@[::1/lp",
        "host=/run/pg user=camp dbname=lp password=Pw S3cret",
        "postgresql://camp:S3cret@host name/lp",
        "host=127.0.0.1 port=1 user=camp password=S3cret dbname=lp connect_timeout=3",
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ("db", "upgrade"), ("db", "downgrade"), ("db", "current"), ("db", "check"),
        ("demo", "--customers", "100"), ("bench", "--customers", "100"), ("run",), ("runs",),
        ("explain", "C1"), ("--log-format", "json", "runs"),
    ],
)  # fmt: skip
def test_bad_or_unreachable_dsn_is_one_line_without_the_password(dsn, command):
    res = sqlc("--dsn", dsn, *command)
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1
    line = res.stderr.strip()
    assert (json.loads(line)["msg"] if "json" in command else line).startswith("Error: ")
    assert "S3cret" not in res.stderr + res.stdout and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    "server_dsn",
    [
        "postgresql://camp:S3cret@[::1/lp",
        "host=/run/pg user=camp dbname=lp password=Pw S3cret",
        "postgresql://camp:S3 cret@host/lp",
    ],
)
@pytest.mark.parametrize("extra", [(), ("--sql",)])
def test_source_fdw_never_echoes_the_bank_sync_password(dsn, server_dsn, extra):
    res = sqlc("source", "fdw", "--server-dsn", server_dsn, *extra, dsn=dsn)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "S3cret" not in res.stderr + res.stdout and "S3 cret" not in res.stderr + res.stdout
    assert "--server-dsn is not a valid libpq connection string" in res.stderr
