"""The contract pinned by hand: expectations written out here, not computed by the reference
evaluator, so a rule broken in both at once still fails. The views' columns, types and order;
primary phone first even when its number sorts last, a NULL flag not primary, a missing number
last, the phone id on a tie; BETWEEN inclusive at both bounds for numbers, dates, strings and
custom fields; IN with a quoted number; IS NOT NULL on every kind of missing value; every
string and date operator; a timestamp read as its date in the session's time zone."""

from __future__ import annotations

from psycopg import sql

from sqlcompiler.run import run
from tests.scenario import Scenario, cond, configure, expected, results

VIEWS = {
    "current_assignments": [
        ("run_id", "bigint"), ("cif", "character varying"), ("campaign_group_id", "bigint"),
        ("campaign_id", "bigint"), ("account_numbers", "ARRAY"),
        ("campaign_group_name", "text"), ("campaign_name", "text"),
    ],
    "current_contacts": [
        ("run_id", "bigint"), ("cif", "character varying"), ("campaign_group_id", "bigint"),
        ("campaign_id", "bigint"), ("position", "integer"), ("rule_priority", "integer"),
        ("party_type", "text"), ("party_cif", "character varying"),
        ("relationship_type", "text"), ("contact_type", "text"),
        ("phone_number", "text"), ("is_primary", "boolean"), ("is_verified", "boolean"),
        ("campaign_group_name", "text"), ("campaign_name", "text"),
    ],
}  # fmt: skip


def test_the_views_columns_names_order_and_types(db):
    for view, columns in VIEWS.items():
        got = db.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'campaign_results' AND table_name = %s ORDER BY ordinal_position",
            (view,),
        ).fetchall()
        # the listed columns first, in this order (more may follow later: never fewer, never moved)
        assert [name for name, _ in got[: len(columns)]] == [name for name, _ in columns], view
        for (name, dtype), (want_name, want_type) in zip(got, columns, strict=False):
            assert name == want_name and (dtype == want_type or dtype.startswith(want_type)), (
                view, name, dtype
            )  # fmt: skip
    element = db.execute(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = 'campaign_results.current_assignments'::regclass "
        "AND a.attname = 'account_numbers'"
    ).fetchone()[0]
    assert element in ("text[]", "character varying[]")


def test_primary_phone_first_even_when_its_number_sorts_last(db, dsn):
    s = Scenario().customer("C")
    s.phone("C", 1, "mobile", "+100", primary=False, verified=True)
    s.phone("C", 2, "home", "+999", primary=True, verified=False)
    s.phone("C", 3, "work", "+500", primary=False, verified=True)
    s.load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "A", "priority": 1,
        "contact_rules": [{"rule_priority": 1, "outputs": [
            {"related_party_type": "customer", "contact_type": "all"}]}]}]}]})  # fmt: skip
    run(dsn)
    _, contacts = results(db)
    # (cif, group, position, rule, party, party cif, relationship, type, number, primary, verified)
    assert contacts == [
        ("C", "G", 1, 1, "customer", "C", None, "home", "+999", True, False),
        ("C", "G", 2, 1, "customer", "C", None, "mobile", "+100", False, True),
        ("C", "G", 3, 1, "customer", "C", None, "work", "+500", False, True),
    ]


def test_between_holds_at_both_bounds(db, dsn):
    s = Scenario()
    for cif, dpd in (("C29", 29), ("C30", 30), ("C45", 45), ("C60", 60), ("C61", 61)):
        s.customer(cif).loan(cif, f"L{dpd}", dpd=dpd)
    s.load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "30-60", "priority": 1,
        "conditions": [cond("l", "dpd", "BETWEEN", [30, 60])]}]}]})  # fmt: skip
    run(dsn)
    assignments, _ = results(db)
    assert assignments == [
        ("C30", "G", "30-60", ("L30",)),
        ("C45", "G", "30-60", ("L45",)),
        ("C60", "G", "30-60", ("L60",)),
    ]


