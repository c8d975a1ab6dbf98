"""The command line as a user meets it: help, errors without tracebacks, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from sqlcompiler.cli import cli
from sqlcompiler.compiler.settings import set_local_statements
from tests.paths import REPO
from tests.scenario import Scenario, cond, configure

EXAMPLE = REPO / "examples" / "demo.yaml"


def psql_dsn(dsn: str) -> str:
    """``dsn`` without the options psql 15's libpq does not know (psycopg's may be newer)."""
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(dsn)
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items()
                                             if k not in ("sslcertmode", "require_auth")})  # fmt: skip


def sqlc(
    *args: str, dsn: str | None = None, stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    extra = env or {}
    env = os.environ.copy()
    env.pop("SQLCOMPILER_DSN", None)
    env.update(extra)
    if dsn:
        env["SQLCOMPILER_DSN"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "sqlcompiler", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=300,
    )


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def test_help_lists_commands_with_explanations():
    out = sqlc("--help")
    assert out.returncode == 0
    for name in ("compile", "config", "db", "demo", "embedded", "run", "runs"):
        assert f"  {name} " in out.stdout


@pytest.mark.parametrize("path", list(_commands(cli)), ids=" ".join)
def test_every_command_has_help(path):
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output and len(res.output.splitlines()) > 3


def test_usage_error_exits_2():
    out = sqlc("run", "--no-such-option")
    assert out.returncode == 2 and "No such option" in out.stderr


def test_bad_input_is_one_line_error_without_traceback(dsn, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "groups:\n  - name: G\n    campaigns:\n      - {name: A, priority: 1, conditions: [{data_source: bank_sync_service.loans, field_name: dpd, operator: LIKE, field_value: '1%'}]}\n"
    )
    out = sqlc("config", "validate", str(bad), dsn=dsn)
    assert out.returncode == 1
    assert out.stderr.startswith("Error: groups[0].campaigns[0].conditions[0]")
    assert "operator LIKE does not apply to number field dpd" in out.stderr
    assert "Traceback" not in out.stderr
    out = sqlc("--debug", "config", "validate", str(bad), dsn=dsn)
    assert out.returncode == 1 and "Traceback" in out.stderr
    out = sqlc("config", "validate", str(tmp_path / "missing.yaml"), dsn=dsn)
    assert out.returncode == 1 and "cannot read the file" in out.stderr


def test_unreachable_database_is_a_clear_error():
    out = sqlc("runs", dsn="host=/nonexistent-dir port=1 user=x password=s3cret dbname=x")
    assert out.returncode == 1
    assert out.stderr.startswith("Error: cannot connect to the database")
    assert "s3cret" not in out.stderr


def test_db_sql_prints_ddl():
    out = sqlc("db", "sql")
    assert out.returncode == 0 and "CREATE TABLE campaign_engine.campaign_groups" in out.stdout


def test_config_compile_run_flow(db, dsn, tmp_path):
    Scenario().customer("C", segment="MASS", is_vip=True).loan(
        "C", "L", dpd=45, custom={"risk_score": 90}
    ).phone("C", 1, "mobile", "+1", primary=True).load(db)
    assert sqlc("config", "validate", str(EXAMPLE), dsn=dsn).returncode == 0
    plan = sqlc("config", "plan", str(EXAMPLE), dsn=dsn)
    assert "+ group 'Early delinquency': 3 campaigns" in plan.stdout
    applied = sqlc("config", "apply", str(EXAMPLE), dsn=dsn)
    assert applied.returncode == 0 and "applied" in applied.stdout
    assert "no changes" in sqlc("config", "plan", str(EXAMPLE), dsn=dsn).stdout
    exported = sqlc("config", "export", dsn=dsn)
    assert "Legal escalation" in exported.stdout
    (tmp_path / "exported.yaml").write_text(exported.stdout)
    assert "no changes" in sqlc("config", "plan", str(tmp_path / "exported.yaml"), dsn=dsn).stdout

    compiled = sqlc("compile", "--group", "Early delinquency", "--explain", dsn=dsn)
    assert compiled.returncode == 0
    assert "-- campaign group 'Early delinquency'" in compiled.stdout
    # what runs is what is reviewed: the run's exact SET LOCAL lines come first
    set_lines = [f"{s};" for s in set_local_statements(population=False)]
    assert compiled.stdout.splitlines()[1 : 1 + len(set_lines)] == set_lines
    applied_settings = ", ".join(s.removeprefix("SET LOCAL ") for s in set_local_statements(False))
    assert (
        f"-- EXPLAIN of group 'Early delinquency' (under SET LOCAL {applied_settings}):"
        in compiled.stdout
    )
    assert "-- EXPLAIN of the run prologue (under SET LOCAL work_mem" in compiled.stdout
    assert "CREATE TEMPORARY TABLE pg_temp.run_loans AS" in compiled.stdout
    # the legend names every mask bit and the CASE names campaigns beside their ids
    # the header gives each campaign its conditions, and each rule's loan conditions their bit
    assert "--          when loan.dpd >= 30 AND custom.risk_score > 80" in compiled.stdout
    assert "rule 2 when custom.collection_priority = 'high' -> " in compiled.stdout
    assert "/* High risk early */" in compiled.stdout
    assert "-- contact rule bits" in compiled.stdout
    analyzed = sqlc("compile", "--explain=analyze", "--out", str(tmp_path / "sql"), dsn=dsn)
    assert analyzed.returncode == 0 and "actual time" in analyzed.stdout
    files = sorted((tmp_path / "sql").glob("*.sql"))
    # a full run on 2 connections: each its customer slice, the prologue tables, the run statement
    assert [f.name for f in files] == [
        "00_customer_slice.sql",
        "00_phones.sql",
        "00_prologue.sql",
        "01_run_statement.sql",
    ]
    for path in files:  # each runs as it is in psql, in a transaction rolled back
        text = path.read_text()
        assert text.splitlines()[4:5] == ["BEGIN;"]
        assert text.splitlines()[5 : 5 + len(set_lines)] == set_lines
        assert text.rstrip().endswith("ROLLBACK;")
        ran = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", psql_dsn(dsn), "-f", str(path)],
                             capture_output=True, text=True)  # fmt: skip
        assert ran.returncode == 0, (path.name, ran.stderr)
    assert (
        db.execute("SELECT count(*) FROM campaign_results.assignments_staging").fetchone()[0] == 0
    )
    assert "no campaign group named 'Nope'" in sqlc("compile", "--group", "Nope", dsn=dsn).stderr
    bad = sqlc("run", "--dry-run", dsn=dsn, env={"SQLCOMPILER_WORK_MEM": "lots"})
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("Error: SQLCOMPILER_WORK_MEM='lots'")

    out = sqlc("run", dsn=dsn)
    assert out.returncode == 0, out.stderr
    assert "succeeded" in out.stdout and "  High risk early" in out.stdout  # by name
    # after a run (its staging tables carry its run_id checks) the files still run as they are
    ran = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", psql_dsn(dsn),
                          "-f", str(files[-1])], capture_output=True, text=True)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "run statement" in out.stderr  # progress per step
    out = sqlc("run", "--cifs", "-", stdin="C\n", dsn=dsn)
    assert out.returncode == 0 and "1 customers (list)" in out.stdout
    assert "succeeded" in sqlc("runs", dsn=dsn).stdout
    out = sqlc("run", "--engine", "reference", dsn=dsn)
    assert out.returncode == 0 and "reference engine" in out.stderr
    explained = sqlc("explain", "C", "--format", "json", dsn=dsn)
    assert explained.returncode == 0 and '"agrees": true' in explained.stdout

    # one output switch: --format json everywhere; --json stays a deprecated alias for now
    listed = json.loads(sqlc("runs", "--format", "json", dsn=dsn).stdout)
    assert [r["status"] for r in listed][:3] == ["succeeded"] * 3
    old = sqlc("runs", "--json", dsn=dsn)
    assert json.loads(old.stdout) == listed
    assert "--json is deprecated; use --format json" in old.stderr
    shown = json.loads(
        sqlc("runs", "show", str(listed[0]["run_id"]), "--format", "json", dsn=dsn).stdout
    )
    assert shown["run_id"] == listed[0]["run_id"] and shown["campaigns"]
    textfile = tmp_path / "sqlcompiler.prom"
    ran = sqlc("run", "--dry-run", "--format", "json", "--metrics-file", str(textfile), dsn=dsn)
    assert 'sqlcompiler_runs_total{status="succeeded"} 1.0' in textfile.read_text()
    result = json.loads(ran.stdout)
    assert result["dry_run"] is True and result["assigned"] == sum(
        g["assigned"] for g in result["groups"]
    )


def test_run_refuses_an_empty_configuration_cleanly(db, dsn):
    configure(
        db,
        {
            "groups": [
                {
                    "name": "G",
                    "campaigns": [
                        {"name": "A", "priority": 1, "conditions": [cond("l", "dpd", ">", 1)]}
                    ],
                }
            ]
        },
    )
    db.execute("ALTER TABLE bank_sync_service.loans RENAME COLUMN dpd TO days_past_due")
    out = sqlc("run", dsn=dsn)
    assert out.returncode == 1
    assert "column bank_sync_service.loans.dpd is missing" in out.stderr
    assert "failed" in sqlc("runs", dsn=dsn).stdout


def test_json_log_format(dsn):
    import json as _json

    out = sqlc("--log-format", "json", "config", "validate", "/nonexistent.yaml", dsn=dsn)
    assert out.returncode == 1
    record = _json.loads(out.stderr.strip().splitlines()[-1])
    assert record["level"] == "error" and record["msg"].startswith("Error: /nonexistent.yaml")
