"""Every connection of the product runs with the session settings it needs, whatever the
server's defaults: a stock server has jit = on (issue 34: a relay batch paid 410 ms of JIT)."""

from __future__ import annotations

import psycopg
from psycopg import sql

from sqlcompiler.infra.connection import connect, connect_like


def test_jit_is_off_on_every_connection_even_when_the_server_turns_it_on(db, dsn):
    name = db.execute("SELECT current_database()").fetchone()[0]
    db.execute(sql.SQL("ALTER DATABASE {} SET jit = on").format(sql.Identifier(name)))
    with psycopg.connect(dsn) as raw:  # what any other client gets from this server
        assert raw.execute("SHOW jit").fetchone()[0] == "on"
    for autocommit in (False, True):
        with connect(dsn, autocommit=autocommit) as conn:
            assert conn.execute("SHOW jit").fetchone()[0] == "off"
            conn.rollback()  # the SHOW above; the SET was committed before it
            assert conn.execute("SHOW jit").fetchone()[0] == "off"
            with connect_like(conn, "a worker") as other:
                assert other.execute("SHOW jit").fetchone()[0] == "off"
