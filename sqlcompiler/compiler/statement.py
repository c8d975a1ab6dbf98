"""The run statement: every campaign group's decision for every customer in one pass, from the
template, as a sqlglot tree.

Each customer and each loan is read once per run, whatever the number of groups: one pass over
the customers and the run prologue's table of loan values evaluates each group's CASE in
priority order on every row, one sort by customer (a window) gives each row its customer's
least rank per group, one aggregate per customer decides every group, and one contacts step
serves every assignment. (Until the tenth session each group had a statement
of its own that read the customers, loans, references and phones again: docs/performance.md.)
The reviewer still reads each group as a unit: the header gives every group its campaigns,
conditions and rule bits, and ``compile --group NAME`` compiles the same statement for one
group.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..config.model import Group
from .group import RUN_ID, RowColumns, RowTests, group_part
from .phones import map_columns, map_names, priority
from .policy import CompiledPolicy
from .prologue import LoanValues
from .render import render, table
from .render import sql as _sql


@dataclass(frozen=True)
class CompiledStatement:
    groups: tuple[Group, ...]
    tree: exp.Expression
    header: str

    @property
    def sql(self) -> str:
        """The statement as executed (no header)."""
        return self.tree.sql(dialect="postgres")

    @property
    def title(self) -> str:
        if len(self.groups) == 1:
            return f"group {self.groups[0].name!r}"
        return f"the run statement ({len(self.groups)} groups)"

    def pretty(self) -> str:
        return self.header + self.tree.sql(dialect="postgres", pretty=True) + ";\n"


def compile_statement(
    groups: tuple[Group, ...] | list[Group],
    *,
    fingerprint: str = "",
    population: bool = False,
    source_schema: str = "bank_sync_service",
    values: LoanValues | None = None,
    policy: CompiledPolicy | None = None,
) -> CompiledStatement:
    """The statement deciding ``groups``; their loan-level values are added to ``values``
    (the run prologue's). With ``policy`` (and some rule with outputs) the contact policy's
    CTEs come between the selected contacts and their lists (compiler/policy.py)."""
    groups = tuple(groups)
    loans = RowTests(values if values is not None else LoanValues())
    row = RowColumns()
    parts = [group_part(g, loans, row) for g in groups]
    outputs = [o for p in parts for o in p.outputs]
    policy = policy if outputs else None
    tree = render(
        "run.sql.j2",
        "the run statement",
        groups=parts,
        row_columns=row.select(),
        loans=bool(loans.values.columns),  # a prologue table exists (compile_prologue)
        population=population,
        customers=table(source_schema, "customers"),
        run_id=_sql(RUN_ID),
        group_ids=", ".join(str(g.id) for g in groups),
        outputs=", ".join(outputs),
        map_columns=map_columns(),
        map_names=map_names(),
        own_priority=priority("map_id"),
        other_priority=priority("other_map_id"),
        policy=policy.ctes(_sql(RUN_ID)) if policy else "",
    )
    return CompiledStatement(groups, tree, _header(parts, fingerprint, population, policy))


def compile_group(group: Group, **kw) -> CompiledStatement:
    """The run statement for one group: what ``compile --group NAME`` shows (and runs)."""
    return compile_statement((group,), **kw)


def _header(parts, fingerprint: str, population: bool, policy: CompiledPolicy | None) -> str:
    lines = [
        f"-- the run statement: {len(parts)} campaign group(s) decided in one pass",
        f"-- configuration fingerprint {fingerprint or 'unknown'}",
        "-- population: "
        + (
            "the cifs in pg_temp.run_population (a list run's --cifs, or this connection's "
            "customer slice in a full run on several connections)"
            if population
            else "every customer"
        ),
        "-- run id: current_setting('sqlcompiler.run_id'); writes campaign_results.*_staging",
    ]
    for p in parts:
        lines += ["--"] + p.header
    if policy is not None:
        lines += ["--"] + policy.header
    # one comment line each, whatever a name or value holds (values may contain line breaks)
    clean = [ln.replace("\r", " ").replace("\n", " ").replace("*/", "* /") for ln in lines]
    return "\n".join(clean) + "\n"
