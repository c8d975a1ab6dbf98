from __future__ import annotations

import os
import shutil
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


@pytest.mark.parametrize(
    "command",
    [
        ("runs",),
        ("embedded", "start"),
        ("demo", "--customers", "100"),
        ("bench", "--customers", "100"),
    ],
)
def test_unusable_home_is_one_line_with_the_cause(command):
    """SQLCOMPILER_HOME under a file, or so long the socket path cannot exist."""
    import tempfile
    from pathlib import Path

    from tests.cli.test_cli import sqlc

    # a short base: pytest's tmp_path (longer still under xdist) would hit the socket limit
    tmp_path = Path(tempfile.mkdtemp(prefix="h", dir="/tmp"))

    a_file = tmp_path / "file"
    a_file.write_text("")
    out = sqlc(*command, env={"SQLCOMPILER_HOME": str(a_file / "home")})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "Not a directory" in out.stderr and "set SQLCOMPILER_HOME" in out.stderr
    long_home = tmp_path / ("h" * 110)
    out = sqlc(*command, env={"SQLCOMPILER_HOME": str(long_home)})
    assert out.returncode == 1 and "unix socket path" in out.stderr and "limit is 107" in out.stderr


def test_a_failed_start_names_the_cause_from_the_log():
    """pg_ctl only says "examine the log"; the error carries the log's FATAL line."""
    base = Path(tempfile.mkdtemp(prefix="sqlcompiler-emb-", dir="/tmp"))
    os.chmod(base, 0o755)
    cluster = Cluster(base / "pg", settings={"shared_buffers": "'100TB'"})
    try:
        with pytest.raises(EmbeddedError) as info:
            cluster.ensure()
        assert "the server log says:" in str(info.value) and "FATAL" in str(info.value)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
