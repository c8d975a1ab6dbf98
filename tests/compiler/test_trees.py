"""Condition trees and dates relative to the run: the examples of SPEC §2a, §2b and §3, run as
compiled SQL on a real database with the expected rows written by hand (and the reference
evaluator agreeing)."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from sqlcompiler import api
from sqlcompiler import run as runner
from sqlcompiler.cli import cli
from tests.compiler.test_differential import exact_expected, exact_results
from tests.scenario import Scenario, cond, configure

ALL_PHONES = [
    {"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]}
]


def _run(conn, dsn, conditions, as_of="2026-12-01", rules=ALL_PHONES) -> dict[str, list[str]]:
    """Configure one campaign with ``conditions``, run as of ``as_of``: {cif: accounts}."""
    doc = {"groups": [{"name": "g", "campaigns": [
        {"name": "c", "priority": 1, "conditions": conditions, "contact_rules": rules},
    ]}]}  # fmt: skip
    configure(conn, doc)
    day = dt.date.fromisoformat(as_of)
    runner.run(dsn, as_of=day, force=True)
    got = exact_results(conn, None)
    assert got == exact_expected(conn, day, None, doc)  # the reference evaluator agrees
    return {cif: list(accounts) for cif, _g, _c, accounts in got[0]}


def test_not_is_two_valued_spec_2b(db, dsn):
    # `not (dpd > 30)` holds on a loan whose dpd is NULL, while `dpd <= 30` does not
    Scenario().customer("A").loan("A", "A1", dpd=None).customer("B").loan(
        "B", "B1", dpd=10
    ).customer("C").loan("C", "C1", dpd=40).load(db)
    assert _run(db, dsn, {"not": cond("l", "dpd", ">", 30)}) == {"A": ["A1"], "B": ["B1"]}
    assert _run(db, dsn, [cond("l", "dpd", "<=", 30)]) == {"B": ["B1"]}


def test_any_with_a_loan_leaf_is_evaluated_per_loan_spec_3(db, dsn):
    # the example: dpd > 90 OR outstanding > 50,000,000, with a customer-level leaf
    s = Scenario()
    s.customer("VIP", segment="VIP").loan("VIP", "V1", dpd=0).loan("VIP", "V2", dpd=5)
    s.customer("NOLOANS", segment="VIP")  # never matches a tree with a loan-level leaf
    s.customer("LATE").loan("LATE", "L1", dpd=120).loan("LATE", "L2", dpd=10)
    s.customer("BIG").loan("BIG", "B1", outstanding=60_000_000).loan("BIG", "B2")
    s.customer("OK").loan("OK", "O1", dpd=3)
    s.load(db)
    tree = {"any": [
        cond("c", "segment", "=", "VIP"),
        cond("l", "dpd", ">", 90),
        cond("l", "outstanding", ">", 50_000_000),
    ]}  # fmt: skip
    assert _run(db, dsn, tree) == {
        "VIP": ["V1", "V2"],  # the customer leaf holds on every loan
        "LATE": ["L1"],  # the loans it holds on
        "BIG": ["B1"],
    }


def test_a_tree_without_loan_leaves_is_evaluated_on_the_customer(db, dsn):
    s = Scenario().customer("A", segment="MASS").customer("B", segment="SME")
    s.customer("C", segment="VIP").loan("C", "C1")
    s.load(db)
    tree = {"not": {"any": [cond("c", "segment", "=", "SME"), cond("c", "segment", "=", "VIP")]}}
    assert _run(db, dsn, tree) == {"A": []}  # no loan needed; matched accounts empty


def test_not_around_a_customer_and_loan_tree_reads_both_per_loan(db, dsn):
    s = Scenario()
    s.customer("A", segment="MASS").loan("A", "A1", dpd=40).loan("A", "A2", dpd=0)
    s.customer("B", segment="SME").loan("B", "B1", dpd=40)
    s.customer("C", segment="MASS")
    s.load(db)
    # per loan: not (segment = MASS and dpd > 30)
    tree = {"not": [cond("c", "segment", "=", "MASS"), cond("l", "dpd", ">", 30)]}
    assert _run(db, dsn, tree) == {"A": ["A2"], "B": ["B1"]}


def test_relative_dates_spec_2a(db, dsn):
    s = Scenario()
    s.customer("FEB").loan("FEB", "F1", next_payment_date="2025-02-28")
    s.customer("MAR").loan("MAR", "M1", next_payment_date="2025-03-28")
    s.customer("APR").loan("APR", "A1", next_payment_date="2025-04-30")
    s.load(db)
    # 2025-03-31 minus 1m = 2025-02-28 (the day clamped to the end of the shorter month)
    assert _run(db, dsn, [cond("l", "next_payment_date", "=", "today - 1m")], "2025-03-31") == {
        "FEB": ["F1"]
    }
    # today - 7d .. today: 2025-03-24 .. 2025-03-31
    window = [cond("l", "next_payment_date", "BETWEEN", ["today - 7d", "TODAY"])]
    assert _run(db, dsn, window, "2025-03-31") == {"MAR": ["M1"]}
    # + 1m from 2025-03-31 is 2025-04-30; the same configuration a month later moves with it
    ahead = [cond("l", "next_payment_date", "=", "today+1m")]
    assert _run(db, dsn, ahead, "2025-03-31") == {"APR": ["A1"]}
    assert _run(db, dsn, ahead, "2025-01-28") == {"FEB": ["F1"]}
    runs = api.runs(dsn, 1)
    assert runs[0].as_of == dt.date(2025, 1, 28)  # recorded with the run
    listed = CliRunner().invoke(cli, ["--dsn", dsn, "runs", "--limit", "1"])
    assert "as-of=2025-01-28" in listed.output
    shown = CliRunner().invoke(cli, ["--dsn", dsn, "runs", "show", str(runs[0].run_id)])
    assert "as of        2025-01-28" in shown.output
    bad = CliRunner().invoke(cli, ["--dsn", dsn, "run", "--as-of", "2025-02-30"])
    assert bad.exit_code == 2 and "'2025-02-30' is not a date" in bad.output


def test_contact_rule_trees_and_relative_dates_in_rules(db, dsn):
    s = Scenario()
    s.customer("A").loan("A", "A1", dpd=10, next_payment_date="2026-11-30")
    s.phone("A", 1, "mobile", "+841").phone("A", 2, "home", "+842")
    s.load(db)
    rules = [
        {"rule_priority": 1,
         "conditions": {"any": [cond("l", "dpd", ">", 90),
                                cond("l", "next_payment_date", ">=", "today - 1d")]},
         "outputs": [{"related_party_type": "customer", "contact_type": "mobile"}]},
        {"rule_priority": 2, "conditions": {"not": cond("l", "dpd", "<", 30)},
         "outputs": [{"related_party_type": "customer", "contact_type": "home"}]},
    ]  # fmt: skip
    _run(db, dsn, [], "2026-12-01", rules)
    phones = [k[9] for k in exact_results(db, None)[1]]
    assert phones == ["+841"]  # rule 1 applies (2026-11-30 >= today - 1d), rule 2 does not


def test_compile_shows_resolved_dates_and_trees(db, dsn):
    Scenario().customer("A").load(db)
    configure(db, {"groups": [{"name": "g", "campaigns": [{"name": "c", "priority": 1,
        "conditions": {"any": [cond("l", "dpd", ">", 90),
                               {"not": cond("l", "next_payment_date", ">=", "today - 30d")}]}}]}]})  # fmt: skip
    out = CliRunner().invoke(cli, ["--dsn", dsn, "compile", "--as-of", "2026-03-31"])
    assert out.exit_code == 0, out.output
    assert "CAST('2026-03-01' AS DATE) /* today - 30d */" in out.output
    assert "NOT COALESCE(" in out.output
    assert "when loan.dpd > 90 OR NOT (loan.next_payment_date >= 2026-03-01 (today - 30d))" in (
        out.output
    )
    bad = CliRunner().invoke(cli, ["--dsn", dsn, "compile", "--as-of", "31/03/2026"])
    assert bad.exit_code == 2 and "is not a date; write it as YYYY-MM-DD" in bad.output


def test_explain_prints_the_tree_with_verdicts_per_loan(db, dsn):
    s = Scenario().customer("A", segment="MASS").loan("A", "A1", dpd=95).loan("A", "A2", dpd=0)
    s.load(db)
    _run(db, dsn, {"any": [cond("l", "dpd", ">", 90), {"not": cond("c", "segment", "=", "MASS")}]})
    out = CliRunner().invoke(cli, ["--dsn", dsn, "explain", "A"])
    assert out.exit_code == 0, out.output
    text = out.output
    assert "as of 2026-12-01" in text  # the run's as-of date, not today's
    assert "✔ ANY   per loan: A1 ✔, A2 ✘" in text
    assert "✘ NOT   per loan: A1 ✘, A2 ✘" in text
    assert "agrees" in text


def test_explain_analyze_after_a_run_and_with_slices(db, dsn):
    """compile --explain=analyze executes the group statements: after a run the staging tables
    carry that run's run_id check, lifted inside the rolled-back transaction; under a run's
    lock it is refused."""
    from sqlcompiler.errors import RunLocked
    from sqlcompiler.infra.connection import connect
    from sqlcompiler.run.lock import RUN_LOCK

    Scenario().customer("A").loan("A", "A1", dpd=40).phone("A", 1, "mobile", "+84").load(db)
    _run(db, dsn, {"any": [cond("l", "dpd", ">", 30), cond("c", "segment", "=", "VIP")]})
    for jobs in (1, 3):  # one group: 3 connections run it in customer slices
        compiled = api.compile_statements(dsn, jobs=jobs)
        assert (compiled.slice is not None) == (jobs == 3)
        plans = api.explain_plans(dsn, compiled, analyze=True)
        assert len(plans) == len(compiled.statements) and all("actual time" in p for p in plans)
    assert (
        db.execute("SELECT count(*) FROM campaign_results.assignments_staging").fetchone()[0] == 0
    )
    with connect(dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (RUN_LOCK,))
        with pytest.raises(RunLocked, match="explain=analyze when it has finished"):
            api.explain_plans(dsn, api.compile_statements(dsn), analyze=True)
