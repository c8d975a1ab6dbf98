from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg
import pytest

from sqlcompiler.errors import EmbeddedError
from sqlcompiler.infra.embedded import Cluster, find_bindir


def test_cluster_starts_is_reused_and_stops():
    base = Path(tempfile.mkdtemp(prefix="sqlcompiler-emb-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "pg")
    assert not cluster.is_initialised()
    dsn = cluster.ensure()
    try:
        assert cluster.is_running()
        with psycopg.connect(dsn) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            listen = conn.execute("SHOW listen_addresses").fetchone()[0]
            assert pid > 0
            assert listen == ""  # unix socket only: never reachable from the network
        marker = cluster.datadir / "postmaster.pid"
        first = marker.read_text().splitlines()[0]
        assert cluster.ensure() == dsn  # reused, not re-initialised
        assert marker.read_text().splitlines()[0] == first
    finally:
        assert cluster.stop() is True
    assert not cluster.is_running()
    assert cluster.stop() is False


def test_missing_binaries_say_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("glob.glob", lambda _p: [])
    monkeypatch.setattr("shutil.which", lambda _n: None)
    with pytest.raises(EmbeddedError, match="apt-get install postgresql"):
        find_bindir()
