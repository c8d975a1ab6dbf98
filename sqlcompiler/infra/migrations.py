"""Schema migrations as plain functions over alembic's command API (no alembic.ini needed).

alembic (and SQLAlchemy under it) is imported when a function needs it: a third of every
command's start-up time otherwise (0.26 s of 0.76 s measured with ``python -X importtime``),
also for commands that never touch a migration (``--help``, ``compile --out``, a bad DSN)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from ..errors import MigrationError
from . import integrity
from .connection import connect, redact
from .resources import resource_path

if TYPE_CHECKING:
    from alembic.config import Config


def _config(dsn: str | None, stdout: io.TextIOBase | None = None) -> Config:
    from alembic.config import Config

    cfg = Config(stdout=stdout) if stdout is not None else Config()
    cfg.set_main_option("script_location", str(resource_path("alembic")))
    cfg.attributes["dsn"] = dsn
    return cfg


VERSION_TABLE = "sqlcompiler.alembic_version"  # see alembic/env.py
OLD_VERSION_TABLE = "public.sqlcompiler_alembic_version"  # before it moved


def _online(step: str, dsn: str, revision: str) -> None:
    """Run an alembic command; a failure is one line, the DSN's password never in it."""
    from alembic import command
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import DBAPIError

    with connect(dsn, application="sqlcompiler-migrate"):
        pass  # unreachable or malformed: ConnectionFailed, redacted, before alembic starts
    try:
        getattr(command, step)(_config(dsn), revision)
    except CommandError as exc:
        raise MigrationError(str(exc)) from None
    except (DBAPIError, psycopg.Error) as exc:
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        raise MigrationError(
            f"migration to {revision} failed and was rolled back: {redact(first)}"
        ) from None


def upgrade(dsn: str, revision: str = "head") -> None:
    _online("upgrade", dsn, revision)


def downgrade(dsn: str, revision: str = "-1") -> None:
    _online("downgrade", dsn, revision)


def offline_sql(revision: str = "head", *, down: bool = False) -> str:
    """The DDL a DBA reviews; alembic's ``--sql`` mode, captured as text."""
    from alembic import command
    from alembic.util.exc import CommandError

    buf = io.StringIO()
    cfg = _config(None, stdout=buf)
    cfg.output_buffer = buf
    try:
        if down:
            command.downgrade(cfg, f"head:{revision}", sql=True)
        else:
            command.upgrade(cfg, revision, sql=True)
    except CommandError as exc:
        raise MigrationError(str(exc)) from None
    return buf.getvalue()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(None)).get_current_head() or ""


def _version(conn) -> tuple[str | None, str | None]:
    """(where the version table is, the revision it holds); the moved place wins.

    Read from the catalog, not with to_regclass(), which needs USAGE on the schema (public,
    for a runner).
    """
    row = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE (n.nspname || '.' || c.relname) = ANY(%s) ORDER BY n.nspname = 'public' LIMIT 1",
        ([VERSION_TABLE, OLD_VERSION_TABLE],),
    ).fetchone()
    if row is None:
        return None, None
    found = conn.execute(sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(*row)))
    revision = found.fetchone()
    return ".".join(row), revision[0] if revision else None


def current_revision(conn) -> str | None:
    return _version(conn)[1]


def require_current(conn) -> None:
    """Refuse to work on a schema that is missing, behind the code, or damaged."""
    require_version(conn)
    integrity.require_whole(conn)


def require_version(conn) -> None:
    table, current = _version(conn)
    head = head_revision()
    if current is not None and table == OLD_VERSION_TABLE:
        raise MigrationError(
            f"the migration version table is still {OLD_VERSION_TABLE}; run "
            f"`sqlcompiler db upgrade` once to move it to {VERSION_TABLE}"
        )
    if current != head:
        state = "not installed" if current is None else f"at revision {current}"
        raise MigrationError(
            f"the sqlcompiler schema is {state}, the code needs {head}; "
            "run `sqlcompiler db upgrade`"
        )
