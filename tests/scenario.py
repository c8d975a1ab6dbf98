"""Small named scenarios: a few rows of bank-sync data plus a configuration."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg

from sqlcompiler import api, reference
from sqlcompiler.config import db as config_db
from sqlcompiler.config.model import ConfigFile
from sqlcompiler.run import run

LOAN_DEFAULTS = {
    "product_type": "CARD", "original_amount": 1000, "outstanding": 500, "due_amount": 50,
    "dpd": 0, "delinquency_status": "CURRENT", "status": "ACTIVE", "next_payment_date": "2026-12-01",
}  # fmt: skip


@dataclass
class Scenario:
    customers: list[dict[str, Any]] = field(default_factory=list)
    loans: list[dict[str, Any]] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)  # account_number -> fields (JSON)
    references: list[dict[str, Any]] = field(default_factory=list)
    phones: list[dict[str, Any]] = field(default_factory=list)

    def customer(self, cif: str, **cols: Any) -> Scenario:
        row = {
            "cif": cif,
            "segment": "MASS",
            "status": "ACTIVE",
            "name": f"Name {cif}",
            "date_of_birth": "1980-01-01",
        }
        row.update(cols)
        self.customers.append(row)
        return self

    def loan(self, cif: str, account: str, custom: Any = None, **cols: Any) -> Scenario:
        row = {"account_number": account, "cif": cif, **LOAN_DEFAULTS, **cols}
        self.loans.append(row)
        if custom is not None:
            self.custom[account] = custom
        return self

    def reference(self, primary: str, ref: str, relationship: str | None) -> Scenario:
        self.references.append(
            {"ref_cif": ref, "primary_cif": primary, "relationship_type": relationship, "name": ref}
        )
        return self

    def phone(
        self,
        cif: str,
        pid: int,
        type_: str,
        number: str,
        primary: bool = False,
        verified: bool = True,
    ) -> Scenario:
        self.phones.append(
            {
                "id": pid,
                "cif": cif,
                "type": type_,
                "number": number,
                "is_primary": primary,
                "is_verified": verified,
            }
        )
        return self

    def load(self, conn: psycopg.Connection) -> None:
        def insert(table: str, rows: list[dict[str, Any]]) -> None:
            for row in rows:
                cols = list(row)
                q = psycopg.sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    psycopg.sql.Identifier("bank_sync_service", table),
                    psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols)),
                    psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(cols)),
                )
                conn.execute(q, [row[c] for c in cols])

        insert("customers", self.customers)
        insert("loans", self.loans)
        insert(
            "loan_custom_fields",
            [{"account_number": a, "fields": json.dumps(f)} for a, f in self.custom.items()],
        )
        insert("reference_customers", self.references)
        insert("phones", self.phones)


def configure(conn: psycopg.Connection, doc: dict[str, Any]) -> config_db.ApplyResult:
    return api.apply_config(conn, ConfigFile.model_validate(doc), applied_by="tests")


def cond(source: str, field: str, op: str, value: Any = None) -> dict[str, Any]:
    src = {
        "c": "bank_sync_service.customers",
        "l": "bank_sync_service.loans",
        "f": "custom_fields",
    }[source]
    d = {"data_source": src, "field_name": field, "operator": op}
    if value is not None:
        d["field_value"] = value
    return d


def results(conn: psycopg.Connection) -> tuple[list[tuple], list[tuple]]:
    """(assignments, contacts) from the current views, names instead of ids: sorted rows,
    duplicates kept (a row written twice must not compare equal to one written once)."""
    a = conn.execute(
        """SELECT a.cif, g.name, c.name, a.account_numbers FROM campaign_results.current_assignments a
           JOIN campaign_engine.campaign_groups g ON g.id = a.campaign_group_id
           JOIN campaign_engine.campaigns c ON c.id = a.campaign_id"""
    ).fetchall()
    k = conn.execute(
        """SELECT k.cif, g.name, k.position, k.rule_priority, k.party_type, k.party_cif, k.relationship_type,
                  k.contact_type, k.phone_number, k.is_primary, k.is_verified
           FROM campaign_results.current_contacts k
           JOIN campaign_engine.campaign_groups g ON g.id = k.campaign_group_id
           ORDER BY k.cif, g.name, k.position"""
    ).fetchall()
    return sorted((r[0], r[1], r[2], tuple(r[3])) for r in a), k


def expected(
    conn: psycopg.Connection, cifs: list[str] | None = None
) -> tuple[list[tuple], list[tuple]]:
    """The reference evaluator's answer in the same shape as ``results``."""
    config = api.load_config(conn)
    data = reference.load_data(conn)
    groups = {g.id: g.name for g in config.groups}
    out = reference.evaluate(config, data, cifs)
    a = sorted(
        (x.cif, groups[x.campaign_group_id], x.campaign.name, tuple(x.account_numbers)) for x in out
    )
    k = sorted(
        (
            x.cif,
            groups[x.campaign_group_id],
            c["position"],
            c["rule_priority"],
            c["party_type"],
            c["party_cif"],
            c["relationship_type"],
            c["contact_type"],
            c["phone_number"],
            c["is_primary"],
            c["is_verified"],
        )  # fmt: skip
        for x in out
        for c in x.contacts
    )
    return a, k


def run_and_compare(conn: psycopg.Connection, dsn: str, cifs: list[str] | None = None):
    """Run the compiled SQL, check it equals the reference evaluator, return the results."""
    run(dsn, cifs=cifs)
    got = results(conn)
    want = expected(conn, cifs)
    if cifs is not None:
        got = ([a for a in got[0] if a[0] in cifs], [k for k in got[1] if k[0] in cifs])
    sql_only, ref_only = Counter(got[0]) - Counter(want[0]), Counter(want[0]) - Counter(got[0])
    assert got[0] == want[0], f"assignments differ:\nsql-only {sql_only}\nref-only {ref_only}"
    assert got[1] == want[1], "contacts differ"
    return got
