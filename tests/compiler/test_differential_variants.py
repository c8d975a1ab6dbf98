"""The differential check of test_differential.py in other surroundings: a database created
with a UTF-8 locale (the default test cluster is C), a server in local time, and one group
with more than 62 loan condition sets (two mask words)."""

from __future__ import annotations

import os

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from tests.compiler.test_differential import (
    AS_OF,
    CUSTOM,
    EXAMPLES,
    SETTINGS,
    check,
    condition_sets,
    configurations,
    datasets,
    outputs,
)
from tests.conftest import utf8_database


@pytest.fixture(scope="module")
def utf8_dsn(pg_server):
    with utf8_database(pg_server, "diff_utf8") as dsn:
        yield dsn


@pytest.mark.property
@settings(max_examples=max(EXAMPLES // 6, 10), **SETTINGS)
@given(config=configurations(), data=datasets(), as_of=st.sampled_from(AS_OF))
def test_compiled_sql_equals_reference_in_a_utf8_database(utf8_dsn, config, data, as_of):
    with psycopg.connect(utf8_dsn, autocommit=True) as conn:
        assert conn.execute("SHOW lc_collate").fetchone()[0] == "C.utf8"
        check(conn, utf8_dsn, config, data, None, as_of)


@pytest.mark.property
@settings(max_examples=max(EXAMPLES // 6, 10), **SETTINGS)
@given(config=configurations(), data=datasets(), as_of=st.sampled_from(AS_OF))
def test_compiled_sql_equals_reference_in_a_non_utc_time_zone(db, dsn, config, data, as_of):
    """A server set to local time (Asia/Ho_Chi_Minh, UTC+7), as banks run them, where a loan
    updated at 23:59:59 UTC was updated the next day. Few examples decide on such a stamp: the
    hand-written contract test pins the rule, this one the rest of the run in that zone."""
    zone = "Asia/Ho_Chi_Minh"
    db.execute(
        sql.SQL("ALTER DATABASE {} SET TimeZone = {}").format(
            sql.Identifier(db.info.dbname), sql.Literal(zone)
        )
    )
    db.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(zone)))
    check(db, dsn, config, data, None, as_of)
    with psycopg.connect(dsn) as other:  # what the run's own connections get
        assert other.execute("SHOW TimeZone").fetchone()[0] == zone


@st.composite
def wide_configurations(draw):
    """One group whose campaigns and rules need more than 62 loan condition sets (two mask
    words), each set a tree made unique by a `dpd != n` leaf."""
    campaigns = []
    for ci in range(draw(st.integers(40, 48))):

        def loan_set(n):
            some = draw(condition_sets(2))
            unique = {"data_source": "bank_sync_service.loans", "field_name": "dpd",
                      "operator": "!=", "field_value": 1000 + n}  # fmt: skip
            return {"all": [*some, unique] if isinstance(some, list) else [some, unique]}

        rules = [
            {"rule_priority": p, "conditions": loan_set(100 * ci + p),
             "outputs": [draw(outputs)]}
            for p in draw(st.permutations(range(2)))
        ]  # fmt: skip
        campaigns.append({"name": f"wide {ci}", "priority": ci, "conditions": loan_set(ci),
                          "contact_rules": rules})  # fmt: skip
    return {"custom_fields": CUSTOM, "groups": [{"name": "wide", "campaigns": campaigns}]}


@pytest.mark.property
@settings(
    max_examples=max(EXAMPLES // 30, 5),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[*SETTINGS["suppress_health_check"], HealthCheck.large_base_example],
)
@given(config=wide_configurations(), data=datasets(), as_of=st.sampled_from(AS_OF))
def test_more_than_62_loan_condition_sets(db, dsn, config, data, as_of):
    check(db, dsn, config, data, None, as_of)
