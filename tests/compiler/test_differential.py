"""Differential testing: compiled SQL vs the reference evaluator on random inputs.

Hypothesis draws small configurations (every operator, type and data source; empty groups;
campaigns and rules without conditions; condition trees of depth up to 4 with all / any /
not mixing customer, loan and custom-field leaves; dates relative to the run; shuffled rule
priorities; a timestamp column read as a date) and small data sets (NULLs, missing and
wrong-typed JSON keys, customers without loans/phones/references, references who are
customers too, shared phone numbers, mixed-case relationship types, Vietnamese names),
runs both engines on an as-of date around a month end and requires the same rows: campaign
ids (each checked against its own group), matched account numbers and ordered contacts,
duplicates counted. The draws lean towards examples that assign someone and select contacts
(100 examples, `--hypothesis-show-statistics`: 68 % assign someone, 38 % select contacts; it
was 63 % and 16 %). Examples per run: SQLCOMPILER_DIFF_EXAMPLES (default 300); a slice runs
on a database created with a UTF-8 locale, on a server in Asia/Ho_Chi_Minh and with more
than 62 loan condition sets too (test_differential_variants.py).
Failures found so far are kept as named cases in test_regressions.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from psycopg import sql

from sqlcompiler import reference
from sqlcompiler import run as runner
from sqlcompiler.config.operands import operators_for
from sqlcompiler.reference import front_end
from tests.scenario import configure

EXAMPLES = int(os.environ.get("SQLCOMPILER_DIFF_EXAMPLES", "300"))

NUMBERS = [-1, 0, 1, 10, 30, 30.5, 90, 1000000]
STRINGS = ["", "A", "a", "MASS", "mass", "M_SS", "A%B", "Ab", "é", "É", "z", "Trần", "TRẦN", "ẫ",
           "Nguyễn Văn Ánh", "NGUYỄN VĂN ÁNH", "Đặng Thị Ý"]  # fmt: skip
# data dates sit around the month ends the as-of dates and "- 1m" / "+ 1m" land on
DATES = ["2020-01-01", "2024-02-29", "2025-12-31", "2026-01-31", "2026-02-21", "2026-02-28",
         "2026-03-01", "2026-03-28", "2026-03-31", "2026-04-30", "2026-12-31"]  # fmt: skip
RELATIVE = ["today", "today - 1m", "today + 1m", "today-7d", "TODAY + 2w", "today - 3d"]
AS_OF = ["2026-01-31", "2026-02-28", "2026-03-31", "2026-03-01", "2024-02-29", "2026-03-28"]
BOOLS = [True, False]
DOMAIN = {"number": NUMBERS, "string": STRINGS, "date": DATES, "boolean": BOOLS}
VALUES = {**DOMAIN, "date": DATES + RELATIVE}
PATTERNS = ["%", "_", "A%", "%a%", "M\\_SS", "a_", "%\\%%", "É%", "mass", "%trần%", "TRẦ_",
            "nguyễn%", "%ÁNH", "%ý", "đặng%"]  # fmt: skip

# (data_source, field, type): columns of the reference schema and the registered custom fields
FIELDS = [
    ("bank_sync_service.customers", "segment", "string"),
    ("bank_sync_service.customers", "monthly_income", "number"),
    ("bank_sync_service.customers", "date_of_birth", "date"),
    ("bank_sync_service.customers", "is_vip", "boolean"),
    ("bank_sync_service.customers", "name", "string"),
    ("bank_sync_service.loans", "dpd", "number"),
    ("bank_sync_service.loans", "updated_at", "date"),  # timestamptz, compared as its date
    ("bank_sync_service.loans", "product_type", "string"),
    ("bank_sync_service.loans", "next_payment_date", "date"),
    ("custom_fields", "n", "number"),
    ("custom_fields", "s", "string"),
    ("custom_fields", "d", "date"),
    ("custom_fields", "b", "boolean"),
]
CUSTOM = [{"field_name": f, "data_type": t} for src, f, t in FIELDS if src == "custom_fields"]


@st.composite
def conditions(draw):
    source, field, dtype = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(operators_for(dtype)))
    c = {"data_source": source, "field_name": field, "operator": op}
    dom = st.sampled_from(VALUES[dtype])
    if op in ("LIKE", "NOT LIKE", "ILIKE"):
        c["field_value"] = draw(st.sampled_from(PATTERNS + STRINGS))
    elif op in ("IN", "NOT IN"):
        values = draw(st.lists(dom, min_size=1, max_size=3))
        c["field_value"] = [
            str(v) if dtype == "number" and draw(st.booleans()) else v for v in values
        ]
    elif op == "BETWEEN":
        c["field_value"] = [draw(dom), draw(dom)]
    elif op not in ("IS NULL", "IS NOT NULL"):
        c["field_value"] = draw(dom)
    return c


outputs = st.fixed_dictionaries({
    "related_party_type": st.sampled_from(["customer", "reference_customer_parent", "reference_customer_all"]),
    "contact_type": st.sampled_from(["mobile", "home", "work", "all"]),
})  # fmt: skip


@st.composite
def nodes(draw, depth: int = 1):
    """A tree node (SPEC §2b), at most 4 levels deep: all, any, not of one, not of a list."""
    kind = draw(st.sampled_from(["all", "any", "not", "not list"]))

    def child():
        if depth >= 4 or draw(st.integers(0, 2)) > 0:
            return draw(conditions())
        return draw(nodes(depth + 1))

    if kind == "not":
        return {"not": child()}
    if kind == "not list":
        return {"not": [child() for _ in range(draw(st.integers(1, 2)))]}
    return {kind: [child() for _ in range(draw(st.integers(1, 3)))]}


@st.composite
def condition_sets(draw, max_size: int):
    """A plain list (as before trees), a list with nodes in it, or one tree."""
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return draw(nodes())
    if shape == 1:
        return draw(st.lists(st.one_of(conditions(), nodes(2)), max_size=max_size))
    return draw(st.lists(conditions(), max_size=max_size))


@st.composite
def configurations(draw):
    groups = []
    for gi in range(draw(st.integers(1, 3))):
        campaigns = []
        for ci in range(draw(st.integers(0, 4))):
            # biased towards examples that assign someone and select contacts: most campaigns
            # have a rule, rules often hold (no conditions) and name some phones
            n_rules = draw(st.sampled_from([0, 1, 1, 2, 2, 3]))
            prios = draw(st.permutations(range(n_rules)))  # rule order != the order written
            rules = [
                {"rule_priority": p * 10 + 1,
                 "conditions": draw(st.one_of(st.just([]), condition_sets(2))),
                 "outputs": draw(st.one_of(st.lists(outputs, min_size=1, max_size=3),
                                           st.lists(outputs, max_size=3)))}
                for p in prios
            ]  # fmt: skip
            written = st.one_of(
                condition_sets(3), condition_sets(3), condition_sets(3), st.just([])
            )
            campaigns.append({
                # names repeat across groups: results are compared by id, not by name
                "name": f"c{ci}", "priority": draw(st.integers(0, 5)) * 10 + ci,
                "conditions": draw(written), "contact_rules": rules,
            })  # fmt: skip
        groups.append({"name": f"g{gi}", "campaigns": campaigns})
    return {"custom_fields": CUSTOM, "groups": groups}


def json_value(dtype: str):
    good = st.sampled_from(DOMAIN[dtype])
    if dtype == "date":
        good = st.sampled_from(DATES + ["2026-02-30", "2026/01/01", "0000-01-01", "20260101"])
    wrong = st.sampled_from([None, "30", 30, True, "true", [1], {"a": 1}])
    return st.one_of(good, good, wrong)


@st.composite
def datasets(draw):
    n_customers = draw(st.integers(1, 6))
    data = {"customers": [], "loans": [], "custom": {}, "references": [], "phones": []}
    numbers = st.sampled_from(["+1", "+2", "+3", "+10", "+9", None])  # shared numbers
    phone_id = iter(range(1, 10_000))

    maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731

    def phones_for(cif):
        for _ in range(draw(st.sampled_from([0, 1, 2, 2, 3]))):
            data["phones"].append({
                # a bank's own table may hold what the demo schema forbids: a type outside
                # mobile/home/work (reached only by 'all'), no number, no primary/verified flag
                "id": next(phone_id), "cif": cif,
                "type": draw(st.sampled_from(["mobile", "home", "work", "Mobile", None])),
                "number": draw(numbers), "is_primary": draw(maybe(st.booleans())),
                "is_verified": draw(maybe(st.booleans())),
            })  # fmt: skip

    stamps = st.sampled_from([f"{d} {t}+00" for d in DATES for t in ("00:00:00", "23:59:59")])
    used_refs: set[str] = set()
    for i in range(n_customers):
        cif = f"C{i}"
        data["customers"].append({
            "cif": cif, "segment": draw(maybe(st.sampled_from(STRINGS))),
            "monthly_income": draw(maybe(st.sampled_from(NUMBERS))),
            "date_of_birth": draw(maybe(st.sampled_from(DATES))), "is_vip": draw(maybe(st.booleans())),
            "name": draw(maybe(st.sampled_from(STRINGS))),
        })  # fmt: skip
        for k in range(draw(st.integers(0, 3))):
            acc = f"L{i}{chr(ord('a') + k) if draw(st.booleans()) else chr(ord('A') + k)}"
            data["loans"].append({
                "account_number": acc, "cif": cif, "dpd": draw(maybe(st.sampled_from([0, 1, 10, 30, 90]))),
                "product_type": draw(maybe(st.sampled_from(STRINGS))),
                "next_payment_date": draw(maybe(st.sampled_from(DATES))),
                "updated_at": draw(stamps),
            })  # fmt: skip
            if draw(st.integers(0, 4)) > 0:
                fields = {}
                for name, dtype in (
                    ("n", "number"),
                    ("s", "string"),
                    ("d", "date"),
                    ("b", "boolean"),
                ):
                    if draw(st.integers(0, 3)) > 0:
                        fields[name] = draw(json_value(dtype))
                data["custom"][acc] = fields
        phones_for(cif)
        for r in range(draw(st.integers(0, 2))):
            ref = f"R{i}{r}"
            if draw(st.integers(0, 3)) == 0:  # a reference who is also a customer (or itself)
                ref = f"C{draw(st.integers(0, i))}"
            if ref in used_refs:
                continue
            used_refs.add(ref)
            rel = draw(st.sampled_from(["PARENT", "parent", "Parent", " parent", "SPOUSE", None]))
            data["references"].append(
                {"ref_cif": ref, "primary_cif": cif, "relationship_type": rel}
            )
            if ref.startswith("R"):
                phones_for(ref)
    return data


def _load(conn: psycopg.Connection, data: dict) -> None:
    for column in ("type", "number", "is_primary", "is_verified"):  # see phones_for
        conn.execute(
            sql.SQL("ALTER TABLE bank_sync_service.phones ALTER COLUMN {} DROP NOT NULL").format(
                sql.Identifier(column)
            )
        )
    conn.execute(
        "TRUNCATE bank_sync_service.phones, bank_sync_service.reference_customers, "
        "bank_sync_service.loan_custom_fields, bank_sync_service.loans, bank_sync_service.customers"
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bank_sync_service.customers (cif, segment, monthly_income, date_of_birth, is_vip, name) "
            "VALUES (%(cif)s, %(segment)s, %(monthly_income)s, %(date_of_birth)s, %(is_vip)s, %(name)s)",
            [{"name": None, **c} for c in data["customers"]],
        )
        cur.executemany(
            "INSERT INTO bank_sync_service.loans (account_number, cif, dpd, product_type, next_payment_date, updated_at) "
            "VALUES (%(account_number)s, %(cif)s, %(dpd)s, %(product_type)s, %(next_payment_date)s, %(updated_at)s)",
            [{"updated_at": "2026-01-01 12:00:00+00", **ln} for ln in data["loans"]],
        )
        cur.executemany(
            "INSERT INTO bank_sync_service.loan_custom_fields (account_number, fields) VALUES (%s, %s)",
            [(a, json.dumps(f)) for a, f in data["custom"].items()],
        )
        cur.executemany(
            "INSERT INTO bank_sync_service.reference_customers (ref_cif, primary_cif, relationship_type) "
            "VALUES (%(ref_cif)s, %(primary_cif)s, %(relationship_type)s)",
            data["references"],
        )
        cur.executemany(
            "INSERT INTO bank_sync_service.phones (id, cif, type, number, is_primary, is_verified) "
            "VALUES (%(id)s, %(cif)s, %(type)s, %(number)s, %(is_primary)s, %(is_verified)s)",
            data["phones"],
        )


def exact_results(
    conn: psycopg.Connection, cifs: list[str] | None
) -> tuple[list[tuple], list[tuple]]:
    """The views' rows by id (of ``cifs``: the run's population), duplicates kept; every
    campaign id belongs to its row's group."""
    a = conn.execute(
        "SELECT a.cif, a.campaign_group_id, a.campaign_id, a.account_numbers, c.campaign_group_id "
        "FROM campaign_results.current_assignments a "
        "LEFT JOIN campaign_engine.campaigns c ON c.id = a.campaign_id"
    ).fetchall()
    a = [r for r in a if cifs is None or r[0] in cifs]
    wrong = [r for r in a if r[4] != r[1]]
    assert not wrong, f"campaign ids outside their group: {wrong}"
    k = conn.execute(
        "SELECT cif, campaign_group_id, campaign_id, position, rule_priority, party_type, "
        "party_cif, relationship_type, contact_type, phone_number, is_primary, is_verified "
        "FROM campaign_results.current_contacts"
    ).fetchall()
    k = [r for r in k if cifs is None or r[0] in cifs]
    return sorted((r[0], r[1], r[2], tuple(r[3])) for r in a), sorted(k)


