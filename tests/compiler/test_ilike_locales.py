"""ILIKE folds case with Unicode's default mapping (SPEC §2), in a C-locale database as in a
UTF-8 one: `%trần%` matches `TRẦN VĂN AN` and `Trần Sơn` in both, and the reference evaluator
agrees. (Plain ILIKE under the C locale folds ASCII letters only: 39 wrong assignments in the
issue's 3,000-customer scenario.)"""

from __future__ import annotations

import psycopg

from tests.conftest import utf8_database
from tests.scenario import Scenario, cond, configure, run_and_compare

NAMES = [
    "TRẦN VĂN AN",
    "Trần Sơn",
    "trần thị bình",
    "Tran Van Cuong",
    "NGUYỄN VĂN ÁNH",
    "Đặng Ý",
    None,
]


def _check(conn: psycopg.Connection, dsn: str) -> None:
    s = Scenario()
    for i, name in enumerate(NAMES):
        s.customer(f"C{i}", name=name).loan(f"C{i}", f"L{i}", dpd=10)
    s.load(conn)
    configure(conn, {"groups": [
        {"name": "Họ Trần", "campaigns": [{"name": "trần", "priority": 1,
                                           "conditions": [cond("c", "name", "ILIKE", "%trần%")]}]},
        {"name": "Nguyễn", "campaigns": [{"name": "nguyễn", "priority": 1,
                                          "conditions": [cond("c", "name", "ILIKE", "nguyễn%")]}]},
        {"name": "Đ", "campaigns": [{"name": "đ", "priority": 1,
                                     "conditions": [cond("c", "name", "ILIKE", "đặng _")]}]},
    ]})  # fmt: skip
    assignments, _contacts = run_and_compare(conn, dsn)  # SQL == reference evaluator
    by_group: dict[str, set[str]] = {}
    for cif, group, _campaign, _accounts in assignments:
        by_group.setdefault(group, set()).add(cif)
    assert by_group == {"Họ Trần": {"C0", "C1", "C2"}, "Nguyễn": {"C4"}, "Đ": {"C5"}}


def test_ilike_in_a_c_locale_database(db, dsn):
    assert (
        db.execute(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ).fetchone()[0]
        == "C"
    )
    _check(db, dsn)


def test_ilike_in_a_utf8_locale_database(pg_server):
    with utf8_database(pg_server, "utf8") as dsn, psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SHOW lc_collate").fetchone()[0] == "C.utf8"
        _check(conn, dsn)
