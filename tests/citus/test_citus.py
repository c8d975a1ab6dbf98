"""The product on a Citus cluster gives what it gives on plain PostgreSQL, row for row.

The same demo data and configuration go into a plain database and into one whose bank-sync
tables `source citus` distributed on cif; then a full run, a list run (with a cif the bank
does not know), a configuration change and its preview, another run and retention, each
compared between the two, and the messages the relay publishes from each; `serve`
answers a request there.
"""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from fastapi.testclient import TestClient

from sqlcompiler import api
from sqlcompiler.config import files
from sqlcompiler.errors import SourceError
from sqlcompiler.kafka import relay
from sqlcompiler.run.orchestrate import RunOptions
from sqlcompiler.source import attempts, blocks
from sqlcompiler.ui import AuthSettings, create_app
from tests.kafka.test_relay import _as_rows, _of, _settings, consume
from tests.kafka.test_serve import requested, serve_until_answered

CUSTOMERS = 1500
ASSIGNMENTS = (
    "SELECT run_id, cif, campaign_group_id, campaign_group_name, campaign_id, campaign_name, "
    "account_numbers FROM campaign_results.current_assignments ORDER BY cif, campaign_group_id"
)
CONTACTS = (
    "SELECT run_id, cif, campaign_group_id, position, rule_priority, party_type, party_cif, "
    "relationship_type, contact_type, phone_number, is_primary, is_verified "
    "FROM campaign_results.current_contacts ORDER BY cif, campaign_group_id, position"
)


