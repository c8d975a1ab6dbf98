from __future__ import annotations

import pytest

from sqlcompiler.errors import ConfigError, UploadError
from sqlcompiler.source import custom_fields
from tests.scenario import Scenario


def _setup(db):
    s = Scenario().customer("C")
    for acc in ("L1", "L2", "L3"):
        s.loan("C", acc)
    s.custom["L3"] = {"risk": 5, "keep": "yes"}
    s.load(db)
    custom_fields.add(db, "risk", "number")
    custom_fields.add(db, "tier", "string")
    custom_fields.add(db, "promise", "date")
    custom_fields.add(db, "disputed", "boolean")
    custom_fields.add(db, "keep", "string")


def _fields(db):
    return dict(
        db.execute(
            "SELECT account_number, fields FROM bank_sync_service.loan_custom_fields"
        ).fetchall()
    )


def test_add_rejects_duplicates_and_bad_types(db):
    custom_fields.add(db, "risk", "number", "score")
    with pytest.raises(ConfigError, match="already registered as number"):
        custom_fields.add(db, "risk", "string")
    with pytest.raises(ConfigError, match="is not one of"):
        custom_fields.add(db, "x", "money")


def test_csv_merge_upload(db, tmp_path):
    _setup(db)
    f = tmp_path / "v.csv"
    f.write_text(
        "account_number,risk,tier,promise,disputed\nL1,85,gold,2026-01-31,true\nL3,7.5,,,false\n"
    )
    res = custom_fields.upload(db, f, source_system="SCORING", uploaded_by="ops")
    assert (res.loaded, res.inserted, res.updated, res.rejected) == (2, 1, 1, 0)
    got = _fields(db)
    assert got["L1"] == {"risk": 85, "tier": "gold", "promise": "2026-01-31", "disputed": True}
    assert got["L3"] == {"risk": 7.5, "keep": "yes", "disputed": False}  # merged: keep stays
    row = db.execute(
        "SELECT source_system, uploaded_by FROM bank_sync_service.loan_custom_fields WHERE account_number = 'L1'"
    ).fetchone()
    assert row == ("SCORING", "ops")


def test_jsonl_replace_upload(db, tmp_path):
    _setup(db)
    f = tmp_path / "v.jsonl"
    f.write_text(
        '{"account_number": "L3", "fields": {"risk": 1}}\n{"account_number": "L2", "tier": "x"}\n'
    )
    res = custom_fields.upload(db, f, source_system="S", uploaded_by="u", mode="replace")
    assert res.loaded == 2
    assert _fields(db)["L3"] == {"risk": 1}  # replaced: keep is gone


def test_bad_lines_write_nothing_and_are_listed(db, tmp_path):
    _setup(db)
    before = _fields(db)
    f = tmp_path / "v.csv"
    f.write_text(
        "account_number,risk,promise,disputed\n"
        "L1,85,2026-01-31,true\n"
        "L2,high,2026-02-30,maybe\n"
        "NOPE,1,,\n"
        "L1,2,,\n"
    )
    with pytest.raises(UploadError) as info:
        custom_fields.upload(db, f, source_system="S", uploaded_by="u")
    msg = str(info.value)
    assert "3 bad line(s), nothing was written" in msg
    assert (
        "line 3: risk (number): 'high' is not a number; promise (date): '2026-02-30' is not a real day; disputed (boolean): 'maybe' is not a boolean"
        in msg
    )
    assert "line 4: account_number NOPE is not a loan" in msg
    assert "line 5: account_number L1 also on line 2" in msg
    assert _fields(db) == before


def test_reject_file_loads_the_rest(db, tmp_path):
    _setup(db)
    f = tmp_path / "v.jsonl"
    f.write_text(
        '{"account_number": "L1", "risk": 3}\n{"account_number": "L2", "risk": "3"}\nnot json\n{"account_number": "L2", "color": 1}\n'
    )
    rej = tmp_path / "rejected.tsv"
    res = custom_fields.upload(db, f, source_system="S", uploaded_by="u", reject_file=rej)
    assert (res.loaded, res.rejected) == (1, 3)
    assert _fields(db)["L1"] == {"risk": 3}
    lines = rej.read_text().splitlines()
    assert lines[0] == "line\treason\toriginal"
    assert lines[1].startswith("2\trisk (number): '3' is not a JSON number")
    assert lines[2].startswith("3\tnot valid JSON")
    assert lines[3].startswith("4\t'color' is not a registered custom field")


