"""results export: the current results for dialer and SMS feeds, CSV and JSON lines."""

from __future__ import annotations

import csv
import io
import json

from sqlcompiler import api
from tests.cli.test_cli import sqlc
from tests.run.test_preview import _scenario


def test_csv_and_jsonl_carry_every_assignment_and_contact(db, dsn, tmp_path):
    _scenario(db)
    out = tmp_path / "feed.csv"
    rows = api.export_results(dsn, out)
    got = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows == len(got)
    # row for row what the views hold: each contact, and each assignment without contacts once
    # with empty contact columns (compared as sorted lists: a row written twice would show)
    views = db.execute(
        "SELECT a.cif, a.campaign_group_name, a.campaign_name, "
        "array_to_string(a.account_numbers, ';'), coalesce(k.position::text, ''), "
        "coalesce(k.party_type, ''), coalesce(k.party_cif, ''), coalesce(k.phone_number, '') "
        "FROM campaign_results.current_assignments a "
        "LEFT JOIN campaign_results.current_contacts k "
        "ON k.cif = a.cif AND k.campaign_group_id = a.campaign_group_id"
    ).fetchall()
    exported = [
        (r["cif"], r["campaign_group"], r["campaign"], r["account_numbers"], r["position"],
         r["party_type"], r["party_cif"], r["phone_number"])
        for r in got
    ]  # fmt: skip
    assert sorted(exported) == sorted(views) and len(views) > 2
    first = next(r for r in got if r["campaign"] == "Gọi gấp")
    assert first["campaign_group"] == "Nhóm trễ hạn" and first["is_primary"] == "true"
    buf = io.BytesIO()
    n = api.export_results(dsn, None, fmt="jsonl", group="VIP", stdout=buf)
    lines = [json.loads(x) for x in buf.getvalue().decode().splitlines()]
    assert n == len(lines) == 2 and {x["campaign"]["name"] for x in lines} == {"Chăm sóc"}
    assert all(x["contacts"] == [] for x in lines)


def test_unknown_names_and_unwritable_out_are_one_line_errors(db, dsn, tmp_path):
    _scenario(db)
    bad = sqlc("results", "export", "--campaign", "Không có", dsn=dsn)
    assert bad.returncode == 1 and "no campaign named 'Không có'" in bad.stderr
    bad = sqlc("results", "export", "--group", "Nope", dsn=dsn)
    assert bad.returncode == 1 and "no campaign group named 'Nope'" in bad.stderr
    target = tmp_path / "missing-dir" / "feed.csv"
    bad = sqlc("results", "export", "--out", str(target), dsn=dsn)
    assert bad.returncode == 1 and "cannot write" in bad.stderr and not target.exists()


def test_the_web_download_is_the_export_in_blocks(db, dsn, tmp_path):
    """The workbench streams the CSV in blocks of about 1 MB, not one row per chunk (3.96M
    chunks at 1M customers, each handed between threads): the same bytes as the export."""
    from sqlcompiler.run.export import csv_blocks, csv_chunks

    _scenario(db)
    out = tmp_path / "feed.csv"
    api.export_results(dsn, out)
    assert b"".join(api.results_csv_chunks(dsn)) == out.read_bytes()
    rows = list(csv_chunks(db))
    blocks = list(csv_blocks(db, size=100))
    assert b"".join(blocks) == b"".join(rows) and 1 < len(blocks) < len(rows)
    assert all(len(b) >= 100 for b in blocks[:-1])
