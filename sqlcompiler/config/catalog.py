"""Column names and types of the bank-sync tables, read from the database catalog.

Field names in conditions are checked against this before any SQL is built, so a name only
reaches SQL after it was found in ``pg_attribute``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError

BANK_SYNC_SCHEMA = "bank_sync_service"
REQUIRED = {
    "customers": ("cif", "segment", "status", "name", "date_of_birth"),
    "loans": (
        "account_number", "cif", "product_type", "original_amount", "outstanding",
        "due_amount", "dpd", "delinquency_status", "status", "next_payment_date",
    ),
    "loan_custom_fields": ("account_number", "fields"),
    "reference_customers": ("ref_cif", "primary_cif", "relationship_type", "name"),
    "phones": ("id", "cif", "type", "number", "is_primary", "is_verified"),
}  # fmt: skip

_TYPE_MAP = {
    "character varying": "string",
    "character": "string",
    "text": "string",
    "citext": "string",
    "smallint": "number",
    "integer": "number",
    "bigint": "number",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "date": "date",
    "timestamp without time zone": "date",
    "timestamp with time zone": "date",
    "boolean": "boolean",
}


def data_type_of(pg_type: str) -> str | None:
    """The condition type of a PostgreSQL column type, or None when conditions can't use it."""
    base = pg_type.split("(")[0].strip()
    return _TYPE_MAP.get(base)


@dataclass
class Catalog:
    """``tables[table][column] = PostgreSQL type`` for the bank-sync tables."""

    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    schema: str = BANK_SYNC_SCHEMA
    where: str = ""  # e.g. "on the bank-sync database (…)": where a missing column is missing

    def check_required(self) -> None:
        """Every table and column SPEC §1 requires exists; else name what is missing."""
        problems = []
        # remotely, a table the fdw user may not read is absent from information_schema too
        where = f" {self.where}" if self.where else ""
        missing = f"is missing or unreadable{where}" if self.where else "is missing"
        for table, columns in REQUIRED.items():
            have = self.tables.get(table)
            if have is None:
                problems.append(("", f"table {self.schema}.{table} {missing}"))
                continue
            for col in columns:
                if col not in have:
                    problems.append(("", f"column {self.schema}.{table}.{col} is missing{where}"))
        if problems:
            fix = (
                "the campaign configuration needs them: restore them on the bank-sync side"
                if self.where
                else "the bank-sync tables must exist before compiling (for a demo: "
                "`sqlcompiler demo init`; for another database: `sqlcompiler source --help`)"
            )
            problems.append(("", fix))
            raise ConfigError(problems)

    def columns(self, table: str) -> dict[str, str]:
        return self.tables.get(table, {})
