"""Where the target database is: ``--dsn``, ``SQLCOMPILER_DSN`` or the embedded cluster."""

from __future__ import annotations

import os
import re

import psycopg

from ..errors import ConnectionFailed

DSN_ENV = "SQLCOMPILER_DSN"


def resolve_dsn(dsn: str | None = None) -> str:
    dsn = dsn or os.environ.get(DSN_ENV)
    if dsn:
        return dsn
    from .embedded import Cluster

    return Cluster.default().ensure()


def redact(text: str) -> str:
    """Remove passwords from DSNs and libpq messages before they reach logs or errors."""
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.I)
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def describe_db_error(exc: BaseException) -> str:
    """The first line of a database error, redacted, with what to do about a missing privilege."""
    text = str(exc).strip()
    first = redact(text.splitlines()[0] if text else type(exc).__name__)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        first += (
            ": this role lacks a privilege its job needs; `sqlcompiler db grants "
            "--owner … --runner … --reader …` grants what migrations, run/relay/serve and "
            "readers need (docs/operations.md, Privileges)"
        )
    return first


def connect(
    dsn: str, *, autocommit: bool = False, application: str = "sqlcompiler"
) -> psycopg.Connection:
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        # libpq's message quotes the text around the error, which may be the password
        raise ConnectionFailed(
            "the DSN is not a valid libpq connection string or URL (check its quoting and "
            "escaping; it is not shown because it may hold a password)"
        ) from None
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, application_name=application)
    except psycopg.OperationalError as exc:
        msg = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        raise ConnectionFailed(f"cannot connect to the database: {msg}") from None
    return session(conn)


def connect_like(
    conn: psycopg.Connection, application: str, autocommit: bool = False
) -> psycopg.Connection:
    """Another connection as ``conn``'s user to ``conn``'s database (run workers, indexing)."""
    return session(
        psycopg.connect(
            conn.info.dsn,
            password=conn.info.password,
            autocommit=autocommit,
            application_name=application,
        )
    )


def session(conn: psycopg.Connection) -> psycopg.Connection:
    """Every connection of the product runs with JIT off, whatever the server's default.

    Its queries are short (a relay batch, a page, a lookup) or the run statement, which sets
    what it needs with SET LOCAL. On a stock server (jit = on) the planner's estimate of a
    5,000-message relay batch (84,172 rows) passes the JIT thresholds: 759 ms with JIT, 126 ms
    without (issue 34). The relay's reader already set it; now serve, preview, export, fields,
    explain and the workbench do too. A SET rather than a startup option, which connection
    poolers may refuse.
    """
    try:
        conn.execute("SET jit = off")
    except psycopg.errors.UndefinedObject:  # a server before PostgreSQL 11: no JIT at all
        if not conn.autocommit:
            conn.rollback()
    if not conn.autocommit:
        conn.commit()
    return conn
