"""The run: atomic publication, one run at a time, failures, retention."""

from __future__ import annotations

import copy
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import sqlglot

from sqlcompiler import console
from sqlcompiler.compiler import CompiledStatement
from sqlcompiler.errors import RunError, RunLocked
from sqlcompiler.run import orchestrate as runner
from sqlcompiler.run.lock import RUN_LOCK
from tests.run.scenarios import TWO_GROUPS, setup_two_groups
from tests.scenario import Scenario, configure, expected, results


def _status(db, run_id):
    return db.execute(
        "SELECT status, error FROM campaign_results.runs WHERE run_id = %s", (run_id,)
    ).fetchone()


def test_run_record_counts_and_views(db, dsn):
    setup_two_groups(db)
    res = runner.run(dsn)
    assert res.status == "succeeded" and res.population == 6
    assert {g.name: g.assigned for g in res.groups} == {"G1": 4, "G2": 6}
    row = db.execute(
        "SELECT status, kind, population_size, assignments, contacts, config_fingerprint, counts, finished_at > started_at "
        "FROM campaign_results.runs WHERE run_id = %s",
        (res.run_id,),
    ).fetchone()
    assert row[:5] == ("succeeded", "full", 6, 10, 4)
    assert row[5] == res.fingerprint and len(row[5]) == 64
    assert row[7] is True
    groups = {g["name"]: g for g in row[6]["groups"].values()}
    assert groups["G1"]["assigned"] == 4 and groups["G1"]["contacts"] == 4
    assert len(results(db)[0]) == 10
    assert "G1" in console.run_summary(res) and "total" in console.run_summary(res)
    # the published partitions and the next run's staging tables are kept out of autovacuum
    options = dict(
        db.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            ([f"assignments_r{res.run_id}", f"contact_lists_r{res.run_id}",
              f"phone_books_r{res.run_id}", "contact_lists_staging"],),
        ).fetchall()
    )  # fmt: skip
    assert len(options) == 4
    assert all("autovacuum_enabled=false" in (o or []) for o in options.values())
    # indexed (built before publishing) and constrained to the run (so ATTACH needed no scan)
    for base, key in [("assignments", "(cif, campaign_group_id)"),
                      ("contact_lists", "(cif, campaign_group_id)"),
                      ("phone_books", "(owner, phone_rank)")]:  # fmt: skip
        part = f"{base}_r{res.run_id}"
        assert (
            db.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", (part,))
            .fetchone()[0]
            .endswith(key)
        )
        assert (
            db.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
                (f"{part}_run_check",),
            ).fetchone()[0]
            == f"CHECK ((run_id = {res.run_id}))"
        )


def test_second_concurrent_run_is_refused(db, dsn):
    setup_two_groups(db)
    with db.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (RUN_LOCK,))
        with pytest.raises(RunLocked, match="another run is in progress"):
            runner.run(dsn)
        cur.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))
    assert runner.run(dsn).status == "succeeded"


def test_failure_marks_run_failed_and_keeps_previous_results(db, dsn, monkeypatch):
    setup_two_groups(db)
    first = runner.run(dsn)
    before = results(db)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0")  # the next run would change results
    # a real database error in the run statement, after its CTEs wrote the staging rows
    real = runner.compile_config

    def broken(*args, **kwargs):
        compiled = real(*args, **kwargs)
        bad = compiled.statement.tree.copy()
        bad.set("expressions", [sqlglot.parse_one("1 / (SELECT count(*) - count(*) FROM picked)")])
        statement = CompiledStatement(compiled.statement.groups, bad, "")
        return dataclasses.replace(compiled, statement=statement)  # customer slices and all

    monkeypatch.setattr(runner, "compile_config", broken)
    with pytest.raises(RunError, match="previous results are intact"):
        runner.run(dsn)
    failed = db.execute("SELECT max(run_id) FROM campaign_results.runs").fetchone()[0]
    status, error = _status(db, failed)
    assert status == "failed" and "division by zero" in error
    assert results(db) == before  # readers still see the first run
    assert {
        r[0] for r in db.execute("SELECT run_id FROM campaign_results.current_assignments")
    } == {first.run_id}
    assert (
        db.execute("SELECT count(*) FROM campaign_results.assignments_staging").fetchone()[0] == 0
    )


KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from sqlcompiler import run as runner
    def progress(msg):
        if "run statement" in msg:  # the run statement has run
            open(sys.argv[2], "w").write("paused")
            time.sleep(120)
    runner.run(sys.argv[1], progress=progress)
    """
)


def test_killed_run_leaves_previous_results_and_is_marked_failed(db, dsn, tmp_path):
    setup_two_groups(db)
    first = runner.run(dsn)
    before = results(db)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0")
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, dsn, str(marker)], env=os.environ.copy()
    )
    try:
        for _ in range(300):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), "the run in the subprocess did not reach its run statement"
        # while it is mid-way, a second run is refused and readers see the first run
        with pytest.raises(RunLocked):
            runner.run(dsn)
        assert results(db) == before
        running = db.execute(
            "SELECT run_id FROM campaign_results.runs WHERE status = 'running'"
        ).fetchone()[0]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(0.5)  # the server notices the closed connection and rolls back
    assert results(db) == before
    third = runner.run(dsn)
    assert third.status == "succeeded"
    status, error = _status(db, running)
    assert status == "failed" and "interrupted" in error
    assert first.run_id < running < third.run_id


def test_dry_run_publishes_nothing(db, dsn):
    setup_two_groups(db)
    first = runner.run(dsn)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0")
    dry = runner.run(dsn, dry_run=True)
    assert dry.dry_run and {g.name: g.assigned for g in dry.groups} == {"G1": 0, "G2": 6}
    assert {
        r[0] for r in db.execute("SELECT run_id FROM campaign_results.current_assignments")
    } == {first.run_id}
    assert _status(db, dry.run_id)[0] == "succeeded"


def _partitions(db) -> set[int]:
    rows = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE p.relname = 'assignments'"
    ).fetchall()
    return {int(r[0].removeprefix("assignments_r")) for r in rows}


def test_retention_counts_succeeded_full_runs_and_keeps_every_record(db, dsn):
    setup_two_groups(db)
    full = runner.run(dsn, keep=2)
    lists = [runner.run(dsn, cifs=["C1"], keep=2) for _ in range(3)]
    dry = runner.run(dsn, dry_run=True, keep=2)
    # list and dry runs do not count: the only full run and the lists after it stay
    assert _partitions(db) == {full.run_id, *(r.run_id for r in lists)}
    assert len(results(db)[0]) == 10
    second = runner.run(dsn, keep=2)
    assert _partitions(db) == {full.run_id, *(r.run_id for r in lists), second.run_id}
    third = runner.run(dsn, keep=2)
    # the first full run and the list runs before the second are beyond the 2 newest full runs
    assert _partitions(db) == {second.run_id, third.run_id}
    records = db.execute(
        "SELECT run_id, results_dropped_at IS NOT NULL FROM campaign_results.runs ORDER BY run_id"
    ).fetchall()
    assert [r[0] for r in records] == [full.run_id, *(r.run_id for r in lists), dry.run_id,
                                       second.run_id, third.run_id]  # fmt: skip
    assert {r[0] for r in records if r[1]} == {full.run_id, *(r.run_id for r in lists)}
    # records go only after --keep-records-days; never those whose results are still there
    db.execute("UPDATE campaign_results.runs SET started_at = started_at - interval '500 days'")
    out = subprocess.run(
        [sys.executable, "-m", "sqlcompiler", "--dsn", dsn, "runs", "prune", "--keep", "2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "deleted 5 run record(s)" in out.stdout
    left = [r[0] for r in db.execute("SELECT run_id FROM campaign_results.runs ORDER BY 1")]
    assert left == [second.run_id, third.run_id]
    assert len(results(db)[0]) == 10


def test_guard_holds_a_full_run_over_no_customers_and_a_big_drop(db, dsn):
    setup_two_groups(db)
    first = runner.run(dsn)
    before = results(db)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0")  # G1 loses all 4 of its 10
    ok = runner.run(dsn)  # 40 % < 50 %: published
    assert ok.status == "succeeded" and ok.hold_reason is None
    db.execute("UPDATE bank_sync_service.loans SET dpd = 100")
    runner.run(dsn)
    db.execute("DELETE FROM bank_sync_service.phones")
    db.execute("DELETE FROM bank_sync_service.loans")
    db.execute("DELETE FROM bank_sync_service.customers WHERE cif <> 'C0'")
    shown = results(db)
    held = runner.run(dsn)
    assert held.status == "held" and "more than --max-drop 50 %" in held.hold_reason
    assert results(db) == shown  # nothing published
    assert _status(db, held.run_id)[0] == "held"
    db.execute("DELETE FROM bank_sync_service.customers")
    empty = runner.run(dsn, max_drop=100)
    assert empty.status == "held" and "0 customers" in empty.hold_reason
    forced = runner.run(dsn, force=True)
    assert forced.status == "succeeded" and forced.forced and "0 customers" in forced.hold_reason
    assert not results(db)[0] and before[0] and first.status == "succeeded"
    row = db.execute(
        "SELECT forced, hold_reason FROM campaign_results.runs WHERE run_id = %s", (forced.run_id,)
    ).fetchone()
    assert row[0] is True and "0 customers" in row[1]


def test_cli_exit_code_3_for_a_held_run(db, dsn):
    setup_two_groups(db)
    runner.run(dsn)
    db.execute("TRUNCATE bank_sync_service.customers CASCADE")
    out = subprocess.run(
        [sys.executable, "-m", "sqlcompiler", "--dsn", dsn, "run"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert " held (not published" in out.stdout and "0 customers" in out.stdout


def test_read_cifs():
    assert runner.read_cifs(["C1\n", "  C2 # comment\n", "\n", "# all comment\n", "C1\n"]) == [
        "C1",
        "C2",
    ]


def test_reference_engine_gives_the_same_results_and_refuses_large_populations(db, dsn):
    setup_two_groups(db)
    Scenario().reference("C3", "R3", "parent").phone("R3", 99, "home", "+99").load(db)
    sql_run = runner.run(dsn)
    by_sql = results(db)
    ref_run = runner.run(dsn, engine="reference")
    assert results(db) == by_sql
    assert ref_run.assigned == sql_run.assigned and ref_run.contacts == sql_run.contacts
    engine = db.execute(
        "SELECT engine FROM campaign_results.runs WHERE run_id = %s", (ref_run.run_id,)
    ).fetchone()[0]
    assert engine == "reference"
    with pytest.raises(RunError, match="6 customers is above the limit of 5"):
        runner.run(dsn, engine="reference", reference_limit=5)
    assert runner.run(dsn, engine="reference", reference_limit=5, cifs=["C1", "C2"]).population == 2


def test_refused_run_exits_75_and_leaves_the_metrics_file_alone(db, dsn, tmp_path):
    from tests.cli.test_cli import sqlc

    setup_two_groups(db)
    textfile = tmp_path / "sqlcompiler.prom"
    env_file = {"SQLCOMPILER_METRICS_TEXTFILE": str(textfile)}
    first = sqlc("run", dsn=dsn, env=env_file)
    assert first.returncode == 0, first.stderr
    before = textfile.read_text()
    assert "sqlcompiler_last_success_timestamp_seconds" in before
    with db.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (RUN_LOCK,))
        refused = sqlc("run", dsn=dsn, env=env_file)
        cur.execute("SELECT pg_advisory_unlock(%s)", (RUN_LOCK,))
    assert refused.returncode == 75
    assert refused.stderr.startswith("Error: another run is in progress")
    assert textfile.read_text() == before


def test_customer_slices_give_the_results_of_one_connection(db, dsn):
    """More connections than groups: each works on a slice of the customers (hash of cif);
    results, counts per campaign, who left and the removed group's unassignments are those
    of one connection doing it all."""
    setup_two_groups(db)
    runner.run(dsn, jobs=1)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0 WHERE cif IN ('C3', 'C5')")
    doc = copy.deepcopy(TWO_GROUPS)
    doc["groups"] = doc["groups"][:1]  # G2 removed: its 6 assignments end
    configure(db, doc)
    one = runner.run(dsn, jobs=1, dry_run=True)
    sliced = runner.run(dsn, jobs=4, force=True)  # 10 -> 2 assignments: the guard objects
    assert [(g.name, g.assigned, g.contacts, g.campaigns, g.left) for g in sliced.groups] == [
        (g.name, g.assigned, g.contacts, g.campaigns, g.left) for g in one.groups
    ]
    assert sliced.left_removed_groups == one.left_removed_groups == 6
    assert sliced.groups[0].left == 2  # C3 and C5 no longer match G1
    got = results(db)
    assert got == expected(db)  # the reference evaluator agrees
    timings = db.execute(
        "SELECT timings FROM campaign_results.runs WHERE run_id = %s", (sliced.run_id,)
    ).fetchone()[0]
    assert len(timings["prologue"]) == 4  # four connections, each its slice and prologue