def test_a_phone_reached_twice_goes_to_its_first_rule_once(db, dsn):
    """Overlapping outputs: rule 1 asks the customer's mobiles and the parent references' phones,
    rule 2 every phone of the customer and of every reference. Each phone once, at the first
    rule that reaches it; a reference who is the customer itself (ref_cif = primary_cif) reaches
    the customer's own phones a second time: rule first, then customer before reference."""
    s = Scenario().customer("C").customer("S")
    s.reference("C", "R", "Parent").reference("C", "Q", "spouse").reference("S", "S", "PARENT")
    s.phone("C", 1, "mobile", "+101", primary=False, verified=True)
    s.phone("C", 2, "home", "+102", primary=True, verified=True)
    s.phone("R", 3, "work", "+103", primary=False, verified=False)
    s.phone("Q", 4, "mobile", "+104", primary=False, verified=False)
    s.phone("S", 5, "mobile", "+105", primary=False, verified=True)
    s.phone("S", 6, "home", "+106", primary=True, verified=True)
    s.load(db)
    configure(db, {"groups": [{"name": "G", "campaigns": [{"name": "A", "priority": 1,
        "contact_rules": [
            {"rule_priority": 1, "outputs": [
                {"related_party_type": "customer", "contact_type": "mobile"},
                {"related_party_type": "reference_customer_parent", "contact_type": "all"}]},
            {"rule_priority": 2, "outputs": [
                {"related_party_type": "customer", "contact_type": "all"},
                {"related_party_type": "reference_customer_all", "contact_type": "all"}]},
        ]}]}]})  # fmt: skip
    run(dsn)
    _, contacts = results(db)
    # (cif, group, position, rule, party, party cif, relationship, type, number, primary, verified)
    assert contacts == [
        ("C", "G", 1, 1, "customer", "C", None, "mobile", "+101", False, True),
        ("C", "G", 2, 1, "reference", "R", "Parent", "work", "+103", False, False),
        ("C", "G", 3, 2, "customer", "C", None, "home", "+102", True, True),
        ("C", "G", 4, 2, "reference", "Q", "spouse", "mobile", "+104", False, False),
        # S: the customer's mobile at rule 1 as the customer; its home phone is reached at rule 1
        # only through the self-reference (a parent), so it goes there as the reference
        ("S", "G", 1, 1, "customer", "S", None, "mobile", "+105", False, True),
        ("S", "G", 2, 1, "reference", "S", "PARENT", "home", "+106", True, True),
    ]
    assert expected(db)[1] == contacts  # the reference evaluator reads the SPEC the same way


def _load(db, conditions: list[dict], loans: list[tuple], custom: dict | None = None) -> None:
    """Customers with their loans (and custom fields), one campaign with ``conditions``."""
    s = Scenario()
    for cif, acc, cols in loans:
        if cif not in {c["cif"] for c in s.customers}:
            s.customer(cif)
        if acc is not None:
            s.loan(cif, acc, custom=(custom or {}).get(acc), **cols)
    s.load(db)
    configure(db, {"custom_fields": [{"field_name": "risk", "data_type": "number"}],
                   "groups": [{"name": "G", "campaigns": [{"name": "A", "priority": 1,
                                                           "conditions": conditions}]}]})  # fmt: skip


def test_between_on_each_bound_for_dates_strings_and_custom_numbers(db, dsn):
    loans = [(f"D{d}", f"L{d}", {"next_payment_date": f"2026-01-{d}", "product_type": p})
             for d, p in (("09", "A"), ("10", "B"), ("15", "C"), ("20", "D"), ("21", "E"))]  # fmt: skip
    custom = {f"L{d}": {"risk": r} for d, r in (("09", 9.99), ("10", 10), ("15", 15), ("20", 20.0), ("21", 20.01))}  # fmt: skip
    for conditions, want in [
        ([cond("l", "next_payment_date", "BETWEEN", ["2026-01-10", "2026-01-20"])], ["D10", "D15", "D20"]),
        ([cond("l", "product_type", "BETWEEN", ["B", "D"])], ["D10", "D15", "D20"]),
        ([cond("f", "risk", "BETWEEN", [10, 20])], ["D10", "D15", "D20"]),
    ]:  # fmt: skip
        db.execute("TRUNCATE bank_sync_service.customers, bank_sync_service.loans, "
                   "bank_sync_service.loan_custom_fields CASCADE")  # fmt: skip
        _load(db, conditions, loans, custom)
        run(dsn, force=True)
        assert [a[0] for a in results(db)[0]] == want, conditions
        assert [a[0] for a in expected(db)[0]] == want


