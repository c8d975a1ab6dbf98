"""The run prologue: every loan's condition values, read once per connection for all groups.

Every group tests its loan-level conditions on a handful of values: loan columns and custom
fields extracted from JSONB with their type check. Joining loans to loan_custom_fields and
extracting those values was more than a third of a group's statement when each group did it
(bench group 09 at 1M customers: ~9 of ~25 s), so the runner creates them once per connection
as a temporary table, which the run statement then reads. A temporary table because the
group connections import the work transaction's snapshot: a shared table committed after that
snapshot would look empty to them; a temporary table is created inside the snapshot, and
is not WAL-logged either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from ..config.model import Condition
from .conditions import value_expr
from .render import create_temporary, population_line, recreate, render, table

RUN_LOANS = exp.table_(exp.to_identifier("run_loans"), db=exp.to_identifier("pg_temp"))
RUN_POPULATION = exp.table_(exp.to_identifier("run_population"), db=exp.to_identifier("pg_temp"))
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")


class LoanValues:
    """The loan-level values of a run: one column of pg_temp.run_loans per distinct value.

    Columns are named after what they hold (``loan_dpd``, ``custom_risk_score``) so that a
    run statement reads the same whichever groups were compiled with it.
    """

    def __init__(self) -> None:
        self.columns: list[tuple[str, str]] = []  # (column, SQL of the value expression)
        self._by_sql: dict[str, str] = {}
        self.uses_custom = False

    def column(self, cond: Condition) -> exp.Expression:
        """The column of run_loans (alias v) that holds the value ``cond`` (a loan or custom
        field condition) tests."""
        assert cond.source != "customer", "customer values are read from the customer row"
        key = value_expr(cond).sql(dialect="postgres")
        if key not in self._by_sql:
            name = f"{cond.source}_{cond.field}".lower()
            if not _NAME.match(name) or name in {c for c, _ in self.columns}:
                name = f"v{len(self.columns)}"
            self._by_sql[key] = name
            self.columns.append((name, key))
            self.uses_custom |= cond.source == "custom"
        return exp.column(self._by_sql[key], table="v")


@dataclass(frozen=True)
class CompiledPrologue:
    tree: exp.Expression  # CREATE TEMPORARY TABLE pg_temp.run_loans AS SELECT ...
    population: bool

    title = "the run prologue"

    @property
    def sql(self) -> str:
        return self.tree.sql(dialect="postgres")

    def statements(self) -> list[str]:
        """What a connection executes before its first group: (re)create, then ANALYZE."""
        return recreate(RUN_LOANS, self.sql)

    def pretty(self) -> str:
        header = [
            "-- run prologue: the loan-level values the groups test, read once per connection",
            "-- (a temporary table in the run's snapshot; the run statement reads it as v)",
            population_line(self.population),
        ]
        return "\n".join(header) + "\n" + self.tree.sql(dialect="postgres", pretty=True) + ";\n"


def compile_prologue(
    values: LoanValues, *, population: bool, source_schema: str
) -> CompiledPrologue | None:
    if not values.columns:
        return None
    select = render(
        "prologue.sql.j2",
        "the run prologue",
        value_columns=values.columns,
        uses_custom=values.uses_custom,
        population=population,
        loans=table(source_schema, "loans"),
        custom_fields=table(source_schema, "loan_custom_fields"),
    )
    return CompiledPrologue(tree=create_temporary(RUN_LOANS, select), population=population)


@dataclass(frozen=True)
class CompiledSlice:
    """A full run on several connections: connection k of n works on the customers whose
    hash of cif is k modulo n, as ``pg_temp.run_population`` (so it runs the population
    variant of the prologue and of the run statement). Every connection shares the run's
    snapshot; the slices are disjoint and cover every customer, so the results are those of
    one connection doing it all. The same split by the hash of cif is what a distributed
    PostgreSQL (Citus, distribution column cif) does with its shards (docs/scaling.md)."""

    slices: int
    source_schema: str
    title = "the customer slice"

    def tree(self, index: int) -> exp.Expression:
        cif = exp.column("cif", table="c")
        bucket = exp.Mod(
            this=exp.Paren(
                this=exp.BitwiseAnd(
                    this=exp.func("hashtext", cif), expression=exp.Literal.number(2147483647)
                )
            ),
            expression=exp.Literal.number(self.slices),
        )
        select = (
            exp.select(cif.copy())
            .from_(
                exp.table_(
                    exp.to_identifier("customers"),
                    db=exp.to_identifier(self.source_schema),
                    alias="c",
                )
            )
            .where(exp.EQ(this=bucket, expression=exp.Literal.number(index)))
        )
        return create_temporary(RUN_POPULATION, select)

    @property
    def sql(self) -> str:
        """Connection 0's slice, as compile shows it."""
        return self.tree(0).sql(dialect="postgres")

    def statements(self, index: int = 0) -> list[str]:
        """What connection ``index`` executes first: (re)create its slice, then ANALYZE."""
        return recreate(RUN_POPULATION, self.tree(index).sql(dialect="postgres"))

    def pretty(self) -> str:
        header = [
            f"-- customer slices: a full run on {self.slices} connections sharing one snapshot;",
            f"-- connection k (k = 0 .. {self.slices - 1}) first creates its slice as",
            "-- pg_temp.run_population (here k = 0), then runs the prologue and every group",
            "-- statement below over it",
        ]
        return "\n".join(header) + "\n" + self.tree(0).sql(dialect="postgres", pretty=True) + ";\n"