def _results(dsn: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(ASSIGNMENTS).fetchall(), conn.execute(CONTACTS).fetchall()


def _distributed(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT logicalrelid::regclass::text, partmethod FROM pg_dist_partition"
        ).fetchall()
    return dict(rows)


@pytest.fixture
def both(citus_dsn: str, dsn: str) -> tuple[str, str]:
    """(plain, citus): the same demo data and configuration, Citus's distributed."""
    for target in (dsn, citus_dsn):
        api.demo(target, CUSTOMERS, 7, run_after=False)
    api.source_citus(citus_dsn)
    return dsn, citus_dsn


def test_source_citus_distributes_the_bank_sync_tables_once(citus_dsn: str) -> None:
    api.demo(citus_dsn, 200, 3, run_after=False)
    shown = api.source_citus(citus_dsn, sql_only=True).statements
    assert "create_distributed_table('bank_sync_service.loans', 'cif'" in shown
    assert _distributed(citus_dsn) == {}  # --sql changes nothing
    done = api.source_citus(citus_dsn)
    assert done.done.startswith("distributed on cif: customers, loans, reference_customers")
    assert _distributed(citus_dsn) == {
        "bank_sync_service.customers": "h",
        "bank_sync_service.loans": "h",
        "bank_sync_service.reference_customers": "h",
        "bank_sync_service.loan_custom_fields": "n",
        "bank_sync_service.phones": "n",
    }
    again = api.source_citus(citus_dsn)
    assert again.done.startswith("unchanged")
    assert "nothing to do" in api.source_citus(citus_dsn, sql_only=True).statements
    with psycopg.connect(citus_dsn) as conn:  # every row is in the shards, none left behind
        assert conn.execute("SELECT count(*) FROM bank_sync_service.customers").fetchone() == (200,)
        shell = conn.execute("SELECT pg_relation_size('bank_sync_service.customers')").fetchone()
    assert shell == (0,)


def test_source_citus_on_plain_postgresql_says_what_is_missing(dsn: str) -> None:
    with pytest.raises(SourceError, match="not a Citus coordinator: load Citus"):
        api.source_citus(dsn, sql_only=True)


def test_source_citus_without_the_bank_sync_tables_says_so(citus_dsn: str) -> None:
    with psycopg.connect(citus_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE bank_sync_service.phones")
    with pytest.raises(SourceError, match=r"no table bank_sync_service\.phones to distribute"):
        api.source_citus(citus_dsn)
    assert _distributed(citus_dsn) == {}  # nothing half done


def test_runs_on_citus_equal_plain_postgresql(both: tuple[str, str], tmp_path) -> None:
    plain, citus = both
    for target in both:
        res = api.run(target, RunOptions(jobs=2))
        assert res.status == "succeeded"
    first = _results(plain)
    assert first[0] and first[1]
    assert _results(citus) == first

    with psycopg.connect(plain) as conn:
        cifs = [r[0] for r in conn.execute(
            "SELECT cif FROM bank_sync_service.customers ORDER BY md5(cif) LIMIT 40")]  # fmt: skip
    cifs.append("KHÔNG-CÓ-001")  # unknown to the bank: counted, not an error
    for target in both:
        res = api.run(target, RunOptions(cifs=cifs))
        assert res.status == "succeeded"
    assert _results(citus) == _results(plain)

    # a configuration change: its preview, then the run that applies it
    document = api.export_config(plain)
    changed = tmp_path / "changed.yaml"
    changed.write_text(document.replace("field_value: 120", "field_value: 60", 1), encoding="utf-8")
    assert changed.read_text(encoding="utf-8") != document
    previews = [api.preview(t, files.load(changed)) for t in both]
    counts = [
        [(g.name, [(c.name, c.assigned, c.contacts, c.entered, c.left) for c in g.campaigns])
         for g in p.groups]
        for p in previews
    ]  # fmt: skip
    assert counts[0] == counts[1]
    assert any(c[3] or c[4] for _g, cs in counts[0] for c in cs)  # the change moves someone
    for target in both:
        api.apply_file(target, changed)
        assert api.run(target, RunOptions(jobs=2, keep=1)).status == "succeeded"
    assert _results(citus) == _results(plain)
    runs = [[(r.run_id, r.status, r.results_dropped) for r in api.runs(t)] for t in both]
    assert runs[0] == runs[1]


def test_the_relay_on_citus_publishes_what_plain_postgresql_does(both, kafka) -> None:
    topics = []
    for target in both:
        res = api.run(target, RunOptions(jobs=2))
        settings = _settings(kafka)
        stats = relay.relay(target, settings, batch=500)
        assert (stats.runs, stats.messages) == (1, res.assigned)
        topics.append(sorted(_as_rows(_of(consume(kafka, settings.topic), relay.SCHEMA))))
    assert topics[0] and topics[1] == topics[0]


def test_serve_answers_a_request_on_citus(citus_dsn, kafka) -> None:
    api.demo(citus_dsn, 300, 5, run_after=False)
    api.source_citus(citus_dsn)
    api.run(citus_dsn)
    with psycopg.connect(citus_dsn) as conn:
        cifs = [r[0] for r in conn.execute(
            "SELECT cif FROM campaign_results.current_assignments ORDER BY cif LIMIT 3")]  # fmt: skip
    settings = requested(kafka, [{"request_id": "r1", "cifs": cifs}])
    with psycopg.connect(citus_dsn, autocommit=True) as conn:
        serve_until_answered(conn, citus_dsn, kafka, settings, commits=1)
    answered = [
        json.loads(m.value())
        for m in consume(kafka, settings.topic)
        if dict(m.headers())["schema"] == relay.SCHEMA.encode() and m.value()
    ]
    mine = [m for m in answered if "r1" in m["request_ids"]]
    assert {m["cif"] for m in mine} == set(cifs)
    with psycopg.connect(citus_dsn) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM campaign_results.current_assignments WHERE cif = ANY(%s)", (cifs,)
        ).fetchone()[0]
    assert len(mine) == expected


def test_custom_field_upload_on_citus(citus_dsn, tmp_path) -> None:
    api.demo(citus_dsn, 200, 9, run_after=False)
    api.source_citus(citus_dsn)
    with psycopg.connect(citus_dsn) as conn:
        loans = [r[0] for r in conn.execute(
            "SELECT account_number FROM bank_sync_service.loans ORDER BY 1 LIMIT 2")]  # fmt: skip
    upload = tmp_path / "scores.csv"
    upload.write_text(f"account_number,risk_score\n{loans[0]},55\n{loans[1]},77\nKHÔNG-CÓ,1\n")
    rejects = tmp_path / "rejects.tsv"
    res = api.upload_custom_fields(
        citus_dsn, upload, source_system="scoring", uploaded_by="Nguyễn", reject_file=rejects
    )
    assert (res.loaded, res.rejected) == (2, 1)
    assert "KHÔNG-CÓ is not a loan" in rejects.read_text(encoding="utf-8")
    with psycopg.connect(citus_dsn) as conn:
        stored = conn.execute(
            "SELECT account_number, fields ->> 'risk_score', uploaded_by "
            "FROM bank_sync_service.loan_custom_fields WHERE source_system = 'scoring' ORDER BY 1"
        ).fetchall()
    assert stored == [(loans[0], "55", "Nguyễn"), (loans[1], "77", "Nguyễn")]


def test_the_workbench_pages_answer_on_citus(citus_dsn) -> None:
    api.demo(citus_dsn, 200, 4, run_after=False)
    api.source_citus(citus_dsn)
    res = api.run(citus_dsn)
    with psycopg.connect(citus_dsn) as conn:
        (cif,) = conn.execute(
            "SELECT cif FROM campaign_results.current_assignments ORDER BY cif LIMIT 1"
        ).fetchone()
    client = TestClient(create_app(citus_dsn, AuthSettings()), base_url="http://127.0.0.1")
    pages = ["/", "/configuration", "/history", "/custom-fields", "/draft", "/draft/condition",
             "/approvals", "/runs", f"/runs/{res.run_id}", f"/customers?cif={cif}", "/api/fields",
             f"/api/customers/{cif}", "/api/configuration"]  # fmt: skip
    answers = {url: client.get(url) for url in pages}
    assert {u: r.status_code for u, r in answers.items()} == dict.fromkeys(pages, 200)
    assert cif in answers[f"/customers?cif={cif}"].text
    download = client.get("/results.csv")
    assert download.status_code == 200 and download.text.count("\n") > res.assigned


POLICY = """
contact_policy:
  timezone: Asia/Ho_Chi_Minh
  calling_window: {start: "07:00", end: "21:00"}
  limits:
    - {per: party, days: 7, attempts: 2}
    - {per: phone, days: 1, attempts: 1}
  after_connected_days: 7
  reference_min_days: 30
"""
SUPPRESSED = (
    "SELECT cif, campaign_group_id, campaign_id, rule_priority, party_type, party_cif, "
    "contact_type, phone_number, reason FROM campaign_results.current_suppressed_contacts "
    "ORDER BY cif, campaign_group_id, phone_number"
)


def test_the_contact_policy_on_citus_suppresses_what_plain_postgresql_does(both, tmp_path):
    """The stage reads the staged lists and the attempts and blocks, all on the coordinator:
    the same suppressed contacts, renumbered lists and calling windows as plain PostgreSQL."""
    plain, citus = both
    as_of = dt.date(2026, 12, 7)
    with psycopg.connect(plain) as conn:  # people and numbers the demo selects
        phones = conn.execute(
            "SELECT p.cif, p.number FROM bank_sync_service.phones p "
            "ORDER BY md5(p.cif || p.number) LIMIT 400"
        ).fetchall()
    outcomes = ["no_answer", "busy", "connected", "no_answer", "voicemail"]
    rows = [
        (f"a{i}", cif, cif, number,
         dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC) - dt.timedelta(days=i % 9, hours=i % 17),
         outcomes[i % len(outcomes)])
        for i, (cif, number) in enumerate(phones)
    ]  # fmt: skip
    document = api.export_config(plain) + POLICY
    path = tmp_path / "policy.yaml"
    path.write_text(document, encoding="utf-8")
    for target in both:
        api.apply_file(target, path)
        with psycopg.connect(target, autocommit=True) as conn:
            attempts.record(conn, rows)
            for _cif, number in phones[:15]:
                blocks.add(conn, "phone", number, "do_not_call", added_by="lan", valid_from=as_of)
        assert api.run(target, RunOptions(jobs=2, as_of=as_of)).status == "succeeded"
    with psycopg.connect(plain) as conn:
        suppressed = conn.execute(SUPPRESSED).fetchall()
        windows = conn.execute(
            "SELECT DISTINCT window_start, window_end FROM campaign_results.current_contacts"
        ).fetchall()
    reasons = {r[-1] for r in suppressed}
    assert {"blocked: do_not_call", "connected_recently"} <= reasons and len(reasons) >= 3
    assert windows == [(dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC),
                        dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC))]  # fmt: skip
    with psycopg.connect(citus) as conn:
        assert conn.execute(SUPPRESSED).fetchall() == suppressed
    assert _results(citus) == _results(plain)