def test_in_with_a_quoted_number_and_is_not_null_on_each_kind_of_missing_value(db, dsn):
    """``IN ["30"]`` on a number field is the number 30; IS NOT NULL is false for every kind of
    missing value: no loans, no custom-field row, no key, JSON null, a JSON string."""
    loans = [("C30", "L30", {"dpd": 30}), ("C31", "L31", {"dpd": 31}), ("NOLOAN", None, {}),
             ("NOROW", "LX", {"dpd": 5}), ("NOKEY", "LK", {"dpd": 5}), ("JNULL", "LN", {"dpd": 5}),
             ("JTEXT", "LT", {"dpd": 5})]  # fmt: skip
    custom = {"L30": {"risk": 1}, "L31": {"risk": 0}, "LK": {"other": 1}, "LN": {"risk": None},
              "LT": {"risk": "7"}}  # fmt: skip
    _load(db, [cond("l", "dpd", "IN", ["30"])], loans, custom)
    run(dsn, force=True)
    assert [a[0] for a in results(db)[0]] == ["C30"]
    configure(db, {"custom_fields": [{"field_name": "risk", "data_type": "number"}],
                   "groups": [{"name": "G", "campaigns": [{"name": "A", "priority": 1,
                                "conditions": [cond("f", "risk", "IS NOT NULL")]}]}]})  # fmt: skip
    run(dsn, force=True)
    assert [a[0] for a in results(db)[0]] == ["C30", "C31"]
    assert [a[0] for a in expected(db)[0]] == ["C30", "C31"]


def test_contact_order_with_missing_flags_and_numbers_as_whole_view_rows(db, dsn):
    """SPEC §3 order within a rule: customer before references, primary first (a NULL
    is_primary is not primary), number in byte order with a missing number last, then phone
    id (the same number twice). Whole rows of current_contacts, every column."""
    for column in ("number", "is_primary", "is_verified"):  # a bank's own table may allow them
        db.execute(
            sql.SQL("ALTER TABLE bank_sync_service.phones ALTER COLUMN {} DROP NOT NULL").format(
                sql.Identifier(column)
            )
        )
    s = Scenario().customer("C", name="Trần Thị Bích").customer("R", name="Lê Văn Cường")
    s.reference("C", "R", "parent")
    s.phone("C", 7, "mobile", "+900", primary=True, verified=True)
    s.phone("C", 5, "work", "+100", primary=False, verified=False)
    s.phone("C", 3, "home", "+100", primary=False, verified=True)
    s.phone("C", 4, "mobile", None, primary=False, verified=True)
    s.phone("C", 2, "home", "+0999", primary=None, verified=None)
    s.phone("R", 1, "mobile", "+050", primary=False, verified=True)
    s.load(db)
    configure(db, {"groups": [{"name": "Nhóm", "campaigns": [{"name": "Gọi", "priority": 1,
        "contact_rules": [
            {"rule_priority": 2, "outputs": [{"related_party_type": "reference_customer_parent", "contact_type": "mobile"}]},
            {"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]},
        ]}]}]})  # fmt: skip
    res = run(dsn)
    g, c = db.execute("SELECT campaign_group_id, id FROM campaign_engine.campaigns").fetchone()
    rows = db.execute(
        "SELECT * FROM campaign_results.current_contacts WHERE cif = 'C' ORDER BY position"
    ).fetchall()
    r = res.run_id
    assert [row[-2:] for row in rows] == [(None, None)] * 6  # no contact policy: no window
    assert [row[:-2] for row in rows] == [
        (r, "C", g, c, 1, 1, "customer", "C", None, "mobile", "+900", True, True, "Nhóm", "Gọi"),
        (r, "C", g, c, 2, 1, "customer", "C", None, "home", "+0999", None, None, "Nhóm", "Gọi"),
        (r, "C", g, c, 3, 1, "customer", "C", None, "home", "+100", False, True, "Nhóm", "Gọi"),
        (r, "C", g, c, 4, 1, "customer", "C", None, "work", "+100", False, False, "Nhóm", "Gọi"),
        (r, "C", g, c, 5, 1, "customer", "C", None, "mobile", None, False, True, "Nhóm", "Gọi"),
        (r, "C", g, c, 6, 2, "reference", "R", "parent", "mobile", "+050", False, True, "Nhóm", "Gọi"),
    ]  # fmt: skip
    assert [k[2:] for k in expected(db)[1] if k[0] == "C"] == [row[4:13] for row in rows]


def test_a_timestamp_is_compared_as_its_date_in_the_servers_time_zone(db, dsn):
    """A loan updated at 23:59:59 UTC on 1 March was updated on 2 March in Hà Nội: on a server
    set to Asia/Ho_Chi_Minh (as banks run them) ``updated_at = 2026-03-02`` holds for it. The
    run's connections and the reference read the date in the session's time zone alike."""
    zone = "Asia/Ho_Chi_Minh"
    db.execute(sql.SQL("ALTER DATABASE {} SET TimeZone = {}").format(
        sql.Identifier(db.info.dbname), sql.Literal(zone)))  # fmt: skip
    db.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(zone)))
    loans = [("LATE", "L1", {"updated_at": "2026-03-01 23:59:59+00"}),
             ("EARLY", "L2", {"updated_at": "2026-03-01 16:59:59+00"}),
             ("NEXT", "L3", {"updated_at": "2026-03-02 17:00:00+00"})]  # fmt: skip
    _load(db, [cond("l", "updated_at", "=", "2026-03-02")], loans)
    run(dsn, force=True)
    assert [a[0] for a in results(db)[0]] == ["LATE"]
    assert [a[0] for a in expected(db)[0]] == ["LATE"]


