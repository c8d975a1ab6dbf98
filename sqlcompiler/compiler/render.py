"""Templates render SQL that sqlglot built; the output is parsed back with sqlglot at once."""

from __future__ import annotations

from typing import Any

import jinja2
import sqlglot
from sqlglot import exp

from ..errors import CompileError
from ..infra.resources import resource_path

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(resource_path("templates"))),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - renders SQL built by sqlglot, parsed back right away
    keep_trailing_newline=True,
)


def sql(e: exp.Expression) -> str:
    return e.sql(dialect="postgres")


def table(schema: str, name: str) -> str:
    return sql(exp.table_(exp.to_identifier(name), db=exp.to_identifier(schema)))


def render(template: str, what: str, **slots: Any) -> exp.Expression:
    """Render ``template`` and parse it; ``what`` names the statement in the error."""
    rendered = _env.get_template(template).render(**slots)
    try:
        return sqlglot.parse_one(rendered, read="postgres")
    except sqlglot.errors.ParseError as exc:  # a bug in the template, never user input
        raise CompileError(
            f"internal error: generated SQL for {what} does not parse: {exc}"
        ) from None


def create_temporary(name: exp.Table, select: exp.Expression) -> exp.Create:
    """CREATE TEMPORARY TABLE name AS select: the per-connection tables of a run."""
    return exp.Create(
        kind="TABLE",
        this=name.copy(),
        expression=select,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def recreate(name: exp.Table, create: str, *between: str) -> list[str]:
    """Drop ``name`` if a former run left it on this connection, create it, then ANALYZE it
    (``between``: what comes before the ANALYZE, such as an index)."""
    drop = exp.Drop(kind="TABLE", tables=[name.copy()], exists=True)
    analyze = exp.Analyze(tables=[name.copy()])
    return [sql(drop), create, *between, sql(analyze)]


def population_line(population: bool) -> str:
    return "-- population: " + (
        "the cifs in pg_temp.run_population" if population else "every customer"
    )
