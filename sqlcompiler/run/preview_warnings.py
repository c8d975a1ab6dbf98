"""The preview's warnings about the data: conditions nothing satisfies and string values
that never occur (with the field's common values), one scan per table."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from sqlglot import exp

from ..compiler.conditions import CUSTOM, LOAN, predicate
from ..config.model import Condition, Configuration

COMMON = 5  # common values named when a string value never occurs


@dataclass(frozen=True)
class Warning:
    where: str
    message: str
    standing: bool = False  # the live configuration has it too: not the draft's doing


def _conditions(typed: Configuration) -> list[Condition]:
    seen: dict[str, Condition] = {}
    for g in typed.groups:
        for c in g.campaigns:
            for cond in c.conditions + tuple(x for r in c.rules for x in r.conditions):
                seen.setdefault(cond.location, cond)
    return list(seen.values())


def data_warnings(conn, typed: Configuration, schema: str, live: set[str]) -> list:
    """Conditions nothing satisfies and string values that never occur: one scan per table
    (standing when the live configuration has the same condition)."""
    conds = [c for c in _conditions(typed) if c.op not in ("IS NULL", "IS NOT NULL")]
    out: list = []
    for level, table in (("customer", "customers"), ("loan", "loans")):
        mine = [c for c in conds if (c.source == "customer") == (level == "customer")]
        if not mine:
            continue
        probes: list[tuple[str, Condition, Any]] = []  # (kind, condition, value)
        for c in mine:
            probes.append(("any", c, None))
            if c.dtype == "string" and c.op in ("=", "!=", "IN", "NOT IN"):
                for v in c.values or (c.value,):
                    probes.append(("value", c, v))
        exprs = []
        for kind, c, v in probes:
            cond = c if kind == "any" else dataclasses.replace(c, op="=", value=v, values=())
            exprs.append(exp.func("bool_or", predicate(cond)).sql(dialect="postgres"))
        sources = _from(table, schema)
        row = conn.execute(
            sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.SQL(e) for e in exprs), sources
            )
        ).fetchone()
        for (kind, c, v), hit in zip(probes, row, strict=True):
            if hit:
                continue
            if kind == "any":
                what = "customer" if level == "customer" else "loan"
                out.append(Warning(c.location, f"no {what} satisfies {c.describe()}",
                                   c.describe() in live))  # fmt: skip
            else:
                common = _common(conn, c, table, schema)
                out.append(Warning(
                    c.location,
                    f"the value {v!r} never occurs in {c.source}.{c.field}"
                    + (f"; common values: {common}" if common else "; the field has no values"),
                    c.describe() in live,
                ))  # fmt: skip
    return out


def _from(table: str, schema: str) -> sql.Composable:
    s = sql.Identifier(schema)
    if table == "customers":
        return sql.SQL("{}.customers AS c").format(s)
    return sql.SQL(
        "{}.loans AS {} LEFT JOIN {}.loan_custom_fields AS {} ON {}.account_number = {}.account_number"
    ).format(s, sql.Identifier(LOAN), s, sql.Identifier(CUSTOM), sql.Identifier(CUSTOM),
             sql.Identifier(LOAN))  # fmt: skip


def _common(conn, c: Condition, table: str, schema: str) -> str:
    from ..compiler.conditions import value_expr

    value = value_expr(c).sql(dialect="postgres")
    rows = conn.execute(
        sql.SQL(
            "SELECT v, count(*) FROM (SELECT {} AS v FROM {}) x WHERE v IS NOT NULL "
            "GROUP BY v ORDER BY count(*) DESC, v LIMIT {}"
        ).format(sql.SQL(value), _from(table, schema), sql.Literal(COMMON))  # fmt: skip
    ).fetchall()
    return ", ".join(f"{v!r} ({n:,})" for v, n in rows)
