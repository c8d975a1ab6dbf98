from __future__ import annotations

import copy

import psycopg
import pytest
import yaml

from sqlcompiler import api
from sqlcompiler import run as runner
from sqlcompiler.config import db as config_db
from sqlcompiler.config import files
from sqlcompiler.config.db import store as apply_module
from sqlcompiler.config.model import ConfigFile
from sqlcompiler.errors import ConfigError
from tests.scenario import Scenario, cond, configure

DOC = {
    "version": 1,
    "custom_fields": [{"field_name": "risk", "data_type": "number", "description": "score"}],
    "groups": [
        {"name": "Early", "campaigns": [
            {"name": "P1", "priority": 1, "conditions": [cond("l", "dpd", ">=", 30), cond("f", "risk", ">", 80)],
             "contact_rules": [{"rule_priority": 1, "conditions": [cond("c", "segment", "IN", ["MASS", "SME"])],
                                "outputs": [{"related_party_type": "customer", "contact_type": "mobile"}]}]},
            {"name": "P2", "priority": 2, "conditions": [cond("c", "segment", "=", "MASS")], "contact_rules": []},
        ]},
        {"name": "Late", "campaigns": [{"name": "L1", "priority": 5, "conditions": [], "contact_rules": []}]},
    ],
}  # fmt: skip


def _ids(db):
    return dict(db.execute("SELECT name, id FROM campaign_engine.campaigns").fetchall())


def test_apply_plan_export_round_trip(db, tmp_path):
    first = configure(db, DOC)
    assert any(str(c) == "+ group 'Early': 2 campaigns" for c in first.changes)
    assert config_db.plan(db, ConfigFile.model_validate(DOC)) == []
    exported = files.dump(config_db.load_from_db(db))
    assert yaml.safe_load(exported) == DOC  # the file form is what the user wrote
    again = api.apply_config(db, files.parse(exported))
    assert again.changes == [] and again.fingerprint == first.fingerprint
    hist = db.execute(
        "SELECT applied_by, fingerprint FROM campaign_engine.config_history"
    ).fetchall()
    assert hist == [("tests", first.fingerprint)]  # a no-op apply records nothing


def test_plan_lists_exact_changes_and_ids_stay_stable(db):
    configure(db, DOC)
    before = _ids(db)
    new = copy.deepcopy(DOC)
    early = new["groups"][0]["campaigns"]
    early[0]["priority"], early[1]["priority"] = 2, 1  # swap priorities (deferred unique check)
    early[1]["conditions"].append(cond("l", "status", "=", "ACTIVE"))
    early[0]["contact_rules"][0]["outputs"].append(
        {"related_party_type": "reference_customer_all", "contact_type": "all"}
    )
    del new["groups"][1]
    plan = [str(c) for c in config_db.plan(db, ConfigFile.model_validate(new))]
    assert plan == [
        "- group 'Late': 1 campaigns",
        "~ campaign 'P1' in group 'Early': priority 1 -> 2",
        "+ output of contact rule 1 of campaign 'P1' in group 'Early': reference_customer_all / all",
        "~ campaign 'P2' in group 'Early': priority 2 -> 1",
        "+ condition of campaign 'P2' in group 'Early': bank_sync_service.loans.status = ACTIVE",
    ]
    res = configure(db, new)
    assert [str(c) for c in res.changes] == plan
    after = _ids(db)
    assert after == {k: v for k, v in before.items() if k != "L1"}
    assert config_db.plan(db, ConfigFile.model_validate(new)) == []


def test_apply_refuses_invalid_file_and_changes_nothing(db):
    configure(db, DOC)
    bad = copy.deepcopy(DOC)
    bad["groups"][0]["campaigns"][0]["conditions"][0]["field_value"] = "thirty"
    del bad["groups"][1]
    with pytest.raises(ConfigError, match="'thirty' is not a number"):
        configure(db, bad)
    assert config_db.plan(db, ConfigFile.model_validate(DOC)) == []


def test_apply_is_all_or_nothing(db, monkeypatch):
    configure(db, DOC)
    new = copy.deepcopy(DOC)
    new["groups"].append({"name": "Extra", "campaigns": [{"name": "X", "priority": 1}]})
    new["groups"][0]["campaigns"][1]["priority"] = 9
    calls = {"n": 0}
    real = apply_module._Sync.add_campaign

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        raise psycopg.errors.QueryCanceled("simulated failure mid-apply")

    monkeypatch.setattr(apply_module._Sync, "add_campaign", failing)
    with pytest.raises(psycopg.errors.QueryCanceled):
        configure(db, new)
    assert calls["n"] == 1
    monkeypatch.setattr(apply_module._Sync, "add_campaign", real)
    assert (
        config_db.plan(db, ConfigFile.model_validate(DOC)) == []
    )  # priority change rolled back too


