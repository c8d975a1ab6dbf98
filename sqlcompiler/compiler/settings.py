"""The session settings a run's statements execute under (SET LOCAL: they end with the
transaction). ``compile`` prints these exact lines and ``compile --explain`` executes them, so
the plan a DBA reviews is the plan that runs."""

from __future__ import annotations

import os
import re

from sqlglot import exp

from ..errors import CompileError

# Per-run session settings. work_mem: the contact selection sorts every candidate phone of a
# group (2.1M rows of ~300 bytes per bench group at 1M customers); under 256MB that sort
# spilled to disk (external merge, 183 MB) and a bench group took 28.5-31.7 s, under 1GB
# 25.9-26.6 s. It is per sort node and per connection: SQLCOMPILER_WORK_MEM sizes it down on
# a server with less memory to spare. JIT compiles each of the long CASE expressions for
# seconds and buys little on these plans.
WORK_MEM_ENV = "SQLCOMPILER_WORK_MEM"
DEFAULT_WORK_MEM = "1GB"
RUN_SETTINGS = {"work_mem": DEFAULT_WORK_MEM, "jit": "off"}
_SIZE = re.compile(r"^([0-9]{1,10})\s*(kB|MB|GB)$")
_KB = {"kB": 1, "MB": 1024, "GB": 1024 * 1024}
# Full-population runs touch every row: hash and merge joins win, but the planner can't
# estimate CTE scans filtered by rule masks and party types (it guesses ~0.5%) and would
# pick index nested loops over millions of rows (measured: 35.7 s vs 27.4 s per bench group
# at 1M customers). List runs keep nested loops: there an index lookup is the right plan.
#
# Hash joins off too: the run prologue joins loans to loan_custom_fields 1:1 on account_number,
# and a merge join over the two primary-key indexes beats probing a 300 MB hash table with
# 1.8M rows (bench group 09 at 1M: 30.4 s vs 35.5 s; whole bench run 157.0 s vs 185.5 s, demo
# configuration 18.2 s vs 21.1 s). The fdw snapshot builds the same indexes for that reason.
# Hash aggregation off: the planner sizes ARRAY_AGG states pessimistically and pre-partitions
# the per-customer HashAggregate to disk; sorting the loans by cif instead also hands the merge
# join with customers its order (demo configuration 16.7-17.0 s vs 18.2-18.6 s; bench 155.5 s
# vs 157.0 s).
FULL_RUN_SETTINGS = {"enable_nestloop": "off", "enable_hashjoin": "off", "enable_hashagg": "off"}


def work_mem() -> str:
    """The run's work_mem: SQLCOMPILER_WORK_MEM, checked here so that a typo is a one-line
    error before the run starts rather than a failed SET inside it."""
    value = os.environ.get(WORK_MEM_ENV, "").strip() or DEFAULT_WORK_MEM
    match = _SIZE.match(value)
    if not match or not 64 <= int(match[1]) * _KB[match[2]] <= 2_147_483_647:
        raise CompileError(
            f"{WORK_MEM_ENV}={value!r} is not a work_mem size; use a PostgreSQL memory size "
            "between 64kB and 2047GB in kB, MB or GB, e.g. 256MB or 1GB"
        )
    return f"{match[1]}{match[2]}"


def settings_for(population: bool) -> dict[str, str]:
    """Session settings for a run's statements (SET LOCAL: they end with the transaction)."""
    base = {**RUN_SETTINGS, "work_mem": work_mem()}
    return base if population else {**base, **FULL_RUN_SETTINGS}


def set_local_statements(population: bool) -> list[str]:
    """``SET LOCAL name = 'value'`` for each setting: what the run executes and compile prints."""
    out = []
    for name, value in settings_for(population).items():
        item = exp.SetItem(
            this=exp.EQ(this=exp.column(name), expression=exp.Literal.string(value)), kind="LOCAL"
        )
        out.append(exp.Set(expressions=[item]).sql(dialect="postgres"))
    return out
