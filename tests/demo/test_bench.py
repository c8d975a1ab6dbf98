"""The benchmark as a smoke test: small sizes, but the same comparison that gates it."""

from __future__ import annotations

import json

import pytest

from sqlcompiler.demo import bench
from sqlcompiler.demo.synthetic import synthetic_config
from sqlcompiler.errors import SqlCompilerError


def test_synthetic_config_uses_every_operator_type_and_source():
    doc = bench.synthetic_config(groups=4, campaigns=10, conditions=4, rules=3, seed=1)
    conds = [c for g in doc["groups"] for cp in g["campaigns"] for c in cp["conditions"]]
    conds += [
        c
        for g in doc["groups"]
        for cp in g["campaigns"]
        for r in cp["contact_rules"]
        for c in r["conditions"]
    ]
    assert {c["data_source"] for c in conds} == {
        "bank_sync_service.customers",
        "bank_sync_service.loans",
        "custom_fields",
    }
    ops = {c["operator"] for c in conds}
    assert ops >= {
        "=",
        "!=",
        ">",
        ">=",
        "<",
        "<=",
        "LIKE",
        "NOT LIKE",
        "ILIKE",
        "IN",
        "NOT IN",
        "BETWEEN",
        "IS NULL",
        "IS NOT NULL",
    }


def test_bench_smoke_run_equals_literal_plan(db, dsn, tmp_path):
    report = bench.bench(
        dsn, customers=4000, groups=3, campaigns=6, conditions=3, rules=2, sample=200, scaling=False,
        jobs=1,
    )  # fmt: skip
    assert report.identical
    names = [m.name for m in report.measurements]
    assert names == [
        "floor", "run", "literal plan", "single pass, 1 connection", "per-customer",
        "run, trees: not any not (same results)", "run, trees: a and (b or not c) and d",
        "run, dates relative to the run (same results)", "run, flat lists again",
    ]  # fmt: skip
    assert all(m.seconds > 0 for m in report.measurements)
    single = report.measurements[3]  # checked row for row, position included, against the run
    assert single.details["differences_from_run"] == {"assignments": 0, "contacts": 0}
    # the same leaves as De Morgan trees and the dates relative to the run: the same output
    # (every variant was also checked against the literal plan: report.identical)
    out = {m.name: (m.details["assignments"], m.details["contacts"]) for m in report.measurements
           if m.name.startswith("run")}  # fmt: skip
    assert out["run"] == out["run, trees: not any not (same results)"]
    assert out["run"] == out["run, dates relative to the run (same results)"]
    assert out["run"] == out["run, flat lists again"]
    assert "x flat lists" in report.table()
    path = tmp_path / "report.json"
    bench.write_report(report, str(path))
    data = json.loads(path.read_text())
    assert data["run_equals_literal_plan"] is True and data["parameters"]["customers"] == 4000
    assert data["parameters"]["jobs"] == 1  # bench --jobs / SQLCOMPILER_JOBS reach the runs
    assert "x floor" in report.table()
    # the configuration in place before the bench is restored
    assert db.execute("SELECT count(*) FROM campaign_engine.campaigns").fetchone()[0] == 0


def test_bench_fails_when_run_and_literal_plan_disagree(db, dsn, monkeypatch):
    real = bench.literal_group_sql

    def wrong(group, schema="bank_sync_service"):
        from dataclasses import replace

        return real(
            replace(group, campaigns=group.campaigns[1:]), schema
        )  # drops the first campaign

    monkeypatch.setattr(bench, "literal_group_sql", wrong)
    with pytest.raises(SqlCompilerError, match="disagree"):
        bench.bench(
            dsn,
            customers=1500,
            groups=2,
            campaigns=4,
            conditions=2,
            rules=1,
            sample=50,
            scaling=False,
        )


def test_contact_heavy_configuration_asks_every_phone():
    heavy = synthetic_config(2, 3, 2, 2, 7, contact_heavy=True)
    outputs = [o for g in heavy["groups"] for c in g["campaigns"] for r in c["contact_rules"]
               for o in r["outputs"]]  # fmt: skip
    assert {(o["related_party_type"], o["contact_type"]) for o in outputs} == {
        ("customer", "all"), ("reference_customer_all", "all")}  # fmt: skip
