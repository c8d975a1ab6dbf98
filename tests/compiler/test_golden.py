"""Golden SQL for a small configuration, compared by syntax tree (formatting may change).

Regenerate after an intended change with SQLCOMPILER_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import sqlglot

from sqlcompiler.compiler import compile_config, compile_group
from sqlcompiler.config.model import Campaign, Condition, Configuration, Group, Output, Rule

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def small_group() -> Group:
    return Group(
        "Early",
        (
            Campaign(
                "P1", 1,
                (
                    Condition("loan", "dpd", "number", ">=", Decimal(30)),
                    Condition("custom", "risk_score", "number", ">", Decimal("80.5")),
                    Condition("customer", "segment", "string", "IN", values=("MASS", "SME")),
                ),
                (
                    Rule(1, (), (Output("customer", "mobile"),), id=11),
                    Rule(2, (Condition("custom", "promise", "date", "<", dt.date(2026, 1, 1)),),
                         (Output("reference_customer_parent", "all"),), id=12),
                ),
                id=1,
            ),
            Campaign("P2", 2, (Condition("customer", "is_vip", "boolean", "IS NULL"),),
                     (Rule(1, (), (Output("customer", "all"),), id=21),), id=2),
            Campaign("Rest", 3, (), (), id=3),
        ),
        id=7,
    )  # fmt: skip


def _check(name: str, compiled) -> None:
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("SQLCOMPILER_UPDATE_GOLDEN"):
        path.write_text(compiled.pretty(), encoding="utf-8")
    expected = sqlglot.parse(path.read_text(encoding="utf-8"), read="postgres")
    assert expected[0] == compiled.tree, f"compiled SQL differs from {path}:\n{compiled.pretty()}"
    # what follows the statement in the reviewer's text (the phone book's index)
    assert expected[1:] == sqlglot.parse(compiled.pretty(), read="postgres")[1:]


def test_small_group_full_population():
    _check("small_group", compile_group(small_group(), fingerprint="golden"))


def test_small_group_list_population():
    _check("small_group_list", compile_group(small_group(), fingerprint="golden", population=True))


def test_prologue_holds_every_groups_loan_values_once():
    other = Group("Other", (Campaign("O1", 1, (
        Condition("loan", "dpd", "number", "<", Decimal(5)),  # same value as Early's dpd >= 30
        Condition("loan", "product_type", "string", "=", "AUTO"),
    ), (), id=4),), id=8)  # fmt: skip
    run = compile_config(Configuration((small_group(), other), fingerprint="golden"))
    _check("small_prologue", run.prologue)
    assert [e.alias_or_name for e in run.prologue.tree.expression.expressions] == [
        "cif", "account_number",
        "loan_dpd", "custom_risk_score", "custom_promise", "loan_product_type"
    ]  # fmt: skip
    _check("two_groups", run.statement)  # both groups decided in one statement
    one = compile_config(Configuration((small_group(),), fingerprint="golden"))
    assert one.statement.tree == compile_group(small_group(), fingerprint="golden").tree
    lst = compile_config(Configuration((small_group(),)), population=True)
    _check("small_prologue_list", lst.prologue)
    assert compile_config(Configuration((other,)), group="Other").prologue is not None


def test_the_phone_book_only_when_a_rule_asks_for_phones():
    run = compile_config(Configuration((small_group(),), fingerprint="golden"))
    _check("small_phones", run.phones)
    _check("small_phones_list", compile_config(Configuration((small_group(),)), slices=2).phones)
    assert run.tables == [run.prologue, run.phones]
    silent = Group("Silent", (Campaign("S1", 1, (), (), id=5),), id=6)  # no contact rule
    assert compile_config(Configuration((silent,))).phones is None


def test_customer_slices():
    """A full run on 2 connections runs the population variant (the golden list-run
    statements) over each connection's slice of the customers, under the full-run settings."""
    run = compile_config(Configuration((small_group(),), fingerprint="golden"))
    sliced = compile_config(Configuration((small_group(),), fingerprint="golden"), slices=2)
    assert sliced.population and not sliced.list_run and sliced.slice.slices == 2
    _check("small_group_list", sliced.statement)
    _check("small_prologue_list", sliced.prologue)
    assert sliced.slice.statements(1)[1] == (
        "CREATE TEMPORARY TABLE pg_temp.run_population AS SELECT c.cif FROM "
        "bank_sync_service.customers AS c WHERE (HASHTEXT(c.cif) & 2147483647) % 2 = 1"
    )
    assert sliced.settings == run.settings  # a slice is a full run: the full-run settings


def test_tree_comparison_detects_a_changed_operator():
    compiled = compile_group(small_group())
    other = sqlglot.parse_one(compiled.sql.replace(">= CAST(30", "> CAST(30"), read="postgres")
    assert other != compiled.tree
