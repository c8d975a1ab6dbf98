"""Operators, value types and the parsing of condition values (SPEC §2): which operator
applies to which type, and a written value as the typed operand it compares with."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation

from . import dates
from .model import DATA_TYPES, Typed, text_problem

ALL_TYPES = frozenset(DATA_TYPES)
ORDERED = frozenset({"number", "date", "string"})
OPERATORS: dict[str, frozenset[str]] = {
    "=": ALL_TYPES,
    "!=": ALL_TYPES,
    ">": ORDERED,
    ">=": ORDERED,
    "<": ORDERED,
    "<=": ORDERED,
    "LIKE": frozenset({"string"}),
    "NOT LIKE": frozenset({"string"}),
    "ILIKE": frozenset({"string"}),
    "IN": ALL_TYPES,
    "NOT IN": ALL_TYPES,
    "BETWEEN": ORDERED,
    "IS NULL": ALL_TYPES,
    "IS NOT NULL": ALL_TYPES,
}
LIST_OPS = frozenset({"IN", "NOT IN", "BETWEEN"})
NO_VALUE_OPS = frozenset({"IS NULL", "IS NOT NULL"})
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def normalize_operator(op: str) -> str:
    op = " ".join(op.split()).upper()
    return "!=" if op == "<>" else op


def operators_for(dtype: str) -> list[str]:
    return [op for op, types in OPERATORS.items() if dtype in types]


def value_text(value: object) -> str | None:
    """The text stored in ``field_value`` for a value written in a file."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# Numbers a condition may compare with: every numeric column (numeric, integer, double
# precision) and a custom field's JSON number cast to numeric can carry them.
MAX_DIGITS = 100
MAX_EXPONENT = 300


def parse_scalar(dtype: str, raw: object) -> Typed:
    """Parse one operand into ``dtype``; ValueError says what was expected."""
    if dtype == "number":
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ValueError(f"{raw!r} is not a number")
        try:
            num = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValueError(f"{raw!r} is not a number") from None
        if not num.is_finite():
            raise ValueError(f"{raw!r} is not a finite number")
        if len(num.as_tuple().digits) > MAX_DIGITS:
            raise ValueError(f"{str(raw)[:20]!r}… has more than {MAX_DIGITS} significant digits")
        if num and not -MAX_EXPONENT <= num.adjusted() <= MAX_EXPONENT:
            raise ValueError(
                f"{str(raw)[:20]!r} is out of range: a number's magnitude must lie between "
                f"1e-{MAX_EXPONENT} and 1e{MAX_EXPONENT} (what every numeric column can compare with)"
            )
        return num
    if dtype == "date":
        if not isinstance(raw, str) or not DATE_RE.match(raw.strip()):
            raise ValueError(
                f"{raw!r} is not a date; write it as YYYY-MM-DD or relative to the run: {dates.FORMS}"
            )
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a real day") from None
    if dtype == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise ValueError(f"{raw!r} is not a boolean; use true or false")
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a string; quote it")
    problem = text_problem(raw)
    if problem:
        raise ValueError(problem)
    return raw


def check_like(pattern: str) -> None:
    escaped = False
    for ch in pattern:
        escaped = not escaped and ch == "\\"
    if escaped:
        raise ValueError(
            "a LIKE pattern must not end with a lone backslash (it escapes the next character)"
        )