def test_injection_attempts_are_rejected_or_quoted(db, dsn):
    evil_value = "'); DROP TABLE bank_sync_service.loans; --"
    evil_field = "x'); DROP TABLE bank_sync_service.loans; --"
    Scenario().customer("C", segment=evil_value).loan("C", "L", custom={evil_field: "v"}).load(db)
    configure(db, {
        "custom_fields": [{"field_name": evil_field, "data_type": "string"}],
        "groups": [{"name": "G\"; DROP TABLE x; --", "campaigns": [
            {"name": "*/ DROP TABLE y; /*", "priority": 1,
             "conditions": [cond("c", "segment", "=", evil_value), cond("f", evil_field, "=", "v")]}]}],
    })  # fmt: skip
    res = runner.run(dsn)
    assert res.assigned == 1  # the values matched as plain data
    assert db.execute("SELECT count(*) FROM bank_sync_service.loans").fetchone()[0] == 1
    sql = api.compile_statements(dsn).statement.pretty()
    assert "'''); DROP TABLE" in sql  # a quoted literal, not a statement
    with pytest.raises(ConfigError, match="has no column"):
        configure(db, {"groups": [{"name": "G", "campaigns": [
            {"name": "C", "priority": 1, "conditions": [cond("c", 'segment" = 1; DROP TABLE x; --', "=", "a")]}]}]})  # fmt: skip


TREE_DOC = {
    "version": 1,
    "custom_fields": [{"field_name": "risk", "data_type": "number"}],
    "groups": [
        {"name": "Trees", "campaigns": [
            {"name": "any", "priority": 1,
             "conditions": {"any": [cond("l", "dpd", ">", 90), cond("l", "outstanding", ">", 50000000)]},
             "contact_rules": [{"rule_priority": 1,
                                "conditions": {"not": cond("l", "next_payment_date", ">=", "today - 30d")},
                                "outputs": [{"related_party_type": "customer", "contact_type": "mobile"}]}]},
            {"name": "mixed list", "priority": 2,
             "conditions": [cond("c", "segment", "=", "MASS"),
                            {"any": [cond("f", "risk", ">", 80), {"not": [cond("l", "dpd", "<", 5),
                                                                          cond("l", "dpd", ">", 0)]}]},
                            cond("l", "next_payment_date", "BETWEEN", ["today", "today + 2w"])],
             "contact_rules": []},
            {"name": "flat", "priority": 3, "conditions": [cond("l", "dpd", ">=", 30)], "contact_rules": []},
        ]},
    ],
}  # fmt: skip


def test_trees_round_trip_through_the_tables(db):
    configure(db, TREE_DOC)
    assert config_db.plan(db, ConfigFile.model_validate(TREE_DOC)) == []
    exported = yaml.safe_load(files.dump(config_db.load_from_db(db)))
    assert exported == TREE_DOC  # trees and relative values as written
    assert (
        config_db.plan(db, ConfigFile.model_validate(exported)) == []
    )  # apply(export()) = no change
    kinds = db.execute(
        "SELECT kind, count(*) FROM campaign_engine.condition_nodes GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert kinds == [("any", 2), ("not", 2)]
    # the plain list of campaign "flat" keeps exactly the rows it had before trees existed
    assert db.execute(
        "SELECT b.node_id, b.position, b.field_value FROM campaign_engine.base_conditions b "
        "JOIN campaign_engine.campaigns c ON c.id = b.campaign_id WHERE c.name = 'flat'"
    ).fetchall() == [(None, None, "30")]
    # a relative value is stored as written
    assert db.execute(
        "SELECT field_value FROM campaign_engine.contact_rule_conditions"
    ).fetchall() == [("today - 30d",)]


def test_changing_a_tree_is_one_readable_change(db):
    configure(db, TREE_DOC)
    doc = copy.deepcopy(TREE_DOC)
    doc["groups"][0]["campaigns"][0]["conditions"]["any"][0]["field_value"] = 60
    changes = [str(c) for c in config_db.plan(db, ConfigFile.model_validate(doc))]
    assert changes == [
        "~ conditions of campaign 'any' in group 'Trees': (bank_sync_service.loans.dpd > 90 OR "
        "bank_sync_service.loans.outstanding > 50000000) -> (bank_sync_service.loans.dpd > 60 OR "
        "bank_sync_service.loans.outstanding > 50000000)"
    ]
    configure(db, doc)
    assert config_db.plan(db, ConfigFile.model_validate(doc)) == []
    # back to a plain list: the nodes go, the rows are today's again
    doc["groups"][0]["campaigns"][0]["conditions"] = [cond("l", "dpd", ">", 60)]
    configure(db, doc)
    assert db.execute(
        "SELECT count(*) FROM campaign_engine.condition_nodes WHERE campaign_id IS NOT NULL "
        "AND campaign_id = (SELECT id FROM campaign_engine.campaigns WHERE name = 'any')"
    ).fetchone() == (0,)
    assert yaml.safe_load(files.dump(config_db.load_from_db(db)))["groups"][0]["campaigns"][0][
        "conditions"
    ] == [cond("l", "dpd", ">", 60)]


def test_a_list_of_one_node_is_the_node(db):
    doc = copy.deepcopy(TREE_DOC)
    doc["groups"][0]["campaigns"][0]["conditions"] = [
        doc["groups"][0]["campaigns"][0]["conditions"]
    ]
    first = configure(db, doc)
    assert (
        config_db.plan(db, ConfigFile.model_validate(TREE_DOC)) == []
    )  # same tree, same fingerprint
    assert first.fingerprint == configure(db, TREE_DOC).fingerprint


def test_downgrade_below_trees_refuses_while_trees_exist(db, dsn):
    from sqlcompiler.errors import MigrationError
    from sqlcompiler.infra import migrations

    configure(db, TREE_DOC)
    with pytest.raises((MigrationError, psycopg.Error), match="condition trees are configured"):
        migrations.downgrade(dsn, "0009")
