"""What the workbench's guided editor reads: the fields a condition can test, their types and
operators, and a profile of what the data holds for one field."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from ..config.catalog import data_type_of
from ..config.model import ConfigFile
from ..config.operands import LIST_OPS, NO_VALUE_OPS, operators_for
from ..errors import ConfigError
from ..reference.evaluator import load_data, matching_loans
from ..source import catalog
from ..source.fields import FieldProfile, one_field

__all__ = [
    "Estimate",
    "estimate_campaign",
    "LIST_OPS",
    "NO_VALUE_OPS",
    "FieldProfile",
    "field_profile",
    "operators_for",
    "source_fields",
]


def source_fields(
    conn: psycopg.Connection, source: str, registry: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """(field, data type) a condition on ``source`` can test: a bank-sync table's columns of a
    known type, or for ``custom_fields`` the registry (``registry``: the draft's own, which the
    stored registry extends)."""
    if source == "custom_fields":
        fields = dict(registry or {})
        fields |= dict(
            conn.execute(
                "SELECT field_name, data_type FROM campaign_engine.custom_fields"
            ).fetchall()
        )
        return sorted(fields.items())
    table = source.split(".")[1]
    return [(c, t) for c, pg in catalog(conn).columns(table).items() if (t := data_type_of(pg))]


def field_profile(
    conn: psycopg.Connection, source: str, column: str, dtype: str
) -> FieldProfile | None:
    """Common values (strings) or min / median / max (numbers, dates), sampled on big tables."""
    return one_field(conn, source, column, dtype)


@dataclass(frozen=True)
class Estimate:
    """About how many customers a campaign catches, scaled up from a sample."""

    matching: int  # whose data meets the campaign's conditions
    assigned: int  # of those, not caught first by an earlier campaign of its group
    sample: int  # customers read
    population: int  # customers in the table (the planner's count when it has one)


def estimate_campaign(
    conn: psycopg.Connection, draft: ConfigFile, group: str, campaign: str, sample: int = 1000
) -> Estimate | None:
    """A campaign's reach from a block sample of customers, each evaluated by the reference
    evaluator (SPEC §3, literally): fast on millions of customers, exact on a small table.
    None when the draft does not validate or has no such campaign."""
    from .configuration import validate_config

    try:
        typed = validate_config(conn, draft)
    except ConfigError:
        return None
    g = next((x for x in typed.groups if x.name == group), None)
    target = next((c for c in g.campaigns if c.name == campaign), None) if g else None
    if target is None:
        return None
    population = (
        conn.execute(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class "
            "WHERE oid = 'bank_sync_service.customers'::regclass"
        ).fetchone()[0]
        or conn.execute("SELECT count(*) FROM bank_sync_service.customers").fetchone()[0]
    )
    cifs = _sample(conn, population, sample)
    if not cifs:
        return Estimate(0, 0, 0, population)
    data = load_data(conn, cifs)
    matching = assigned = 0
    for cif in cifs:
        customer, loans = data.customers[cif], data.loans.get(cif, [])
        first = next((c for c in g.campaigns if matching_loans(c.where, customer, loans)[0]), None)
        matching += first is target or matching_loans(target.where, customer, loans)[0]
        assigned += first is target
    scale = population / len(cifs)
    return Estimate(round(matching * scale), round(assigned * scale), len(cifs), population)


def _sample(conn: psycopg.Connection, population: int, size: int) -> list[str]:
    table = sql.SQL("bank_sync_service.customers")
    if population <= 2 * size:
        return [r[0] for r in conn.execute(sql.SQL("SELECT cif FROM {}").format(table))]
    percent = min(100.0, 100.0 * size / population)
    for method in ("SYSTEM", "BERNOULLI"):  # whole blocks first: a few pages, not the table
        rows = conn.execute(
            sql.SQL("SELECT cif FROM {} TABLESAMPLE {} ({}) LIMIT {}").format(
                table, sql.SQL(method), sql.Literal(percent), sql.Literal(2 * size)
            )
        ).fetchall()
        if len(rows) >= size // 4:
            break
    return [r[0] for r in rows]
