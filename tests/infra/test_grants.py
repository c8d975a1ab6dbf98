"""db grants: the owner migrates, the runner runs and relays, the reader reads the views only."""

from __future__ import annotations

import os
import time

import psycopg
import pytest
from psycopg import errors as pgerr

from sqlcompiler import api
from sqlcompiler.demo import generate as demo
from sqlcompiler.kafka import relay
from tests.cli.test_cli import psql_dsn, sqlc
from tests.scenario import Scenario, cond, configure

CONFIG = {
    "groups": [
        {"name": "Nhóm trễ hạn", "campaigns": [
            {"name": "Gọi nhắc", "priority": 1, "conditions": [cond("l", "dpd", ">", 30)],
             "contact_rules": [{"rule_priority": 1, "outputs": [
                 {"related_party_type": "customer", "contact_type": "all"}]}]}]},
    ]
}  # fmt: skip


@pytest.fixture
def roles(empty_dsn):
    suffix = f"{os.getpid()}_{time.time_ns() % 10**6}"
    names = api.Roles(f"camp_owner_{suffix}", f"camp_runner_{suffix}", f"camp_reader_{suffix}")
    with psycopg.connect(empty_dsn, autocommit=True) as su:
        for name in (names.owner, names.runner, names.reader):
            su.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN").format(psycopg.sql.Identifier(name)))
    yield names
    with psycopg.connect(empty_dsn, autocommit=True) as su:
        for name in (names.owner, names.runner, names.reader):
            su.execute(
                psycopg.sql.SQL("DROP OWNED BY {} CASCADE").format(psycopg.sql.Identifier(name))
            )
        for name in (names.reader, names.runner, names.owner):
            su.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(name)))


def _as(dsn: str, role: str) -> str:
    return psycopg.conninfo.make_conninfo(dsn, user=role)


def _denied(dsn: str, statement: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except pgerr.InsufficientPrivilege:
            return True
    return False


def test_owner_runner_reader_least_privilege(empty_dsn, roles, kafka):
    owner, runner, reader = (_as(empty_dsn, r) for r in (roles.owner, roles.runner, roles.reader))
    with psycopg.connect(empty_dsn, autocommit=True) as su:
        dbname = su.info.dbname
        su.execute(
            psycopg.sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                psycopg.sql.Identifier(dbname), psycopg.sql.Identifier(roles.owner)
            )
        )
        demo.init_schema(su)  # bank_sync_service: the bank-sync service's, made by the superuser
        s = Scenario()
        for i in range(5):
            s.customer(f"C{i}", name=f"Trần Văn {i}").loan(f"C{i}", f"L{i}", dpd=20 * i)
            s.phone(f"C{i}", i + 1, "mobile", f"+849000{i}", primary=True)
        s.load(su)

    assert sqlc("db", "upgrade", dsn=owner).returncode == 0
    args = (
        "db",
        "grants",
        "--owner",
        roles.owner,
        "--runner",
        roles.runner,
        "--reader",
        roles.reader,
    )
    review = sqlc(*args, "--sql", dsn=empty_dsn)
    assert review.returncode == 0, review.stderr
    assert (
        review.stdout.startswith("BEGIN;")
        and 'GRANT SELECT ON "campaign_results"."current_assignments"' in review.stdout
    )
    assert _denied(
        reader, "SELECT 1 FROM campaign_results.current_assignments"
    )  # --sql changed nothing
    done = sqlc(*args, dsn=empty_dsn)
    assert done.returncode == 0, done.stderr
    assert sqlc(*args, dsn=empty_dsn).returncode == 0  # idempotent

    with psycopg.connect(owner, autocommit=True) as conn:
        configure(conn, CONFIG)  # the owner applies the configuration
    first = sqlc("run", dsn=runner)
    assert first.returncode == 0, first.stderr
    settings = relay.KafkaSettings(bootstrap=kafka, topic=f"grants-{time.time_ns()}", partitions=1)
    assert relay.relay(runner, settings).messages == 3
    second = sqlc("run", "--keep", "1", dsn=runner)  # publishes and drops a partition as runner
    assert second.returncode == 0, second.stderr
    assert relay.relay(runner, settings).messages == 3

    with psycopg.connect(reader) as conn:
        names = conn.execute(
            "SELECT DISTINCT cif FROM campaign_results.current_contacts ORDER BY 1"
        ).fetchall()
        assert [n[0] for n in names] == ["C2", "C3", "C4"]
        named = conn.execute(
            "SELECT DISTINCT campaign_group_name, campaign_name "
            "FROM campaign_results.current_assignments"
        ).fetchall()
        assert named == [("Nhóm trễ hạn", "Gọi nhắc")]  # names, not only ids
    for table in (
        "campaign_results.runs",
        "campaign_results.assignments",
        "campaign_engine.campaigns",
        "bank_sync_service.customers",
    ):
        assert _denied(reader, f"SELECT 1 FROM {table}"), f"reader can read {table}"
    # the runner cannot change the configuration, its tables or the schema
    for statement in (
        "ALTER TABLE campaign_engine.campaigns ADD COLUMN x int",
        "INSERT INTO campaign_engine.campaign_groups (name) VALUES ('x')",
        "DELETE FROM campaign_engine.campaigns",
        "CREATE TABLE campaign_engine.x (i int)",
        "DELETE FROM bank_sync_service.customers",
    ):
        assert _denied(runner, statement), f"runner may: {statement}"
    # a role without the runner's grants is told which job's grants it lacks, in one line
    refused = sqlc("run", dsn=reader)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "permission denied" in refused.stderr and "sqlcompiler db grants" in refused.stderr
    # the owner still migrates the results it no longer owns (a member of the runner role)
    assert sqlc("db", "downgrade", "0005", dsn=owner).returncode == 0
    up = sqlc("db", "upgrade", dsn=owner)
    assert up.returncode == 0, up.stderr
    assert sqlc(*args, dsn=empty_dsn).returncode == 0
    assert sqlc("run", dsn=runner).returncode == 0


