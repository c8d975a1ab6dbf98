"""A night that goes wrong for real: the database server stops in the middle of a run.

The server is a cluster of this test's own (stopping the shared one would break every other
test): ``pg_ctl stop -m immediate`` while the run statement runs, started again two seconds
later. The run must record its own failure (the step and the cause) as soon as the server
answers again, count it in the metrics before anything else, leave the published results as
they were, and the next run must succeed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from sqlcompiler import api
from sqlcompiler import run as runner
from sqlcompiler.demo import generate as demo
from sqlcompiler.errors import RunError
from sqlcompiler.infra import metrics, migrations
from sqlcompiler.infra.embedded import Cluster
from tests.alert_rules import fires
from tests.cli.test_cli import sqlc
from tests.run.scenarios import setup_two_groups


def _failed_count() -> float:
    return metrics.REGISTRY.get_sample_value("sqlcompiler_runs_total", {"status": "failed"}) or 0


def _rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT cif, campaign_group_id, campaign_id, account_numbers, run_id "
        "FROM campaign_results.current_assignments ORDER BY 1, 2"
    ).fetchall()


@pytest.fixture
def own_server():
    home = Path(tempfile.mkdtemp(prefix="sqlcompiler-failures-", dir="/tmp"))
    os.chmod(home, 0o755)  # the server may run as another user (root runs it as postgres)
    cluster = Cluster(home / "pg")
    dsn = cluster.ensure()
    with psycopg.connect(dsn, autocommit=True) as conn:
        demo.init_schema(conn)
    migrations.upgrade(dsn)
    yield cluster, dsn
    cluster.stop(mode="immediate")
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize(
    ("when", "step"),
    [
        ("run prologue:", "the run's statements"),  # as the prologue starts
        ("run prologue (", "the run's statements"),  # between the prologue and the run statement
        ("publishing:", "publishing"),  # while the staging tables become the run's partitions
    ],
)
def test_server_stopped_mid_run_the_failure_is_recorded_and_the_next_run_succeeds(
    own_server, when, step
):
    cluster, dsn = own_server
    with psycopg.connect(dsn, autocommit=True) as db:
        setup_two_groups(db)
    first = runner.run(dsn, jobs=1)
    with psycopg.connect(dsn, autocommit=True) as db:
        before = _rows(db)
        db.execute("UPDATE bank_sync_service.loans SET dpd = 0")  # the next run would change
    back = threading.Event()

    def restart_later() -> None:
        time.sleep(2)
        cluster.start()
        back.set()

    def progress(message: str) -> None:
        if when in message and not back.is_set():
            cluster.stop(mode="immediate")
            threading.Thread(target=restart_later, daemon=True).start()

    failed_before = _failed_count()
    with pytest.raises(RunError) as caught:
        runner.run(dsn, jobs=1, progress=progress)
    said = str(caught.value)
    assert said.startswith(f"run {first.run_id + 1} failed at {step}")
    assert f"the results of run {first.run_id} are still served" in said
    assert "could not be recorded" not in said
    assert "\n" not in said  # one line, although libpq's message has three
    assert _failed_count() == failed_before + 1  # counted before anything could raise
    textfile = cluster.home / "metrics.prom"  # what `run --metrics-file` writes
    metrics.export_one_shot(str(textfile))
    assert fires("SqlcompilerRunFailed", textfile)  # the shipped alert rule fires on it
    assert back.wait(60)
    with psycopg.connect(dsn, autocommit=True) as db:
        status, error, timings, took = db.execute(
            "SELECT status, error, timings, extract(epoch FROM finished_at - started_at) "
            "FROM campaign_results.runs WHERE run_id = %s",
            (first.run_id + 1,),
        ).fetchone()
        assert status == "failed", error  # recorded by the run itself, not "interrupted"
        assert error.startswith(f"at {step}")
        assert timings["failed_step"].startswith(step)
        # its real duration: until it failed, not until the server was back to record it
        assert timings["total"] < 2 and took < 2
        assert _rows(db) == before  # readers still see the first run
        staged = db.execute("SELECT count(*) FROM campaign_results.assignments_staging")
        assert staged.fetchone()[0] == 0
    # what runs show, /runs/N and the Overview tell the on-call engineer to do
    record = api.runs(dsn, 1)[0]
    assert record.status == "failed" and "rerun `sqlcompiler run`" in record.next_step
    shown = sqlc("runs", "show", str(record.run_id), dsn=dsn)
    assert shown.returncode == 0 and "next step    the database went away" in shown.stdout
    assert f"failed_step: {step}" in shown.stdout  # a step, not a number of seconds
    listed = sqlc("runs", dsn=dsn).stdout.splitlines()
    assert len([ln for ln in listed if ln.strip().startswith(str(record.run_id))]) == 1
    assert len(listed) == 3  # the header and one line per run, the error included
    again = runner.run(dsn, jobs=1)
    assert again.status == "succeeded" and again.run_id > first.run_id + 1


def test_server_away_longer_than_the_retry_window_the_next_command_keeps_the_cause(
    own_server, tmp_path, monkeypatch
):
    """The run cannot record its failure (the server is back after its 1 s retry window): it
    keeps the cause on disk, and the next command marks the run failed with that cause and its
    real end, not "interrupted" at whatever time the command came."""
    monkeypatch.setenv("SQLCOMPILER_STATE_DIR", str(tmp_path / "state"))
    cluster, dsn = own_server
    with psycopg.connect(dsn, autocommit=True) as db:
        setup_two_groups(db)
    first = runner.run(dsn, jobs=1)
    back = threading.Event()

    def restart_later() -> None:
        time.sleep(4)
        cluster.start()
        back.set()

    def progress(message: str) -> None:
        if "run prologue:" in message and not back.is_set():
            cluster.stop(mode="immediate")
            threading.Thread(target=restart_later, daemon=True).start()

    with pytest.raises(RunError) as caught:
        runner.run(dsn, jobs=1, progress=progress, record_retry_seconds=1)
    said = str(caught.value)
    assert "could not be recorded" in said and "with this cause (kept in " in said
    assert (tmp_path / "state" / "unrecorded_failures.json").exists()
    assert back.wait(60)
    time.sleep(3)  # the next command comes later than the failure: its time must not count
    record = api.runs(dsn, 1)[0]  # any command that reads the runs reaps the abandoned one
    assert record.run_id == first.run_id + 1 and record.status == "failed"
    assert record.error.startswith("at the run's statements (prologue and run statement): ")
    assert "recorded by a later command" in record.error
    with psycopg.connect(dsn, autocommit=True) as db:
        took = db.execute(
            "SELECT extract(epoch FROM finished_at - started_at) FROM campaign_results.runs "
            "WHERE run_id = %s",
            (record.run_id,),
        ).fetchone()[0]
    assert took < 2  # until it failed, not until the next command
    kept = (tmp_path / "state" / "unrecorded_failures.json").read_text()
    assert str(record.run_id) not in kept  # recorded once, then forgotten
    assert runner.run(dsn, jobs=1).status == "succeeded"
