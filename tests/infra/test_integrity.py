"""A damaged result schema is detected by every run and `db check`, and repaired where it can be."""

from __future__ import annotations

import psycopg

from sqlcompiler import run as runner
from sqlcompiler.infra import integrity
from tests.cli.test_cli import sqlc
from tests.scenario import Scenario, configure


def test_expected_objects_are_what_the_migrations_create(db):
    present = {
        (s, n): k
        for s, n, k in db.execute(
            integrity.PRESENT, {"schemas": ["campaign_engine", "campaign_results"]}
        )
    }
    assert present == integrity.EXPECTED
    assert integrity.check(db).missing == []


def _setup(db):
    Scenario().customer("C1").customer("C2").load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "all", "priority": 1}]}]})


def test_dropped_staging_table_is_reported_and_repaired(db, dsn):
    _setup(db)
    runner.run(dsn)
    db.execute("DROP TABLE campaign_results.assignments_staging")
    out = sqlc("run", dsn=dsn)
    assert out.returncode == 1
    assert (
        "missing table campaign_results.assignments_staging; run `sqlcompiler db repair`"
        in out.stderr
    )
    assert "Traceback" not in out.stderr
    assert (
        db.execute(
            "SELECT count(*) FROM campaign_results.runs WHERE status = 'running'"
        ).fetchone()[0]
        == 0
    )
    check = sqlc("db", "check", dsn=dsn)
    assert check.returncode == 1 and "assignments_staging" in check.stderr
    assert "assignments_staging" in sqlc("db", "current", dsn=dsn).stderr
    up = sqlc("db", "upgrade", dsn=dsn)
    assert up.returncode == 1 and "db repair" in up.stderr  # "at head" no longer hides it
    fixed = sqlc("db", "repair", dsn=dsn)
    assert (
        fixed.returncode == 0 and "recreated campaign_results.assignments_staging" in fixed.stdout
    )
    assert sqlc("db", "check", dsn=dsn).returncode == 0
    assert sqlc("run", dsn=dsn).returncode == 0
    assert "nothing to repair" in sqlc("db", "repair", dsn=dsn).stdout


def test_dropped_results_schema_says_what_to_restore(db, dsn):
    db.execute("DROP SCHEMA campaign_results CASCADE")
    for args in (("db", "current"), ("db", "check"), ("runs",), ("db", "repair")):
        out = sqlc(*args, dsn=dsn)
        assert "missing table campaign_results.runs" in out.stderr, args
        assert "restore them from a backup" in out.stderr and "Traceback" not in out.stderr
    assert sqlc("db", "check", dsn=dsn).returncode == 1


def test_a_run_whose_process_died_is_failed_once_its_lock_is_gone(db, dsn):
    _setup(db)
    db.execute(
        "INSERT INTO campaign_results.runs (kind, status, started_by) VALUES ('full', 'running', 'x')"
    )
    with psycopg.connect(dsn, autocommit=True) as other:  # a live run holds the lock
        other.execute("SELECT pg_advisory_lock(%s)", (runner.RUN_LOCK,))
        assert "running" in sqlc("runs", dsn=dsn).stdout
    listed = sqlc("runs", dsn=dsn).stdout  # the holder is gone: listing fails the record
    assert "failed" in listed and "interrupted" in listed
    assert (
        db.execute(
            "SELECT count(*) FROM campaign_results.runs WHERE status = 'running'"
        ).fetchone()[0]
        == 0
    )
