"""Schema migrations as plain functions over alembic's command API (no alembic.ini needed)."""

from __future__ import annotations

import io

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from ..errors import MigrationError
from .resources import resource_path


def _config(dsn: str | None, stdout: io.TextIOBase | None = None) -> Config:
    cfg = Config(stdout=stdout) if stdout is not None else Config()
    cfg.set_main_option("script_location", str(resource_path("alembic")))
    cfg.attributes["dsn"] = dsn
    return cfg


def upgrade(dsn: str, revision: str = "head") -> None:
    try:
        command.upgrade(_config(dsn), revision)
    except CommandError as exc:
        raise MigrationError(str(exc)) from None


def downgrade(dsn: str, revision: str = "-1") -> None:
    try:
        command.downgrade(_config(dsn), revision)
    except CommandError as exc:
        raise MigrationError(str(exc)) from None


def offline_sql(revision: str = "head", *, down: bool = False) -> str:
    """The DDL a DBA reviews; alembic's ``--sql`` mode, captured as text."""
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
    return ScriptDirectory.from_config(_config(None)).get_current_head() or ""


def current_revision(conn) -> str | None:
    row = conn.execute(
        "SELECT to_regclass('public.sqlcompiler_alembic_version') IS NOT NULL"
    ).fetchone()
    if not row or not row[0]:
        return None
    row = conn.execute("SELECT version_num FROM public.sqlcompiler_alembic_version").fetchone()
    return row[0] if row else None


def require_current(conn) -> None:
    """Refuse to work on a schema that is missing or behind the code."""
    current = current_revision(conn)
    head = head_revision()
    if current != head:
        state = "not installed" if current is None else f"at revision {current}"
        raise MigrationError(
            f"the sqlcompiler schema is {state}, the code needs {head}; "
            "run `sqlcompiler db upgrade`"
        )
