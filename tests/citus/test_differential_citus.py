"""The differential check (tests/compiler/test_differential.py) on a Citus cluster: generated
configurations and data, the bank-sync tables distributed on cif, the product's results
against the reference evaluator's, row for row."""

from __future__ import annotations

import os

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlcompiler import api
from tests.compiler.test_differential import AS_OF, SETTINGS, check, configurations, datasets

EXAMPLES = max(5, int(os.environ.get("SQLCOMPILER_DIFF_EXAMPLES", "100")) // 5)


@pytest.fixture
def distributed(citus_dsn: str) -> str:
    api.source_citus(citus_dsn)  # the empty tables; every example loads its own rows
    return citus_dsn


@pytest.mark.property
@settings(max_examples=EXAMPLES, **SETTINGS)
@given(config=configurations(), data=datasets(), subset=st.booleans(), as_of=st.sampled_from(AS_OF))
def test_compiled_sql_on_citus_equals_reference(distributed, config, data, subset, as_of):
    cifs = [c["cif"] for c in data["customers"][::2]] + ["MISSING"] if subset else None
    with psycopg.connect(distributed, autocommit=True) as conn:
        check(conn, distributed, config, data, cifs, as_of)
