"""sqlcompiler fields: types, missing shares (wrong-typed JSON counts as missing), top values,
min / median / max, sampling of big tables."""

from __future__ import annotations

import json

from sqlcompiler.source import custom_fields, fields
from tests.cli.test_cli import sqlc
from tests.scenario import Scenario


def _scenario(db):
    s = Scenario()
    names = ["Trần Văn An", "Trần Thị Bình", "Nguyễn Văn Cường", None]
    for i, name in enumerate(names):
        s.customer(f"C{i}", name=name, segment=["MASS", "MASS", "VIP", "MASS"][i])
        s.loan(f"C{i}", f"L{i}", dpd=[0, 10, 30, None][i])
        s.custom[f"L{i}"] = [{"risk": 10}, {"risk": "high"}, {"risk": 30}, {}][i]
    s.load(db)
    custom_fields.add(db, "risk", "number")


def test_profiles_match_what_conditions_see(db):
    _scenario(db)
    report = fields.profile(db)
    by = {(f.data_source, f.field): f for f in report.fields}
    segment = by[("bank_sync_service.customers", "segment")]
    assert segment.data_type == "string" and segment.top == [("MASS", 3), ("VIP", 1)]
    assert by[("bank_sync_service.customers", "name")].missing == 0.25
    dpd = by[("bank_sync_service.loans", "dpd")]
    assert (dpd.min, dpd.median, dpd.max, dpd.missing) == (0, 10, 30, 0.25)
    risk = by[("custom_fields", "risk")]  # "high" is the wrong JSON type: missing, as in SPEC §2
    assert (risk.missing, risk.distinct, risk.min, risk.max) == (0.5, 2, 10, 30)
    assert not report.scans["bank_sync_service.loans"].sampled


def test_big_tables_are_sampled_and_say_so(db, dsn, monkeypatch):
    _scenario(db)
    db.execute(
        "INSERT INTO bank_sync_service.customers (cif, segment) "
        "SELECT 'X' || g, 'MASS' FROM generate_series(1, 20000) g"
    )
    db.execute("ANALYZE bank_sync_service.customers")
    monkeypatch.setattr(fields, "SAMPLE_ROWS", 2000)
    scan = fields.profile(db).scans["bank_sync_service.customers"]
    assert scan.sampled and scan.rows < 20004 and scan.estimated_rows >= 20000
    out = sqlc("fields", "--format", "json", dsn=dsn)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert {"scans", "fields"} <= set(doc)
    assert "TABLESAMPLE" not in sqlc("fields", dsn=dsn).stdout  # 20k rows: below the CLI's limit
