"""campaign_engine.json_date against Python's calendar, and that PostgreSQL inlines it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

CASES = [
    "2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "2026-04-30", "2026-04-31", "2026-12-31",
    "2026-13-01", "2026-00-10", "2026-01-00", "2026-1-01", " 2026-01-01", "2026-01-01 ", "0000-01-01",
    "0001-01-01", "9999-12-31", "2026/01/01", "20260101", "", "2026-02-28", "2026-06-31", "2026-01-32",
]  # fmt: skip


def _python(text: str) -> dt.date | None:
    import re

    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@pytest.mark.parametrize("text", CASES)
def test_json_date_matches_python(db, text):
    got = db.execute("SELECT campaign_engine.json_date(%s::jsonb)", (json.dumps(text),)).fetchone()[
        0
    ]
    assert got == _python(text)


@pytest.mark.parametrize("value", ["null", "20260101", "true", '["2026-01-01"]', '{"a": 1}'])
def test_json_date_non_strings_are_missing(db, value):
    assert db.execute("SELECT campaign_engine.json_date(%s::jsonb)", (value,)).fetchone()[0] is None


def test_json_date_is_inlined(db):
    plan = db.execute(
        "EXPLAIN VERBOSE SELECT campaign_engine.json_date(f.fields -> 'd') FROM bank_sync_service.loan_custom_fields f"
    ).fetchall()
    text = "\n".join(r[0] for r in plan)
    assert "json_date" not in text and "make_date" in text
