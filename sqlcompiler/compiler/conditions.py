"""Conditions as sqlglot expressions.

Each condition becomes ``<value> <op> <typed literal>``. The value of a custom field is
extracted from JSONB only when its JSON type matches the declared type (else NULL), so a
wrong-typed value is a missing value and can never raise a cast error. Every
predicate is NULL on a missing value; combined with AND and OR that NULL acts as false (a
NULL WHEN is not taken), and ``not`` negates a COALESCE-d child, so a missing value makes
every operator false except IS NULL, as SPEC §2 and §2b require.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal

from sqlglot import exp

from ..config.model import Condition, Node

CUSTOMER = "c"  # alias of bank_sync_service.customers
LOAN = "l"  # alias of bank_sync_service.loans
CUSTOM = "f"  # alias of bank_sync_service.loan_custom_fields

_JSON_TYPE = {"number": "number", "string": "string", "boolean": "boolean"}
_CAST = {"number": "NUMERIC", "boolean": "BOOLEAN"}


def collate_c(e: exp.Expression) -> exp.Expression:
    """Byte order for text, so results don't depend on the database's locale."""
    return exp.Collate(this=e, expression=exp.to_identifier("C", quoted=True))


ICU_ROOT = "und-x-icu"  # ICU's root locale: Unicode's default case mapping (SPEC §2, ILIKE)


def unicode_lower(e: exp.Expression) -> exp.Expression:
    """lower() with Unicode's default, locale-independent mapping: TRẦN -> trần on a database
    created with the C locale as on a UTF-8 one (plain ILIKE folds ASCII only under C)."""
    return exp.Lower(this=exp.Collate(this=e, expression=exp.to_identifier(ICU_ROOT, quoted=True)))


def literal(dtype: str, value: object) -> exp.Expression:
    if dtype == "number":
        assert isinstance(value, Decimal)
        return exp.cast(exp.Literal.number(str(value)), "NUMERIC")
    if dtype == "date":
        assert isinstance(value, dt.date)
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if dtype == "boolean":
        return exp.Boolean(this=bool(value))
    return exp.Literal.string(str(value))


def json_key(field: str) -> exp.Expression:
    return exp.JSONExtract(
        this=exp.column("fields", table=CUSTOM),
        expression=exp.Literal.string(field),
    )


def value_expr(cond: Condition) -> exp.Expression:
    """The SQL value a condition tests; NULL exactly when SPEC §2 calls it missing."""
    if cond.source == "customer":
        col = exp.column(exp.to_identifier(cond.field, quoted=True), table=CUSTOMER)
    elif cond.source == "loan":
        col = exp.column(exp.to_identifier(cond.field, quoted=True), table=LOAN)
    else:
        key = json_key(cond.field)
        if cond.dtype == "date":
            return exp.func("campaign_engine.json_date", key)
        typ = exp.func("jsonb_typeof", key).eq(exp.Literal.string(_JSON_TYPE[cond.dtype]))
        text = exp.JSONExtractScalar(
            this=exp.column("fields", table=CUSTOM), expression=exp.Literal.string(cond.field)
        )
        val: exp.Expression = text
        if cond.dtype in _CAST:
            val = exp.cast(exp.Paren(this=text), _CAST[cond.dtype])
        return exp.Case(ifs=[exp.If(this=typ, true=val)])
    if cond.dtype == "date" and cond.column_type and cond.column_type.startswith("timestamp"):
        return exp.cast(col, "DATE")
    return col


def _operands(cond: Condition) -> list[exp.Expression]:
    """The typed literals of a condition; a date relative to the run carries its written form
    as a comment (``CAST('2026-11-24' AS DATE) /* today - 7d */``) for the reviewer."""
    values = cond.values if cond.values else (cond.value,)
    relative = cond.relative or (None,) * len(values)
    out = []
    for v, rel in zip(values, relative, strict=True):
        lit = literal(cond.dtype, v)
        if rel:
            lit.comments = [rel]
        out.append(lit)
    return out


def predicate(cond: Condition, value: exp.Expression | None = None) -> exp.Expression:
    """The condition as a boolean; ``value`` replaces value_expr(cond) (an extracted column)."""
    v = value if value is not None else value_expr(cond)
    op = cond.op
    if op == "IS NULL":
        return exp.Is(this=v, expression=exp.Null())
    if op == "IS NOT NULL":
        return exp.Not(this=exp.Is(this=v, expression=exp.Null()))
    text = cond.dtype == "string"
    if text and op != "ILIKE":
        v = collate_c(v)
    if op in ("IN", "NOT IN"):
        e = exp.In(this=v, expressions=_operands(cond))
        return exp.Not(this=e) if op == "NOT IN" else e
    if op == "BETWEEN":
        lo, hi = _operands(cond)
        return exp.Between(this=v, low=lo, high=hi)
    (lit,) = _operands(cond)
    builders = {
        "=": exp.EQ,
        "!=": exp.NEQ,
        ">": exp.GT,
        ">=": exp.GTE,
        "<": exp.LT,
        "<=": exp.LTE,
        "LIKE": exp.Like,
        "ILIKE": exp.ILike,
    }
    if op == "NOT LIKE":
        return exp.Not(this=exp.Like(this=v, expression=lit))
    if op == "ILIKE":  # SPEC §2: LIKE after lowercasing both sides, whatever the locale
        return exp.Like(this=unicode_lower(v), expression=unicode_lower(lit))
    return builders[op](this=v, expression=lit)


# Rough relative cost of evaluating a leaf once: PostgreSQL evaluates AND and OR left to right
# and stops at the first false (true) operand, so the cheap tests go first. ILIKE lowercases
# the value with ICU on every row; LIKE scans the text; IN compares with each value.
_OP_COST = {"IS NULL": 1, "IS NOT NULL": 1, "LIKE": 6, "NOT LIKE": 6, "ILIKE": 10}


def cost(item: Condition | Node) -> int:
    """Estimated cost of testing ``item`` once (the order of operands, not the plan)."""
    if isinstance(item, Node):
        return 1 + sum(cost(c) for c in item.children)
    base = _OP_COST.get(item.op, 2 + len(item.values) // 4)
    return base + (1 if item.dtype == "string" and base > 1 else 0)


def by_cost(items: Iterable[Condition | Node]) -> list[Condition | Node]:
    """``items`` cheapest first, ties in their written order (AND and OR are commutative
    whatever the NULLs, so only the time changes; the legends keep the written order)."""
    return sorted(items, key=cost)


def tree_predicate(
    item: Condition | Node, leaf: Callable[[Condition], exp.Expression] = predicate
) -> exp.Expression:
    """A condition tree as a boolean (SPEC §2b). Leaves are two-valued: a NULL leaf (a missing
    value) counts as false, which AND/OR preserve (a NULL result is a false WHEN), so only
    ``not`` needs care: NOT COALESCE(child, FALSE), never SQL's NOT over a NULL."""
    if isinstance(item, Condition):
        return leaf(item)
    if item.kind == "not":
        child = tree_predicate(item.children[0], leaf)
        return exp.Not(this=exp.Coalesce(this=child, expressions=[exp.false()]))
    parts = [tree_predicate(c, leaf) for c in by_cost(item.children)]
    if item.kind == "all":
        return conjunction(parts)
    return exp.or_(*parts)  # wraps an AND or OR operand in parentheses


def conjunction(preds: Iterable[exp.Expression]) -> exp.Expression:
    preds = [exp.Paren(this=p) if isinstance(p, exp.Or) else p for p in preds]
    if not preds:
        return exp.true()
    return exp.and_(*preds) if len(preds) > 1 else preds[0]


def split(conds: Iterable[Condition]) -> tuple[list[Condition], list[Condition]]:
    """(customer-level, loan-level) conditions."""
    customer, loan = [], []
    for c in conds:
        (customer if c.source == "customer" else loan).append(c)
    return customer, loan