def test_unregistered_csv_column_is_refused(db, tmp_path):
    _setup(db)
    f = tmp_path / "v.csv"
    f.write_text("account_number,colour\nL1,red\n")
    with pytest.raises(UploadError, match="'colour' are not registered custom fields"):
        custom_fields.upload(db, f, source_system="S", uploaded_by="u")


def test_out_of_range_numbers_are_rejected_lines_not_a_hang(db, tmp_path):
    """A CSV cell 1e999999999 once held a core for minutes building a billion-digit integer."""
    _setup(db)
    csv_file = tmp_path / "v.csv"
    csv_file.write_text("account_number,risk\nL1,1e999999999\nL2,1e5000\nL3,42\n")
    rejects = tmp_path / "rejects.csv"
    res = custom_fields.upload(
        db, csv_file, source_system="S", uploaded_by="ops", reject_file=str(rejects)
    )
    assert (res.loaded, res.rejected) == (1, 2)
    assert _fields(db)["L3"]["risk"] == 42
    jsonl = tmp_path / "v.jsonl"
    jsonl.write_text(
        '{"account_number": "L1", "risk": Infinity}\n{"account_number": "L2", "risk": 1e400}\n'
    )
    with pytest.raises(UploadError) as info:
        custom_fields.upload(db, jsonl, source_system="S", uploaded_by="ops")
    assert "line 1" in str(info.value) and "line 2" in str(info.value)


def test_byte_order_mark_is_not_data(db, tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM; the header must still read account_number."""
    _setup(db)
    f = tmp_path / "excel.csv"
    f.write_bytes("\ufeffaccount_number,tier\nL1,Vàng\n".encode())
    res = custom_fields.upload(db, f, source_system="S", uploaded_by="u")
    assert res.loaded == 1 and _fields(db)["L1"] == {"tier": "Vàng"}
    j = tmp_path / "bom.jsonl"
    j.write_bytes('\ufeff{"account_number": "L2", "tier": "Bạc"}\n'.encode())
    assert custom_fields.upload(db, j, source_system="S", uploaded_by="u").loaded == 1


def test_hostile_files_are_one_line_errors(db, tmp_path):
    _setup(db)
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(
        "account_number,tier\nL1,Trần\n".encode("cp1258", errors="replace") + b"\xff\xfe\n"
    )
    with pytest.raises(UploadError, match="not UTF-8"):
        custom_fields.upload(db, latin, source_system="S", uploaded_by="u")
    with pytest.raises(UploadError, match="cannot write the reject file"):
        custom_fields.upload(
            db, latin, source_system="S", uploaded_by="u", reject_file=tmp_path / "no" / "dir.tsv"
        )


def test_bad_lines_are_set_aside_not_fatal(db, tmp_path):
    """NUL, \\u0000, NaN, deep nesting, huge cells, long account numbers: rejected lines."""
    _setup(db)
    deep = "[" * 40_000 + "]" * 40_000  # within the line limit, beyond any recursion limit
    lines = [
        '{"account_number": "L1", "tier": "ok"}',
        '{"account_number": "L2", "tier": "a\\u0000b"}',
        '{"account_number": "L2", "risk": NaN}',
        '{"account_number": "L2", "tier": ' + deep + "}",
        '{"account_number": "' + "L" * 51 + '", "tier": "x"}',
        '{"account_number": "L2", "tier": "' + "x" * 200_000 + '"}',
        '{"account_number": "L2", "risk": ' + "9" * 5000 + "}",
        '{"account_number": "L3", "tier": "ok"}',
    ]
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(lines) + "\n")
    rej = tmp_path / "rej.tsv"
    res = custom_fields.upload(db, f, source_system="S", uploaded_by="u", reject_file=rej)
    assert (res.loaded, res.rejected) == (2, 6)
    reasons = dict(res.problems)
    assert "NUL" in reasons[2] and "not a number JSON allows" in reasons[3]
    assert "nested too deeply" in reasons[4]
    assert "longer than 50" in reasons[5] and "longer than 100,000" in reasons[6]
    assert "not valid JSON" in reasons[7]
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "account_number,tier\nL1,fine\nL2,a\x00b\nL3," + "y" * 200_000 + "\n", encoding="utf-8"
    )
    res = custom_fields.upload(db, csv_file, source_system="S", uploaded_by="u", reject_file=rej)
    assert (res.loaded, res.rejected) == (1, 2)
    assert "\x00" not in rej.read_text()
