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
# pick index nested loops over millions of rows (measured per group statement: 35.7 s vs
# 27.4 s per bench group at 1M customers). List runs keep nested loops: there an index
# lookup is the right plan.
#
# Hash joins and hash aggregation stay on (tenth session). They were off while each group had
# a statement of its own; the run statement deciding every group at once joins its
# assignments to a few hundred rule outputs, to the references and to the phones, where a
# hash of the small side beats sorting millions of rows for a merge: at 100k customers (bench
# configuration, one connection) the run statement took 25.4 s with both off, 23.2 s with
# hash aggregation alone, 18.0 s with hash joins alone and 17.3 s with both on
# (docs/performance.md).
FULL_RUN_SETTINGS = {"enable_nestloop": "off"}


# One line each, printed above the SET LOCAL lines a reviewer reads (compile, compile --out).
WHY = {
    "work_mem": "per sort or hash node and per connection (not per run): the contact sort and "
    "the per-customer window fit in memory instead of spilling; SQLCOMPILER_WORK_MEM sizes it",
    "jit": "JIT compiles each long CASE for seconds and buys little on these plans",
    "enable_nestloop": "a full run touches every row: the planner underestimates the rule-mask "
    "filters and would pick nested loops over millions of rows (hash and merge joins stay on)",
}


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
