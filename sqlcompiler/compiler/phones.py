"""The run's phone book and the contacts step's priority maps (SPEC §3, contacts).

Until the twelfth session the run statement made one candidate row per (assignment, rule
output, phone) and kept each phone's first by a DISTINCT ON over all of them: on the
contact-heavy bench configuration twice the rows it kept, sorted on disk at 1M customers.
Now a rule output set is resolved before any phone is read: per (campaign, rule mask) one
row of priorities, the first applying rule for each (kind of party, phone type); every phone
is then read once per assignment, from a table of every customer's reachable phones made
once per connection (pg_temp.run_phones, in customer order and indexed by it), so the
assignments and the phones meet in a merge join by customer and the numbering sorts only
within a customer. docs/performance.md has the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from .render import create_temporary, population_line, recreate, render, table

RUN_PHONES = exp.table_(exp.to_identifier("run_phones"), db=exp.to_identifier("pg_temp"))
INDEX = "CREATE INDEX ON pg_temp.run_phones (owner)"  # the merge join's order (no user value)

# The priority maps, by the id pg_temp.run_phones gives each phone (templates/phones.sql.j2):
# which rule outputs reach a phone of the customer, of a parent reference, of another one.
MAPS = (
    (0, ("customer",)),
    (1, ("reference_customer_parent", "reference_customer_all")),
    (2, ("reference_customer_all",)),
)
TYPES = ("mobile", "home", "work")  # a phone of another type (or none) is reached by 'all' only


def _column(map_id: int, phone_type: str | None) -> str:
    return f"p{map_id}_{phone_type or 'other'}"


def map_columns() -> list[str]:
    """The maps CTE's columns: per map and phone type, the least priority of an applying
    rule's output that reaches such a phone (o: the outputs, joined on the rule mask)."""
    cols = []
    for map_id, parties in MAPS:
        for phone_type in (*TYPES, None):
            contacts = ["all", phone_type] if phone_type else ["all"]
            reaches = exp.and_(
                exp.column("related_party_type", table="o").isin(*parties),
                exp.column("contact_type", table="o").isin(*contacts),
            )
            least = exp.Filter(
                this=exp.Min(this=exp.column("rule_priority", table="o")),
                expression=exp.Where(this=reaches),
            )
            cols.append(exp.alias_(least, _column(map_id, phone_type)).sql(dialect="postgres"))
    return cols


def map_names() -> list[str]:
    return [_column(m, t) for m, _ in MAPS for t in (*TYPES, None)]


def priority(map_column: str) -> str:
    """A phone's rule priority under the map ``map_column`` of pg_temp.run_phones (x) names,
    read from the assignment's maps (a): NULL when no applying rule reaches it."""
    maps = []
    for map_id, _ in MAPS:
        by_type = exp.Case(
            ifs=[
                exp.If(this=_is("contact_type", exp.Literal.string(t)),
                       true=exp.column(_column(map_id, t), table="a"))
                for t in TYPES
            ],
            default=exp.column(_column(map_id, None), table="a"),
        )  # fmt: skip
        maps.append(exp.If(this=_is(map_column, exp.Literal.number(map_id)), true=by_type))
    # searched CASEs (CASE WHEN x = …): Citus sends ``CASE x WHEN …`` to its workers wrongly
    # beside current_setting() (issue 30)
    return exp.Case(ifs=maps).sql(dialect="postgres")


def _is(column: str, value: exp.Expression) -> exp.Expression:
    return exp.EQ(this=exp.column(column, table="x"), expression=value)


@dataclass(frozen=True)
class CompiledPhones:
    tree: exp.Expression  # CREATE TEMPORARY TABLE pg_temp.run_phones AS SELECT ...
    population: bool

    title = "the run's phone book"

    @property
    def sql(self) -> str:
        return self.tree.sql(dialect="postgres")

    def statements(self) -> list[str]:
        """What a connection executes before the run statement: (re)create, index, ANALYZE."""
        return recreate(RUN_PHONES, self.sql, INDEX)

    def pretty(self) -> str:
        header = [
            "-- the run's phone book: every phone a customer may be contacted on (its own and its",
            "-- references'), in customer order, once per connection (a temporary table the run",
            "-- statement reads as x); indexed by owner, then ANALYZEd",
            population_line(self.population),
        ]
        body = self.tree.sql(dialect="postgres", pretty=True)
        return "\n".join(header) + "\n" + body + f";\n{INDEX};\n"


def compile_phones(*, population: bool, source_schema: str) -> CompiledPhones:
    select = render(
        "phones.sql.j2",
        "the run's phone book",
        population=population,
        customers=table(source_schema, "customers"),
        references=table(source_schema, "reference_customers"),
        phones=table(source_schema, "phones"),
    )
    return CompiledPhones(tree=create_temporary(RUN_PHONES, select), population=population)
