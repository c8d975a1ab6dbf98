from __future__ import annotations

import psycopg
import pytest

from sqlcompiler.demo import generate as demo
from sqlcompiler.errors import MigrationError
from sqlcompiler.infra import migrations

TABLES = {
    "campaign_groups", "campaigns", "base_conditions", "contact_selection_rules",
    "contact_rule_conditions", "contact_rule_outputs", "custom_fields", "config_history",
}  # fmt: skip


def _tables(conn, schema):
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    ).fetchall()
    return {r[0] for r in rows}


def test_up_and_down_on_an_empty_database(empty_dsn):
    migrations.upgrade(empty_dsn)
    with psycopg.connect(empty_dsn) as conn:
        assert TABLES <= _tables(conn, "campaign_engine")
        assert {"current_assignments", "current_contacts", "runs"} <= _tables(
            conn, "campaign_results"
        )
        assert migrations.current_revision(conn) == migrations.head_revision()
    migrations.downgrade(empty_dsn, "base")
    with psycopg.connect(empty_dsn) as conn:
        assert _tables(conn, "campaign_engine") == set()
        assert _tables(conn, "campaign_results") == set()
        assert migrations.current_revision(conn) is None
    migrations.upgrade(empty_dsn)  # and up again


def test_existing_bank_sync_service_is_left_alone(empty_dsn):
    with psycopg.connect(empty_dsn) as conn:
        demo.init_schema(conn)
        conn.execute("INSERT INTO bank_sync_service.customers (cif, segment) VALUES ('X1', 'MASS')")
    migrations.upgrade(empty_dsn)
    migrations.downgrade(empty_dsn, "base")
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT cif FROM bank_sync_service.customers").fetchall() == [("X1",)]


def test_schema_state_is_checked(empty_dsn):
    with (
        psycopg.connect(empty_dsn) as conn,
        pytest.raises(MigrationError, match="sqlcompiler db upgrade"),
    ):
        migrations.require_current(conn)


def test_offline_sql_for_review():
    text = migrations.offline_sql()
    assert "CREATE TABLE campaign_engine.campaigns" in text
    assert "COMMENT ON TABLE campaign_engine.base_conditions" in text
    assert "CREATE VIEW campaign_results.current_assignments" in text


def test_constraints(db):
    db.execute("INSERT INTO campaign_engine.campaign_groups (id, name) VALUES (1, 'G')")
    db.execute(
        "INSERT INTO campaign_engine.campaigns (campaign_group_id, name, priority) VALUES (1, 'A', 1)"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            "INSERT INTO campaign_engine.campaigns (campaign_group_id, name, priority) VALUES (1, 'B', 1)"
        )
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute("INSERT INTO campaign_engine.campaign_groups (name) VALUES ('G')")
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(
            "INSERT INTO campaign_engine.custom_fields (field_name, data_type) VALUES ('x', 'money')"
        )
    db.execute("INSERT INTO campaign_engine.contact_selection_rules (id, campaign_id, rule_priority) "
               "SELECT 1, id, 1 FROM campaign_engine.campaigns")  # fmt: skip
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO campaign_engine.contact_rule_outputs (contact_selection_rule_id, related_party_type, contact_type) "
                   "VALUES (1, 'neighbour', 'mobile')")  # fmt: skip
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO campaign_engine.contact_rule_outputs (contact_selection_rule_id, related_party_type, contact_type) "
                   "VALUES (1, 'customer', 'fax')")  # fmt: skip
    # updated_at is maintained by a trigger; deletes cascade
    before = db.execute("SELECT updated_at FROM campaign_engine.campaigns").fetchone()[0]
    db.execute("UPDATE campaign_engine.campaigns SET name = 'A2'")
    assert db.execute("SELECT updated_at FROM campaign_engine.campaigns").fetchone()[0] > before
    db.execute("DELETE FROM campaign_engine.campaign_groups")
    assert (
        db.execute("SELECT count(*) FROM campaign_engine.contact_selection_rules").fetchone()[0]
        == 0
    )


def test_contacts_published_before_the_compact_form_stay_readable(empty_dsn):
    """Revision 0014 stores contacts as lists against a per-run phone book; a run published
    before it keeps its rows (the table, renamed contact_rows, under the view contacts), so the
    public view shows them unchanged after the upgrade, and retention still drops them."""
    migrations.upgrade(empty_dsn, "0013")
    row = ("C1", 7, 70, 1, 10, "reference", "R1", "PARENT", "mobile", "+84 912", True, None)
    with psycopg.connect(empty_dsn) as conn:
        (run_id,) = conn.execute(
            "INSERT INTO campaign_results.runs (kind, status, finished_at) "
            "VALUES ('full', 'succeeded', now()) RETURNING run_id"
        ).fetchone()
        for base in ("assignments", "contacts", "unassignments"):
            conn.execute(f"CREATE TABLE campaign_results.{base}_r{run_id} PARTITION OF "
                         f"campaign_results.{base} FOR VALUES IN ({run_id})")  # fmt: skip
        conn.execute(
            "INSERT INTO campaign_results.assignments VALUES (%s, 'C1', 7, 70, '{L1}')", (run_id,)
        )
        conn.execute(
            "INSERT INTO campaign_results.contacts (run_id, cif, campaign_group_id, campaign_id, "
            "position, rule_priority, party_type, party_cif, relationship_type, contact_type, "
            "phone_number, is_primary, is_verified, phone_id) VALUES (%s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, %s, 5)",
            (run_id, *row),
        )
        before = conn.execute("SELECT * FROM campaign_results.current_contacts").fetchall()
    assert [r[1:13] for r in before] == [row]
    migrations.upgrade(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        after = conn.execute("SELECT * FROM campaign_results.current_contacts").fetchall()
        width = len(before[0])  # revision 0016 appends the calling window (NULL: no policy)
        assert [r[:width] for r in after] == before and [r[width:] for r in after] == [(None,) * 2]
        assert conn.execute(
            "SELECT phone_id FROM campaign_results.contacts WHERE run_id = %s", (run_id,)
        ).fetchall() == [(5,)]
        from sqlcompiler.run.retention import prune

        conn.execute(
            "INSERT INTO campaign_results.runs (kind, status, finished_at) "
            "VALUES ('full', 'succeeded', now())"
        )
        prune(conn, 1, 1)  # a newer full run: the old run's partitions go
        assert conn.execute("SELECT count(*) FROM campaign_results.contacts").fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pg_class WHERE relname = %s", (f"contacts_r{run_id}",)
        ).fetchone() == (0,)
