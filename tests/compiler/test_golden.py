"""Golden SQL for a small configuration, compared by syntax tree (formatting may change).

Regenerate after an intended change with SQLCOMPILER_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import sqlglot

from sqlcompiler.compiler import compile_config
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
    expected = sqlglot.parse_one(path.read_text(encoding="utf-8"), read="postgres")
    assert expected == compiled.tree, f"compiled SQL differs from {path}:\n{compiled.pretty()}"


def _compiled(population: bool = False):
    return compile_config(
        Configuration((small_group(),), fingerprint="golden"), population=population
    )


def test_small_group_statement():
    _check("small_group", _compiled().groups[0])


def test_prologue_full_population():
    (prologue,) = _compiled().prologue
    _check("small_prologue", prologue)


def test_prologue_list_population_and_group_statement_unchanged():
    run = _compiled(population=True)
    _check("small_prologue_list", run.prologue[0])
    assert run.groups[0].tree == _compiled().groups[0].tree


def test_tree_comparison_detects_a_changed_operator():
    compiled = _compiled().prologue[0]
    other = sqlglot.parse_one(compiled.sql.replace(">= CAST(30", "> CAST(30"), read="postgres")
    assert ">= CAST(30" in compiled.sql and other != compiled.tree
