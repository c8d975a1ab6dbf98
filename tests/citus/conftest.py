"""A Citus cluster for the tests: one coordinator and two workers on this machine.

Each node is a cluster of sqlcompiler's embedded module with Citus preloaded, talking over
its own unix socket directory (no TCP port to collide with another test process). Citus is
built from the vendored source by .ci/citus (called by `make test` through .ci/system-deps);
without it the fixture fails and says so, it does not skip.
"""

from __future__ import annotations

import itertools
import os
import shutil

import psycopg
import pytest
from psycopg import sql

from sqlcompiler.demo import generate as demo
from sqlcompiler.infra import migrations
from sqlcompiler.infra.embedded import Cluster, find_bindir

from ..conftest import BASE

NODES = ("coordinator", "worker1", "worker2")
_counter = itertools.count()


def _node(name: str) -> Cluster:
    home = BASE / "citus" / name
    quoted = "'" + str(home / "run").replace("'", "''") + "'"
    return Cluster(
        home,
        settings={
            "shared_preload_libraries": "'citus'",
            "shared_buffers": "'128MB'",
            "citus.local_hostname": quoted,  # the node reaches itself over its socket too
        },
    )


@pytest.fixture(scope="session")
def citus_nodes():
    lib = find_bindir().parent / "lib" / "citus.so"
    if not lib.exists():
        pytest.fail(f"Citus is not installed ({lib} missing): run `sudo bash .ci/citus`")
    nodes = [_node(n) for n in NODES]
    for node in nodes:
        node.ensure()
    yield nodes
    for node in nodes:
        node.stop()
    shutil.rmtree(BASE / "citus", ignore_errors=True)


def _execute(dsn: str, *statements: sql.Composable | str, params=None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for st in statements:
            conn.execute(st, params)


@pytest.fixture
def citus_dsn(citus_nodes):
    """A migrated database with empty bank-sync tables on the coordinator, its workers added."""
    name = f"citus_{os.getpid()}_{next(_counter)}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    for node in citus_nodes:
        _execute(node.dsn("postgres"), create)
        _execute(node.dsn(name), "CREATE EXTENSION citus")
    coordinator, *workers = citus_nodes
    dsn = coordinator.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT citus_set_coordinator_host(%s, 5432)", (str(coordinator.socket_dir),))
        for worker in workers:
            conn.execute("SELECT citus_add_node(%s, 5432)", (str(worker.socket_dir),))
        demo.init_schema(conn)
    migrations.upgrade(dsn)
    yield dsn
    drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
    for node in reversed(citus_nodes):
        _execute(node.dsn("postgres"), drop)
