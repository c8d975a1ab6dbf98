"""What a DBA reviews: settings first, a legend of every mask bit, campaign names beside ids."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlglot

from sqlcompiler.api import write_statements
from sqlcompiler.compiler import compile_config, compile_group
from sqlcompiler.compiler.settings import FULL_RUN_SETTINGS, WORK_MEM_ENV, set_local_statements
from sqlcompiler.config.model import Campaign, Condition, Configuration, Group, Output, Rule
from sqlcompiler.errors import CompileError
from tests.compiler.test_golden import small_group


def test_legend_names_every_bit_and_who_tests_it():
    header = compile_group(small_group(), fingerprint="golden").header
    # every campaign with its conditions, in priority order, as the CASE tries them
    assert (
        "--       1  'P1' (id 1): 3 conditions, 2 contact rules\n"
        "--          when loan.dpd >= 30 AND custom.risk_score > 80.5 AND customer.segment IN "
    ) in header
    # a contact rule's bit is named with its conditions (tested on each row of the customer)
    assert (
        "--   'P1' (id 1) bit 1 (2): rule 2 when custom.promise < 2026-01-01 -> "
        "reference_customer_parent all"
    ) in header


def _rule(n: int, conditions: tuple) -> Rule:
    return Rule(n, conditions, (Output("customer", "all"),), id=n)


def test_each_campaigns_rules_are_its_own_bits():
    """Two campaigns' rules with the same conditions: each campaign numbers its own rules from
    bit 0 (the mask is read with the assigned campaign's outputs)."""
    dpd = (Condition("loan", "dpd", "number", ">", Decimal(5)),)
    group = Group("G", (
        Campaign("A", 1, (), (_rule(1, dpd),), id=1),
        Campaign("B", 2, (), (_rule(2, dpd),), id=2),
    ), id=1)  # fmt: skip
    header = compile_group(group).header
    assert "--   'A' (id 1) bit 0 (1): rule 1 when loan.dpd > 5 -> customer all" in header
    assert "--   'B' (id 2) bit 0 (1): rule 2 when loan.dpd > 5 -> customer all" in header


def test_each_group_reads_as_a_unit():
    """Two groups whose rules test the same loan conditions: the header lists each group with
    its campaigns in priority order and its rules' bits, and names its decision's columns."""
    dpd = (Condition("loan", "dpd", "number", ">", Decimal(5)),)
    one = Group("Một", (Campaign("A", 1, dpd, (_rule(1, dpd),), id=1),), id=1)
    two = Group("Hai", (Campaign("B", 1, dpd, (_rule(2, dpd),), id=2),), id=2)
    compiled = compile_config(Configuration((one, two)))
    header = compiled.statement.header
    assert "--   'A' (id 1) bit 0 (1): rule 1 when loan.dpd > 5 -> customer all" in header
    assert "--   'B' (id 2) bit 0 (1): rule 2 when loan.dpd > 5 -> customer all" in header
    one_at = header.index("-- campaign group 'Một' (id 1); per row its rank is column g1_rank")
    two_at = header.index("-- campaign group 'Hai' (id 2); per row its rank is column g2_rank")
    assert one_at < header.index("'A' (id 1) bit 0") < two_at < header.index("'B' (id 2) bit 0")
    assert compiled.statement.title == "the run statement (2 groups)"
    alone = compile_config(Configuration((one, two)), group="Hai")
    assert alone.statement.title == "group 'Hai'" and "'Một'" not in alone.statement.header


def test_names_and_values_cannot_break_out_of_comments():
    """A value with a line break, a name with */: still comment lines, the same statement."""
    nasty = "x */ DROP TABLE customers; /* \n DROP TABLE loans; --"
    group = Group("G */ --", (
        Campaign(nasty[:40].replace("\n", " "), 1,
                 (Condition("customer", "full_name", "string", "=", nasty),),
                 (Rule(1, (Condition("loan", "product_type", "string", "=", nasty),),
                       (Output("customer", "all"),)),), id=1),
    ), id=1)  # fmt: skip
    compiled = compile_group(group)
    for line in compiled.header.splitlines():
        assert line.startswith("--")
    parsed = sqlglot.parse(compiled.pretty(), read="postgres")
    assert [p for p in parsed if p is not None] == [compiled.tree]


def test_compiled_run_carries_the_runs_settings():
    full = compile_config(Configuration((small_group(),)))
    assert full.settings == set_local_statements(population=False)
    assert all(f"SET LOCAL {name} = 'off';" in full.preamble() for name in FULL_RUN_SETTINGS)
    listed = compile_config(Configuration((small_group(),)), population=True)
    assert "enable_nestloop" not in listed.preamble()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "1GB"), ("512MB", "512MB"), (" 2GB ", "2GB"), ("64kB", "64kB"), ("300 MB", "300MB")],
)
def test_work_mem_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(WORK_MEM_ENV, value)
    run = compile_config(Configuration((small_group(),)))
    assert f"SET LOCAL work_mem = '{expected}';" in run.preamble()


@pytest.mark.parametrize("value", ["lots", "1TB", "0MB", "10kB", "2048GB", "1.5GB", "-1GB", "1gb"])
def test_a_bad_work_mem_is_refused_before_anything_runs(monkeypatch, value):
    monkeypatch.setenv(WORK_MEM_ENV, value)
    with pytest.raises(CompileError, match=f"SQLCOMPILER_WORK_MEM={value!r} is not a work_mem"):
        compile_config(Configuration((small_group(),))).preamble()


def test_out_files_for_a_255_character_group_name(tmp_path):
    long = Group("Nhóm " + "ạ" * 250, small_group().campaigns, id=9)
    paths = write_statements(compile_config(Configuration((long,))), tmp_path / "sql")
    assert [p.name for p in paths][:2] == ["00_prologue.sql", "00_phones.sql"]
    assert len(paths[2].name.encode()) < 255 and paths[2].name.startswith("01_group_0009_Nhóm")
    text = paths[2].read_text(encoding="utf-8")
    assert text.startswith("-- Runs as it is (psql -v ON_ERROR_STOP=1 -f FILE)")
    assert "-- session settings of a full run" in text and text.endswith("ROLLBACK;\n")
    assert text.index("CREATE TEMPORARY TABLE pg_temp.run_loans") < text.index("WITH")
    assert text.index("CREATE TEMPORARY TABLE pg_temp.run_phones") < text.index("WITH")
    sliced = write_statements(compile_config(Configuration((long,)), slices=2), tmp_path / "s")
    assert sliced[0].name == "00_customer_slice.sql"
    assert "full run on 2 connections (customer slices)" in sliced[0].read_text(encoding="utf-8")