def test_grants_name_missing_roles_and_schemas(dsn):
    out = sqlc(
        "db",
        "grants",
        "--owner",
        "nobody_1",
        "--runner",
        "nobody_2",
        "--reader",
        "nobody_3",
        dsn=dsn,
    )
    assert out.returncode == 1
    assert "role(s) 'nobody_1', 'nobody_2', 'nobody_3' do not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_grants_can_be_reviewed_before_the_roles_exist(empty_dsn):
    """`db grants --sql` with roles that do not exist: it creates them (NOLOGIN) in the script,
    says why above each group, and the script runs as it is."""
    import subprocess

    assert sqlc("db", "upgrade", dsn=empty_dsn).returncode == 0
    with psycopg.connect(empty_dsn, autocommit=True) as su:
        demo.init_schema(su)
    suffix = f"{os.getpid()}_{time.time_ns() % 10**6}"
    names = [f"later_{k}_{suffix}" for k in ("owner", "runner", "reader")]
    args = ("db", "grants", "--owner", names[0], "--runner", names[1], "--reader", names[2])
    review = sqlc(*args, "--sql", dsn=empty_dsn)
    assert review.returncode == 0, review.stderr
    assert review.stdout.count("CREATE ROLE") == 3 and "-- reader: dialers" in review.stdout
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)",
                            (names,)).fetchone()[0] == 0  # fmt: skip
    ran = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", psql_dsn(empty_dsn)],
                         input=review.stdout, capture_output=True, text=True)  # fmt: skip
    try:
        assert ran.returncode == 0, ran.stderr
        with psycopg.connect(empty_dsn) as conn:
            made = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s) AND NOT "
                                "rolcanlogin", (names,)).fetchone()[0]  # fmt: skip
        assert made == 3
    finally:
        with psycopg.connect(empty_dsn, autocommit=True) as su:
            for name in names:
                ident = psycopg.sql.Identifier(name)
                su.execute(psycopg.sql.SQL("DROP OWNED BY {} CASCADE").format(ident))
            for name in reversed(names):
                su.execute(psycopg.sql.SQL("DROP ROLE {}").format(psycopg.sql.Identifier(name)))