def exact_expected(
    conn: psycopg.Connection, as_of: dt.date, cifs: list[str] | None, config: dict
) -> tuple[list[tuple], list[tuple]]:
    """The reference evaluator's rows in the shape of exact_results, from its own reading of
    the configuration file (reference/front_end.py), not the product's."""
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    mine = front_end.read(text, front_end.columns_of(conn), as_of, front_end.ids_in(conn))
    out = reference.evaluate(mine, reference.load_data(conn), cifs)
    a = sorted((x.cif, x.campaign_group_id, x.campaign_id, tuple(x.account_numbers)) for x in out)
    k = sorted(
        (x.cif, x.campaign_group_id, x.campaign_id, c["position"], c["rule_priority"],
         c["party_type"], c["party_cif"], c["relationship_type"], c["contact_type"],
         c["phone_number"], c["is_primary"], c["is_verified"])
        for x in out for c in x.contacts
    )  # fmt: skip
    return a, k


def check(
    conn: psycopg.Connection,
    dsn: str,
    config: dict,
    data: dict,
    cifs: list[str] | None = None,
    as_of: str = "2026-02-28",
) -> None:
    day = dt.date.fromisoformat(as_of)
    _load(conn, data)
    configure(conn, config)
    runner.run(dsn, cifs=cifs, keep=1, force=True, as_of=day)  # random data: always published
    got_a, got_k = exact_results(conn, cifs)
    want_a, want_k = exact_expected(conn, day, cifs, config)
    if currently_in_test_context():  # what the examples exercise (--hypothesis-show-statistics)
        event("assigns someone" if want_a else "assigns nobody")
        event("selects contacts" if want_k else "selects no contact")
    assert got_a == want_a, f"assignments: sql {got_a}\nreference {want_a}"
    assert got_k == want_k, "contacts differ:\n" + "\n".join(
        f"sql {g}\nref {w}" for g, w in zip(got_k, want_k, strict=False) if g != w
    )


SETTINGS = dict(
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.property
@settings(max_examples=EXAMPLES, **SETTINGS)
@given(config=configurations(), data=datasets(), subset=st.booleans(), as_of=st.sampled_from(AS_OF))
def test_compiled_sql_equals_reference(db, dsn, config, data, subset, as_of):
    cifs = [c["cif"] for c in data["customers"][::2]] + ["MISSING"] if subset else None
    check(db, dsn, config, data, cifs, as_of)
