"""The contact policy's inputs from the command line: attempts uploaded (CSV or JSON lines,
bad lines refused or set aside, the first report of an id stands, each UTC day its own
partition, old days pruned) and blocks added, listed and removed with who and why."""

from __future__ import annotations

import datetime as dt
import json

from tests.cli.test_cli import sqlc
from tests.run.test_preview import _scenario

HEADER = "attempt_id,cif,party_cif,phone_number,attempted_at,outcome\n"


def test_attempts_upload_csv_and_json_lines(db, dsn, tmp_path):
    _scenario(db)
    csv = tmp_path / "cuoc-goi.csv"
    csv.write_text(
        HEADER
        + "g1,C1,C1,+8490,2026-12-07T09:30:00+07:00,no_answer\n"
        + "g2,C1,R1,+8491,2026-12-06T23:30:00+07:00,connected\n"  # Dec 6 16:30 UTC
        + "g3,C2,C2,+8492,2026-12-07T10:00:00,busy\n"  # no offset
        + "g4,C2,C2,+8492,2026-12-07T10:00:00Z,gọi nhỡ\n",  # not an outcome
        encoding="utf-8",
    )
    refused = sqlc("attempts", "upload", str(csv), dsn=dsn)
    assert refused.returncode == 1 and "2 bad line(s), nothing was written" in refused.stderr
    assert "line 4: attempted_at '2026-12-07T10:00:00' has no UTC offset" in refused.stderr
    assert "line 5: outcome 'gọi nhỡ' is not one of connected" in refused.stderr
    assert db.execute("SELECT count(*) FROM campaign_engine.contact_attempts").fetchone() == (0,)
    rejects = tmp_path / "loi.tsv"
    loaded = sqlc("attempts", "upload", str(csv), "--reject-file", str(rejects), dsn=dsn)
    assert loaded.returncode == 0, loaded.stderr
    assert "stored 2 attempts (0 seen before)" in loaded.stdout
    assert "gọi nhỡ" in rejects.read_text(encoding="utf-8")
    again = sqlc("attempts", "upload", str(csv), "--reject-file", str(rejects), dsn=dsn)
    assert "stored 0 attempts (2 seen before)" in again.stdout  # the first report stands
    lines = tmp_path / "cuoc-goi.jsonl"
    lines.write_text(
        json.dumps({"attempt_id": "g1", "cif": "C1", "party_cif": "C1", "phone_number": "+8490",
                    "attempted_at": "2026-12-07T11:00:00+07:00", "outcome": "connected"}) + "\n"
        + json.dumps({"attempt_id": "g5", "cif": "C3", "party_cif": "C3", "phone_number": "+8493",
                      "attempted_at": "2026-11-01T08:00:00+07:00", "outcome": "busy"}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    assert (
        "stored 1 attempts (1 seen before)"
        in sqlc("attempts", "upload", str(lines), dsn=dsn).stdout
    )
    stored = db.execute(
        "SELECT attempt_id, outcome, tableoid::regclass::text FROM campaign_engine.contact_attempts "
        "ORDER BY attempt_id"
    ).fetchall()
    assert stored == [
        ("g1", "no_answer", "campaign_engine.contact_attempts_d20261207"),  # not the 2nd report
        ("g2", "connected", "campaign_engine.contact_attempts_d20261206"),  # its UTC day
        ("g5", "busy", "campaign_engine.contact_attempts_d20261101"),
    ]
    keep = (dt.date.today() - dt.date(2026, 11, 15)).days  # keeps December, drops November
    pruned = sqlc("attempts", "prune", "--keep-days", str(keep), dsn=dsn)
    assert pruned.returncode == 0 and "dropped 1 day(s)" in pruned.stdout
    assert db.execute("SELECT count(*) FROM campaign_engine.contact_attempts").fetchone() == (2,)


def test_blocks_add_list_remove(db, dsn):
    _scenario(db)
    added = sqlc("blocks", "add", "phone", "+84 912", "--reason", "do_not_call", "--from",
                 "2026-12-01", "--note", "phiếu 4521", "--by", "lan", dsn=dsn)  # fmt: skip
    assert added.returncode == 0 and added.stdout.startswith("block 1: phone +84 912")
    party = sqlc("blocks", "add", "party", "Nguyễn-01", "--reason", "dispute", "--until",
                 "2026-12-31", "--by", "chi", dsn=dsn)  # fmt: skip
    assert party.returncode == 0, party.stderr
    bad = sqlc("blocks", "add", "party", "C1", "--reason", "dispute", "--from", "2026-12-10",
               "--until", "2026-12-01", dsn=dsn)  # fmt: skip
    assert bad.returncode == 1 and "ends (2026-12-01) before it starts (2026-12-10)" in bad.stderr
    listed = sqlc("blocks", "list", dsn=dsn).stdout
    assert "Nguyễn-01" in listed and "phiếu 4521" in listed and "added by lan" in listed
    assert sqlc("blocks", "remove", "1", "--by", "minh", dsn=dsn).returncode == 0
    assert "+84 912" not in sqlc("blocks", "list", dsn=dsn).stdout
    assert "removed by minh" in sqlc("blocks", "list", "--all", dsn=dsn).stdout
    twice = sqlc("blocks", "remove", "1", dsn=dsn)
    assert twice.returncode == 1 and "was removed already" in twice.stderr


def test_blocks_upload_all_or_none(db, dsn, tmp_path):
    _scenario(db)
    bad = tmp_path / "chan.csv"
    bad.write_text(
        "scope,value,reason,valid_from,valid_until,note\n"
        "phone,+84 901,do_not_call,2026-12-01,,phiếu 1\n"
        "party,Trần-07,dispute,,2026-12-31,\n"
        "email,x@y,spam,,,\n"  # not a scope
        "phone,+84 902,do_not_call,2026-13-01,,\n",  # not a date
        encoding="utf-8",
    )
    refused = sqlc("blocks", "upload", str(bad), "--by", "lan", dsn=dsn)
    assert refused.returncode == 1 and "2 bad line(s), no block was added" in refused.stderr
    assert "line 4: scope 'email'" in refused.stderr and "line 5:" in refused.stderr
    assert db.execute("SELECT count(*) FROM campaign_engine.contact_blocks").fetchone() == (0,)
    good = tmp_path / "chan-ok.csv"
    good.write_text("".join(bad.read_text(encoding="utf-8").splitlines(True)[:3]), encoding="utf-8")
    added = sqlc("blocks", "upload", str(good), "--by", "lan", dsn=dsn)
    assert added.returncode == 0 and "added 2 blocks" in added.stdout
    assert db.execute(
        "SELECT scope, value, valid_until, note, added_by FROM campaign_engine.contact_blocks "
        "ORDER BY id"
    ).fetchall() == [
        ("phone", "+84 901", None, "phiếu 1", "lan"),
        ("party", "Trần-07", dt.date(2026, 12, 31), None, "lan"),
    ]
