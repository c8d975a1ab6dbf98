"""Bank-sync data in this database, over postgres_fdw, or from a logical replica.

Two clusters: ``bank_dsn`` plays the bank-sync service, ``db`` the campaign engine.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from sqlcompiler import api, console, source
from sqlcompiler import run as runner
from sqlcompiler.errors import ConfigError, SourceError
from tests.conftest import create_database, drop_database
from tests.scenario import Scenario, cond, configure, results, run_and_compare

PASSWORD = "s3cret-Pa55"  # the test clusters trust local connections: present, never used

CONFIG = {
    "custom_fields": [{"field_name": "risk", "data_type": "number"}],
    "groups": [
        {"name": "Collections", "campaigns": [
            {"name": "late", "priority": 1, "conditions": [cond("l", "dpd", ">", 60), cond("l", "status", "!=", "CLOSED")],
             "contact_rules": [{"rule_priority": 1, "outputs": [
                 {"related_party_type": "customer", "contact_type": "all"},
                 {"related_party_type": "reference_customer_all", "contact_type": "mobile"}]}]},
            {"name": "risky", "priority": 2, "conditions": [cond("f", "risk", ">=", 50)],
             "contact_rules": [{"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "mobile"}]}]},
        ]},
        {"name": "VIP", "campaigns": [{"name": "vip", "priority": 1, "conditions": [cond("c", "segment", "=", "VIP")]}]},
    ],
}  # fmt: skip


def _scenario() -> Scenario:
    s = Scenario()
    for i in range(12):
        cif = f"C{i:02d}"
        s.customer(cif, segment="VIP" if i % 3 == 0 else "MASS")
        s.loan(cif, f"A{i:02d}1", dpd=i * 15, custom={"risk": i * 10})
        if i % 2:
            s.loan(cif, f"A{i:02d}2", dpd=200, status="CLOSED")
        s.phone(cif, 100 + i, "mobile", f"+84{i:03d}", primary=True)
        if i % 4 == 0:
            s.phone(cif, 200 + i, "home", f"+24{i:03d}")
            s.reference(cif, f"R{i:02d}", "SPOUSE").phone(
                f"R{i:02d}", 300 + i, "mobile", f"+85{i:03d}"
            )
    return s


def _status(dsn: str) -> tuple[bool, str]:
    st = api.source_status(dsn)
    return st.ok, console.source_status(st)


def _with_password(dsn: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, password=PASSWORD)


def _bank(bank_dsn: str) -> psycopg.Connection:
    return psycopg.connect(bank_dsn, autocommit=True)


def _local_results(db, dsn):
    _scenario().load(db)
    configure(db, CONFIG)
    return run_and_compare(db, dsn)


@pytest.fixture
def fdw_db(db, dsn, bank_dsn):
    """The campaign database reading the bank-sync scenario over postgres_fdw."""
    with _bank(bank_dsn) as bank:
        _scenario().load(bank)
    out = console.source_setup(api.source_fdw(dsn, _with_password(bank_dsn), "bank_sync_service"))
    assert out.startswith("source: fdw")
    configure(db, CONFIG)
    return db


def test_fdw_gives_the_same_results_as_local_and_records_the_snapshot(fdw_db, dsn, bank_dsn):
    got = run_and_compare(fdw_db, dsn)
    assert len(got[0]) > 5 and len(got[1]) > 5
    src = fdw_db.execute(
        "SELECT source FROM campaign_results.runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone()[0]
    assert src["mode"] == "fdw"
    assert src["snapshot"]["rows"] == {
        "customers": 12, "loans": 18, "loan_custom_fields": 12, "reference_customers": 3, "phones": 18,
    }  # fmt: skip
    assert src["snapshot"]["bytes"] > 0 and src["snapshot"]["seconds"] >= 0
    # the snapshot tables are unlogged copies, marked as such
    kinds = fdw_db.execute(
        "SELECT relpersistence::text, obj_description(oid, 'pg_class') FROM pg_class "
        "WHERE relnamespace = 'bank_sync_service'::regnamespace AND relname = 'loans'"
    ).fetchone()
    assert kinds == ("u", source.SNAPSHOT_COMMENT)
    # the credentials are in the user mapping, not in what we record or print
    assert PASSWORD not in str(
        fdw_db.execute("SELECT * FROM campaign_engine.data_source").fetchall()
    )
    assert PASSWORD not in console.source_setup(
        api.source_fdw(dsn, _with_password(bank_dsn), "bank_sync_service", sql_only=True)
    )


def test_fdw_list_run_copies_only_its_customers(fdw_db, dsn):
    run_and_compare(fdw_db, dsn, cifs=["C00", "C03", "C99"])
    snap = fdw_db.execute(
        "SELECT source->'snapshot'->'rows' FROM campaign_results.runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone()[0]
    # C00 has a reference R00 whose phone is copied too; C99 does not exist
    assert snap == {
        "customers": 2,
        "loans": 3,
        "loan_custom_fields": 2,
        "reference_customers": 1,
        "phones": 4,
    }


def test_three_modes_give_identical_results(db, dsn, bank_dsn, postgresql_proc, tmp_path):
    local = _local_results(db, dsn)
    # fdw and replica into two more campaign databases on the campaign cluster
    with _bank(bank_dsn) as bank:
        _scenario().load(bank)
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    for mode in ("fdw", "replica"):
        name = f"{psycopg.conninfo.conninfo_to_dict(dsn)['dbname']}_{mode}"
        other = create_database(admin, name, template=postgresql_proc.template_dbname)
        try:
            if mode == "fdw":
                api.source_fdw(other, bank_dsn, "bank_sync_service")
            else:
                api.source_replica(other, bank_dsn, wait=120)
            with psycopg.connect(other, autocommit=True) as conn:
                configure(conn, CONFIG)
                assert run_and_compare(conn, other) == local, mode
                assert (
                    conn.execute(
                        "SELECT source->>'mode' FROM campaign_results.runs ORDER BY run_id DESC LIMIT 1"
                    ).fetchone()[0]
                    == mode
                )
        finally:
            with psycopg.connect(other, autocommit=True) as conn:
                conn.execute(f"DROP SUBSCRIPTION IF EXISTS {source.SUBSCRIPTION}")
            drop_database(admin, name)


def test_compiled_sql_is_the_same_in_every_mode(fdw_db, dsn, db):
    fdw_sql = [c.sql for c in api.compile_statements(dsn).statements]
    api.source_local(dsn)
    _scenario().load(db)
    assert [c.sql for c in api.compile_statements(dsn).statements] == fdw_sql


def test_column_dropped_on_the_bank_sync_side_fails_validation_and_the_run(fdw_db, dsn, bank_dsn):
    assert runner.run(dsn).status == "succeeded"
    with _bank(bank_dsn) as bank:
        bank.execute("ALTER TABLE bank_sync_service.loans DROP COLUMN dpd")
    with pytest.raises(ConfigError) as err:
        api.load_config(fdw_db)
    assert "column bank_sync_service.loans.dpd is missing on the bank-sync database" in str(
        err.value
    )
    with pytest.raises(ConfigError, match=r"loans\.dpd is missing"):
        runner.run(dsn)
    status, error = fdw_db.execute(
        "SELECT status, error FROM campaign_results.runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    assert status == "failed" and "loans.dpd is missing" in error
    assert len(results(fdw_db)[0]) > 0  # the first run's results are still visible


def test_retyped_column_asks_for_refresh_then_validates_the_new_type(fdw_db, dsn, bank_dsn):
    with _bank(bank_dsn) as bank:
        bank.execute(
            "ALTER TABLE bank_sync_service.loans ALTER COLUMN dpd TYPE boolean USING dpd > 0"
        )
    with pytest.raises(ConfigError) as err:
        api.load_config(fdw_db)
    text = str(err.value)
    assert "bank_sync_service.loans.dpd is boolean on the bank-sync database but integer" in text
    assert "sqlcompiler source fdw --refresh" in text
    api.source_fdw(dsn, None, "bank_sync_service", refresh=True)  # no credentials needed again
    with pytest.raises(ConfigError, match="operator > does not apply to boolean field dpd"):
        api.load_config(fdw_db)


def test_bank_sync_server_down_fails_the_run_cleanly(fdw_db, dsn, bank_server):
    first = runner.run(dsn)
    before = results(fdw_db)
    bank_server.stop()
    try:
        with pytest.raises(Exception) as err:
            runner.run(dsn)
        assert PASSWORD not in str(err.value)
        assert "cannot read the bank-sync catalog" in str(err.value)
        ok, text = _status(dsn)
        assert not ok and "UNREACHABLE" in text and PASSWORD not in text
    finally:
        bank_server.start()
    status, error, src = fdw_db.execute(
        "SELECT status, error, source FROM campaign_results.runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    assert status == "failed" and PASSWORD not in error and src == {"mode": "fdw"}
    assert results(fdw_db) == before
    assert fdw_db.execute(
        "SELECT array_agg(DISTINCT run_id) FROM campaign_results.current_assignments"
    ).fetchone()[0] == [first.run_id]


def test_snapshot_failure_mid_copy_leaves_previous_snapshot_and_results(fdw_db, dsn, bank_dsn):
    runner.run(dsn)
    before = results(fdw_db)
    # the remote table still has its columns, but reading its rows fails (division by zero)
    with _bank(bank_dsn) as bank:
        bank.execute("ALTER TABLE bank_sync_service.phones RENAME TO phones_real")
        bank.execute(
            "CREATE VIEW bank_sync_service.phones AS SELECT p.* FROM bank_sync_service.phones_real p "
            "WHERE 1 / (p.id - p.id) = 0"
        )
    with pytest.raises(SourceError, match="the fdw snapshot .* failed: division by zero"):
        runner.run(dsn)
    assert results(fdw_db) == before
    # the snapshot transaction rolled back: the previous copy is complete
    assert fdw_db.execute("SELECT count(*) FROM bank_sync_service.phones").fetchone()[0] == 18


def test_writes_into_bank_sync_tables_are_refused_outside_local_mode(fdw_db, dsn, tmp_path):
    from sqlcompiler.demo import generate as demo
    from sqlcompiler.source import custom_fields

    with pytest.raises(SourceError, match="demo writes the bank-sync tables.*fdw mode"):
        demo.generate(fdw_db, 10)
    f = tmp_path / "v.csv"
    f.write_text("account_number,risk\nA001,5\n")
    with pytest.raises(SourceError, match="custom-fields upload"):
        custom_fields.upload(fdw_db, f, source_system="x", uploaded_by="t")


def test_fdw_refuses_to_replace_local_tables_with_data(db, dsn, bank_dsn):
    _scenario().load(db)
    with pytest.raises(
        SourceError, match="bank_sync_service.customers in this database holds rows"
    ):
        api.source_fdw(dsn, bank_dsn, "bank_sync_service")
    assert source.configured(db).mode == "local"


def test_status_in_each_mode(db, dsn, bank_dsn):
    ok, text = _status(dsn)
    assert ok and text.startswith("mode: local") and "customers" in text
    with _bank(bank_dsn) as bank:
        _scenario().load(bank)
    api.source_fdw(dsn, bank_dsn, "bank_sync_service")
    ok, text = _status(dsn)
    assert ok and text.startswith("mode: fdw") and "phones" in text and "18 rows" in text
    notes = api.source_local(dsn)
    assert any("sqlcompiler_bank_sync" in n for n in notes)
    assert source.configured(db).mode == "local"


def test_replica_setup_status_lag_and_changes_arrive(db, dsn, bank_dsn):
    with _bank(bank_dsn) as bank:
        _scenario().load(bank)
    try:
        out = console.source_setup(api.source_replica(dsn, _with_password(bank_dsn), wait=120))
        assert "replica" in out and PASSWORD not in out
        assert db.execute("SELECT count(*) FROM bank_sync_service.phones").fetchone()[0] == 18
        printed = console.source_setup(
            api.source_replica(dsn, _with_password(bank_dsn), sql_only=True)
        )
        assert PASSWORD not in printed and "ALTER SUBSCRIPTION" in printed  # idempotent re-run
        with _bank(bank_dsn) as bank:
            bank.execute(
                "UPDATE bank_sync_service.loans SET dpd = 500 WHERE account_number = 'A001'"
            )
        deadline = time.monotonic() + 30
        while (
            db.execute(
                "SELECT dpd FROM bank_sync_service.loans WHERE account_number = 'A001'"
            ).fetchone()[0]
            != 500
        ):
            assert time.monotonic() < deadline, "the change did not replicate"
            time.sleep(0.2)
        ok, text = _status(dsn)
        assert ok and "mode: replica" in text and "ready" in text
        configure(db, CONFIG)
        run_and_compare(db, dsn)
        src = db.execute(
            "SELECT source FROM campaign_results.runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()[0]
        assert src["mode"] == "replica" and "lag_seconds" in src
    finally:
        db.execute(f"DROP SUBSCRIPTION IF EXISTS {source.SUBSCRIPTION}")


def test_replica_needs_logical_wal_and_prints_dba_statements_without_privilege(db, dsn, bank_dsn):
    # the campaign cluster runs with wal_level=replica
    other = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with pytest.raises(
        SourceError, match="wal_level=replica; logical replication needs wal_level=logical"
    ):
        api.source_replica(dsn, other)
    with _bank(bank_dsn) as bank:
        bank.execute("DROP ROLE IF EXISTS campaign_sub")
        bank.execute("CREATE ROLE campaign_sub LOGIN REPLICATION")
        bank.execute("GRANT USAGE ON SCHEMA bank_sync_service TO campaign_sub")
    weak = psycopg.conninfo.make_conninfo(bank_dsn, user="campaign_sub")
    with pytest.raises(SourceError) as err:
        api.source_replica(dsn, weak)
    text = str(err.value)
    assert "permission denied" in text
    assert (
        "the bank-sync DBA must run" in text
        and 'CREATE PUBLICATION "sqlcompiler_bank_sync"' in text
    )
    assert source.configured(db).mode == "local"
    with _bank(bank_dsn) as bank:
        bank.execute("REVOKE ALL ON SCHEMA bank_sync_service FROM campaign_sub")
        bank.execute("DROP ROLE campaign_sub")


def test_run_in_replica_mode_without_subscription_is_a_clear_error(db, dsn):
    db.execute(
        "INSERT INTO campaign_engine.data_source (mode, subscription_name) VALUES ('replica', 'gone')"
    )
    with pytest.raises(SourceError, match="subscription gone does not exist"):
        runner.run(dsn)
    status, error = db.execute(
        "SELECT status, error FROM campaign_results.runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    assert status == "failed" and "subscription gone does not exist" in error


def test_cli_source_commands(db, dsn, bank_dsn):
    from tests.cli.test_cli import sqlc

    with _bank(bank_dsn) as bank:
        _scenario().load(bank)
    res = sqlc("source", "fdw", dsn=dsn)
    assert res.returncode == 2 and "--server-dsn" in res.stderr
    res = sqlc("source", "fdw", "--server-dsn", _with_password(bank_dsn), "--sql", dsn=dsn)
    assert res.returncode == 0, res.stderr
    assert "IMPORT FOREIGN SCHEMA" in res.stdout and ":'bank_sync_password'" in res.stdout
    assert PASSWORD not in res.stdout + res.stderr
    assert source.configured(db).mode == "local"  # --sql ran nothing
    res = sqlc("source", "fdw", "--server-dsn", _with_password(bank_dsn), dsn=dsn)
    assert res.returncode == 0 and "source: fdw" in res.stdout and PASSWORD not in res.stdout
    res = sqlc("source", "status", dsn=dsn)
    assert res.returncode == 0 and "12 rows" in res.stdout
    with _bank(bank_dsn) as bank:
        bank.execute("ALTER TABLE bank_sync_service.customers DROP COLUMN segment")
    res = sqlc("source", "status", dsn=dsn)
    assert res.returncode == 1 and "customers.segment is missing" in res.stdout
    res = sqlc("run", dsn=dsn)
    assert (
        res.returncode == 1 and res.stderr.startswith("Error: ") and "Traceback" not in res.stderr
    )
    assert "bank_sync_service.customers.segment is missing on the bank-sync database" in res.stderr


def test_refused_subscription_leaves_local_mode(db, dsn, bank_dsn):
    # a replication slot of that name already exists on the publisher: CREATE SUBSCRIPTION fails
    with _bank(bank_dsn) as bank:
        bank.execute(
            "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (source.SUBSCRIPTION,)
        )
    try:
        with pytest.raises(SourceError, match="already exists"):
            api.source_replica(dsn, bank_dsn, wait=10)
        assert source.configured(db).mode == "local"
    finally:
        with _bank(bank_dsn) as bank:
            bank.execute("SELECT pg_drop_replication_slot(%s)", (source.SUBSCRIPTION,))
