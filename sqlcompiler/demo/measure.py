"""What every bench measurement shares: its record and the warm-up before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql


@dataclass
class Measurement:
    name: str
    seconds: float
    customers: int
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.customers / self.seconds if self.seconds > 0 else 0.0


INPUTS = ("customers", "loans", "loan_custom_fields", "reference_customers", "phones")


def warm_up(conn: psycopg.Connection) -> None:
    """Read every input once so each measurement starts from the same (cached) state."""
    for t in INPUTS:
        conn.execute(
            sql.SQL("SELECT count(*) FROM {} t WHERE t IS NOT NULL").format(
                sql.Identifier("bank_sync_service", t)
            )
        )
