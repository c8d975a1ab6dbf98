"""Publishing is one commit: a downstream reader polling the views while a run publishes sees
the previous run's rows or the new run's, never a mix (SPEC §4: all or nothing)."""

from __future__ import annotations

import os
import threading

import psycopg
import pytest

from sqlcompiler.errors import RunError
from sqlcompiler.run import orchestrate as runner
from sqlcompiler.run.record import list_runs
from tests.cli.test_cli import sqlc
from tests.scenario import Scenario, cond, configure

# every customer is assigned in both groups; the late ones also get their phones
CONFIG = {
    "groups": [
        {"name": "G1", "campaigns": [{"name": "late", "priority": 1, "conditions": [cond("l", "dpd", ">", 30)],
                                       "contact_rules": [{"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]}]},
                                      {"name": "rest", "priority": 2}]},
        {"name": "G2", "campaigns": [{"name": "everyone", "priority": 1,
                                       "contact_rules": [{"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "mobile"}]}]}]},
    ]
}  # fmt: skip

SNAPSHOT = """
SELECT (SELECT array_agg(DISTINCT run_id ORDER BY run_id) FROM campaign_results.current_assignments),
       (SELECT count(*) FROM campaign_results.current_assignments),
       (SELECT array_agg(DISTINCT run_id ORDER BY run_id) FROM campaign_results.current_contacts),
       (SELECT count(*) FROM campaign_results.current_contacts)
"""


def _load(db, n: int) -> None:
    s = Scenario()
    for i in range(n):
        s.customer(f"C{i:04d}", name=f"Nguyễn Văn {i}").loan(f"C{i:04d}", f"L{i}", dpd=i % 90)
        s.phone(f"C{i:04d}", 2 * i + 1, "mobile", f"+84{i:07d}", primary=True)
        s.phone(f"C{i:04d}", 2 * i + 2, "home", f"+842{i:07d}")
    s.load(db)
    configure(db, CONFIG)


def test_a_reader_during_publishing_sees_one_run_never_a_mix(db, dsn):
    _load(db, 400)
    first = runner.run(dsn)
    db.execute("UPDATE bank_sync_service.loans SET dpd = dpd + 20")  # the next run differs
    seen: list[tuple] = []
    during: list[tuple] = []
    running, done = threading.Event(), threading.Event()

    def reader() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not done.is_set():
                snap = conn.execute(SNAPSHOT).fetchone()
                seen.append(snap)
                if running.is_set():
                    during.append(snap)

    t = threading.Thread(target=reader)
    t.start()
    try:
        running.set()
        second = runner.run(dsn)
    finally:
        done.set()
        t.join(60)
    seen.append(db.execute(SNAPSHOT).fetchone())  # after the commit
    expected = {
        first.run_id: (first.assigned, first.contacts),
        second.run_id: (second.assigned, second.contacts),
    }
    assert first.contacts != second.contacts  # the runs are told apart by their counts too
    for a_runs, a_n, c_runs, c_n in seen:
        assert a_runs == c_runs and len(a_runs) == 1, (a_runs, c_runs)  # one run in both views
        assert (a_n, c_n) == expected[a_runs[0]]  # and all of its rows
    assert during, "the reader took no snapshot while the run was running"
    assert {s[0][0] for s in seen} == {first.run_id, second.run_id}


def _poll(dsn: str, done: threading.Event, bad: list, polls: list) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not done.is_set():
            a_runs, _, c_runs, _ = snap = conn.execute(SNAPSHOT).fetchone()
            polls.append(1)
            if a_runs is None or a_runs != c_runs or len(a_runs) != 1:
                bad.append(snap)


@pytest.mark.property
def test_readers_polling_through_many_publishings_never_see_the_views_empty(db, dsn):
    """A reader that plans its query just before the publishing commit and reads just after it
    saw the new run's record without its partitions: both views empty (15 of 43,318 polls
    over 60 runs before publishing held readers off). `make test-long` publishes 60 times."""
    _load(db, 30)
    runner.run(dsn)
    bad: list[tuple] = []
    polls: list[int] = []
    done = threading.Event()
    readers = [threading.Thread(target=_poll, args=(dsn, done, bad, polls)) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for _ in range(int(os.environ.get("SQLCOMPILER_PUBLISH_ROUNDS", "8"))):
            runner.run(dsn)
    finally:
        done.set()
        for t in readers:
            t.join(60)
    assert len(polls) > 100, "the readers hardly polled"
    assert bad == []


def test_publishing_waits_for_a_reader_in_a_transaction_then_publishes(db, dsn):
    _load(db, 20)
    first = runner.run(dsn)
    said: list[str] = []
    named = threading.Event()

    def progress(line: str) -> None:
        said.append(line)
        if "waiting for sessions reading the results" in line and "'dialer-sync'" in line:
            named.set()

    with psycopg.connect(dsn, application_name="dialer-sync") as reader:
        reader.execute("SELECT count(*) FROM campaign_results.current_assignments").fetchone()
        # the reader's transaction ends once the run has said whom it waits for
        ender = threading.Thread(target=lambda: (named.wait(120), reader.rollback()))
        ender.start()
        second = runner.run(dsn, progress=progress)
        ender.join()
    assert named.is_set(), said  # it waited for the reader, and did not take the results from it
    (current,) = db.execute(
        "SELECT array_agg(DISTINCT run_id) FROM campaign_results.current_assignments"
    ).fetchone()
    assert current == [second.run_id] and second.run_id == first.run_id + 1


def test_a_reader_that_never_lets_go_fails_the_run_by_name_and_the_old_results_stay(db, dsn):
    _load(db, 20)
    first = runner.run(dsn)
    with psycopg.connect(dsn, application_name="forgotten-psql") as reader:
        reader.execute("SELECT count(*) FROM campaign_results.current_contacts").fetchone()
        pid = reader.info.backend_pid
        with pytest.raises(RunError) as caught:
            runner.run(dsn, publish_patience=1.0)
        # the scheduler's view: one line on stderr, exit code 1
        cli = sqlc("run", dsn=dsn, env={"SQLCOMPILER_PUBLISH_WAIT": "1"})
        reader.rollback()
    last = cli.stderr.strip().splitlines()[-1]  # after the progress lines
    assert cli.returncode == 1 and last.startswith("Error: publishing waited 1 s for sessions")
    assert "'forgotten-psql'" in cli.stderr and "Traceback" not in cli.stderr
    said = str(caught.value)
    assert f"pid {pid} ('forgotten-psql'" in said and "idle in transaction" in said
    assert "pg_terminate_backend" in said and "previous results stay current" in said
    (current,) = db.execute(
        "SELECT array_agg(DISTINCT run_id) FROM campaign_results.current_assignments"
    ).fetchone()
    assert current == [first.run_id]
    status, error = db.execute(
        "SELECT status, error FROM campaign_results.runs WHERE run_id = %s", (first.run_id + 1,)
    ).fetchone()
    assert status == "failed" and "forgotten-psql" in error
    (record,) = list_runs(db, run_id=first.run_id + 1)
    assert "pg_terminate_backend" in record.next_step


def _parent_stats(db) -> dict[str, float]:
    rows = db.execute(
        "SELECT tablename, n_distinct FROM pg_stats WHERE schemaname = 'campaign_results' "
        "AND tablename IN ('contact_lists', 'phone_books') AND attname IN ('cif', 'owner') "
        "AND inherited"
    ).fetchall()
    return dict(rows)


def test_the_contacts_parents_get_statistics_at_their_first_rows_only(db, dsn):
    """The view's join is planned from the partitioned parents' own statistics, which
    autovacuum never gathers: the first run with contacts gathers them, later ones do not pay
    for re-reading every partition; a dry run gathers nothing."""
    _load(db, 40)
    runner.run(dsn, dry_run=True)
    assert _parent_stats(db) == {}
    runner.run(dsn)
    first = _parent_stats(db)
    assert set(first) == {"contact_lists", "phone_books"}
    runner.run(dsn)  # twice the rows per cif: a fresh ANALYZE would record half the share
    assert _parent_stats(db) == first
    db.execute("ANALYZE campaign_results.contact_lists, campaign_results.phone_books")
    assert _parent_stats(db) != first  # (what it would have recorded)


def test_a_reader_of_an_old_run_postpones_its_dropping_and_the_run_still_succeeds(db, dsn):
    """Retention after publishing: a session reading the run that is due to go (a long
    export) neither holds publishing up nor fails the night; that run's results stay until
    the next run, which drops them once the reader is done."""
    _load(db, 20)
    first = runner.run(dsn)
    said: list[str] = []
    with psycopg.connect(dsn, application_name="bi-export") as reader:
        partition = f"campaign_results.assignments_r{first.run_id}"
        reader.execute(f"SELECT count(*) FROM {partition}").fetchone()
        second = runner.run(dsn, keep=1, progress=said.append)
        assert second.status == "succeeded"
        assert any(f"results of run(s) {first.run_id} are being read" in s and "'bi-export'" in s
                   for s in said), said  # fmt: skip
        assert db.execute("SELECT to_regclass(%s) IS NOT NULL", (partition,)).fetchone() == (True,)
    (current,) = db.execute(
        "SELECT array_agg(DISTINCT run_id) FROM campaign_results.current_assignments"
    ).fetchone()
    assert current == [second.run_id]
    runner.run(dsn, keep=1)  # the reader is gone: the old runs' results go
    assert db.execute("SELECT to_regclass(%s)", (partition,)).fetchone() == (None,)
    dropped = db.execute(
        "SELECT run_id FROM campaign_results.runs WHERE results_dropped_at IS NOT NULL "
        "ORDER BY run_id"
    ).fetchall()
    assert dropped == [(first.run_id,), (second.run_id,)]
