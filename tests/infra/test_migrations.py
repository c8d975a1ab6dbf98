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
