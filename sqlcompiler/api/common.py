"""What every API function that takes a ``dsn`` starts with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from ..infra import migrations
from ..infra.connection import connect


@contextlib.contextmanager
def migrated(dsn: str, **kw) -> Iterator[psycopg.Connection]:
    """A connection to a database whose sqlcompiler schema is current."""
    with connect(dsn, **kw) as conn:
        migrations.require_current(conn)
        yield conn