def _operator_table(db, dsn, field: str, loans: list[tuple], table: list[tuple]) -> None:
    """Each (operator, value, cifs that match) on the same loans, product and reference."""
    _load(db, [], loans)
    for op, value, want in table:
        conditions = [cond("l", field, op, value)]
        configure(db, {"groups": [{"name": "G", "campaigns": [
            {"name": "A", "priority": 1, "conditions": conditions}]}]})  # fmt: skip
        run(dsn, force=True)
        assert [a[0] for a in results(db)[0]] == want, (op, value)
        assert [a[0] for a in expected(db)[0]] == want, (op, value)


def test_every_string_operator_in_byte_order(db, dsn):
    """Strings compare in byte order whatever the locale: CARD < Cash < LOANX1 < LOAN_1 < card
    < ĐẶNG VĂN; a NULL and a customer without loans match only IS NULL, and the latter not even
    that (SPEC §3)."""
    values = {"S1": "CARD", "S2": "card", "S3": "Cash", "S4": "LOAN_1", "S5": "LOANX1",
              "S6": "ĐẶNG VĂN", "S7": None}  # fmt: skip
    loans = [(c, f"L{c}", {"product_type": v}) for c, v in values.items()] + [("S8", None, {})]
    _operator_table(db, dsn, "product_type", loans, [
        ("=", "CARD", ["S1"]), ("!=", "CARD", ["S2", "S3", "S4", "S5", "S6"]),
        (">", "Cash", ["S2", "S4", "S5", "S6"]), (">=", "Cash", ["S2", "S3", "S4", "S5", "S6"]),
        ("<", "LOAN_1", ["S1", "S3", "S5"]), ("<=", "LOAN_1", ["S1", "S3", "S4", "S5"]),
        ("LIKE", "LOAN_1", ["S4", "S5"]), ("LIKE", "LOAN\\_%", ["S4"]),
        ("NOT LIKE", "C%", ["S2", "S4", "S5", "S6"]), ("ILIKE", "c%", ["S1", "S2", "S3"]),
        ("ILIKE", "đặng%", ["S6"]), ("IN", ["card", "LOAN_1"], ["S2", "S4"]),
        ("NOT IN", ["card", "LOAN_1"], ["S1", "S3", "S5", "S6"]), ("IS NULL", None, ["S7"]),
        ("IS NOT NULL", None, ["S1", "S2", "S3", "S4", "S5", "S6"]),
    ])  # fmt: skip


def test_every_date_operator(db, dsn):
    days = {"D1": "2024-02-29", "D2": "2026-01-31", "D3": "2026-02-28", "D4": "2026-03-01",
            "D5": None}  # fmt: skip
    loans = [(c, f"L{c}", {"next_payment_date": v}) for c, v in days.items()] + [("D6", None, {})]
    _operator_table(db, dsn, "next_payment_date", loans, [
        ("=", "2026-02-28", ["D3"]), ("!=", "2026-02-28", ["D1", "D2", "D4"]),
        (">", "2026-01-31", ["D3", "D4"]), (">=", "2026-01-31", ["D2", "D3", "D4"]),
        ("<", "2026-02-28", ["D1", "D2"]), ("<=", "2026-02-28", ["D1", "D2", "D3"]),
        ("IN", ["2024-02-29", "2026-03-01"], ["D1", "D4"]),
        ("NOT IN", ["2024-02-29", "2026-03-01"], ["D2", "D3"]), ("IS NULL", None, ["D5"]),
        ("IS NOT NULL", None, ["D1", "D2", "D3", "D4"]),
    ])  # fmt: skip
