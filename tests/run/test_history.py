"""runs show / runs diff / run's summary: counts by name, changes between runs, bad run ids."""

from __future__ import annotations

import csv
import io

from sqlcompiler import api, console
from sqlcompiler import run as runner
from tests.cli.test_cli import sqlc
from tests.run.test_preview import V1, _scenario


def test_run_summary_by_campaign_name_with_the_change(db, dsn):
    _scenario(db)  # run 1 published
    db.execute("UPDATE bank_sync_service.loans SET dpd = 65 WHERE cif = 'C1'")
    res = runner.run(dsn)
    text = console.run_summary(res)
    assert f"change against run {res.previous_run_id}" in text
    # campaign rows: "  name  assigned  change"
    rows = {
        ln.strip().rsplit(maxsplit=2)[0]: ln.split()[-2:]
        for ln in text.splitlines()
        if ln.startswith("  ")
    }
    assert rows["Gọi gấp"] == ["3", "+1"]  # 2 -> 3
    assert rows["Nhắc nhở"] == ["1", "-1"]
    assert rows["Chăm sóc"] == ["2", "0"]


def test_runs_show_and_diff(db, dsn):
    _scenario(db)
    first = db.execute("SELECT max(run_id) FROM campaign_results.runs").fetchone()[0]
    db.execute("UPDATE bank_sync_service.loans SET dpd = 65 WHERE cif = 'C1'")  # moves up
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0 WHERE cif = 'C2'")  # leaves
    second = runner.run(dsn).run_id
    record, counts = api.run_details(dsn, second)
    assert record.status == "succeeded"
    assert {(c.group, c.campaign): c.assigned for c in counts} == {
        ("Nhóm trễ hạn", "Gọi gấp"): 3, ("Nhóm trễ hạn", "Nhắc nhở"): 0, ("VIP", "Chăm sóc"): 2,
    }  # fmt: skip
    _a, _b, moves = api.runs_diff(dsn, first, second, sample=3)
    got = {(m.change, m.from_campaign, m.to_campaign): (m.customers, m.sample) for m in moves}
    assert got == {
        ("moved", "Nhắc nhở", "Gọi gấp"): (1, ["C1"]),
        ("left", "Nhắc nhở", None): (1, ["C2"]),
    }
    out = sqlc("runs", "diff", str(first), str(second), "--format", "csv", dsn=dsn)
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows == [
        ["cif", "group", "change", "from_campaign", "to_campaign"],
        ["C1", "Nhóm trễ hạn", "moved", "Nhắc nhở", "Gọi gấp"],
        ["C2", "Nhóm trễ hạn", "left", "Nhắc nhở", ""],
    ]
    shown = sqlc("runs", "show", str(second), dsn=dsn)
    assert shown.returncode == 0 and "Nhóm trễ hạn / Nhắc nhở" in shown.stdout
    assert "fingerprint" in shown.stdout and "as of" in shown.stdout


def test_bad_run_ids_are_one_line_errors(db, dsn):
    _scenario(db)
    dry = runner.run(dsn, dry_run=True).run_id
    for args, message in [
        (("runs", "show", "999"), "run 999 does not exist"),
        (("runs", "diff", "1", "999"), "run 999 does not exist"),
        (("runs", "diff", "1", str(dry)), f"run {dry} was a dry run"),
        (("explain", "C1", "--run", "999"), "run 999 does not exist"),
    ]:
        out = sqlc(*args, dsn=dsn)
        assert out.returncode == 1 and message in out.stderr, (args, out.stderr)
    runner.run(dsn, keep=1)
    runner.run(dsn, keep=1)
    out = sqlc("runs", "diff", "1", "2", dsn=dsn)
    assert out.returncode == 1 and "removed by retention" in out.stderr
    assert V1  # the scenario's configuration
