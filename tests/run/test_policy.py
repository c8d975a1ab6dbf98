"""The contact policy's stage in a run (SPEC §6): each reason on a small named scenario,
renumbering, an assignment left without contacts, the calling window in the views, the run's
counts; the same rows from the compiled run (one and two connections) and from the reference
engine, which applies tests/reference/test_policy.py's statement of §6."""

from __future__ import annotations

import datetime as dt

import pytest

from sqlcompiler.run import orchestrate as runner
from sqlcompiler.source import attempts, blocks
from tests.scenario import Scenario, configure

D = dt.date(2026, 12, 7)
HCM = dt.timezone(dt.timedelta(hours=7))
POLICY = {"timezone": "Asia/Ho_Chi_Minh", "calling_window": {"start": "07:00", "end": "21:00"},
          "limits": [{"per": "party", "days": 7, "attempts": 3}, {"per": "phone", "days": 1, "attempts": 2}],
          "after_connected_days": 7, "reference_min_days": 30}  # fmt: skip
CONFIG = {"groups": [{"name": "Nhóm", "campaigns": [{"name": "Tất cả", "priority": 1,
    "contact_rules": [
        {"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]},
        {"rule_priority": 2, "outputs": [{"related_party_type": "reference_customer_parent", "contact_type": "all"}]}]}]}],
    "contact_policy": POLICY}  # fmt: skip


def _scenario(db) -> None:
    s = Scenario()
    for cif in ("C1", "C2", "C3", "C4", "C5"):
        s.customer(cif, name=f"Lê Thị {cif}")
    s.phone("C1", 1, "mobile", "+84901", primary=True).phone("C1", 2, "home", "+84902")
    s.reference("C1", "R1", "parent").phone("R1", 3, "mobile", "+84911")
    s.phone("C2", 4, "mobile", "+84921").phone("C3", 5, "mobile", "+84931")
    s.phone("C4", 6, "mobile", "+84941").phone("C5", 7, "mobile", "+84951")
    s.phone("C5", 8, "work", "+84952")
    s.load(db)
    configure(db, CONFIG)
    at = lambda day, hour=10: dt.datetime.combine(day, dt.time(hour), HCM)  # noqa: E731
    rows = [
        ("a1", "C1", "R1", "+84911", at(D - dt.timedelta(days=10)), "no_answer"),  # a reference
        *((f"b{i}", "C2", "C2", "+84921", at(D - dt.timedelta(days=i)), "busy") for i in range(3)),
        # 17:30 UTC on Nov 30 is Dec 1 in Vietnam: the 7th day back from Dec 7 (connected)
        ("c1", "C4", "C4", "+84941", dt.datetime(2026, 11, 30, 17, 30, tzinfo=dt.UTC), "connected"),
        # two calls today to +84952 about someone else: the number's daily limit
        ("d1", "C9", "C9", "+84952", at(D, 8), "no_answer"),
        ("d2", "C9", "C9", "+84952", at(D, 9), "voicemail"),
        ("d2", "C9", "C9", "+84952", at(D, 11), "connected"),  # a repeated id: ignored
    ]
    assert attempts.record(db, rows) == (7, 1)
    blocks.add(db, "phone", "+84902", "do_not_call", added_by="lan", valid_from=D)
    blocks.add(db, "party", "C3", "dispute", added_by="lan", valid_from=D - dt.timedelta(days=5),
               valid_until=D)  # fmt: skip
    blocks.add(db, "party", "C5", "deceased", added_by="lan", valid_from=D + dt.timedelta(days=1))


def _views(db) -> tuple[list, list, list]:
    contacts = db.execute(
        "SELECT cif, position, phone_number, window_start, window_end "
        "FROM campaign_results.current_contacts ORDER BY cif, position"
    ).fetchall()
    suppressed = db.execute(
        "SELECT cif, rule_priority, party_type, party_cif, contact_type, phone_number, reason "
        "FROM campaign_results.current_suppressed_contacts ORDER BY cif, phone_number"
    ).fetchall()
    assigned = db.execute(
        "SELECT cif FROM campaign_results.current_assignments ORDER BY cif"
    ).fetchall()
    return contacts, suppressed, assigned


START = dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)  # 07:00 in Ho Chi Minh City
END = dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)  # 21:00


@pytest.mark.parametrize("how", [{"jobs": 1}, {"jobs": 2}, {"engine": "reference"}])
def test_each_reason_renumbering_and_the_window(db, dsn, how):
    _scenario(db)
    res = runner.run(dsn, as_of=D, **how)
    contacts, suppressed, assigned = _views(db)
    assert [c[:3] for c in contacts] == [
        ("C1", 1, "+84901"),  # +84902 blocked, R1's phone suppressed: +84901 stays first
        ("C5", 1, "+84951"),  # the deceased block starts tomorrow: C5 keeps +84951;
    ]  # +84952 reached its daily limit
    assert {c[3:] for c in contacts} == {(START, END)}
    assert suppressed == [
        ("C1", 1, "customer", "C1", "home", "+84902", "blocked: do_not_call"),
        ("C1", 2, "reference", "R1", "mobile", "+84911", "reference_recently"),
        ("C2", 1, "customer", "C2", "mobile", "+84921", "limit: party/7d"),
        ("C3", 1, "customer", "C3", "mobile", "+84931", "blocked: dispute"),
        ("C4", 1, "customer", "C4", "mobile", "+84941", "connected_recently"),
        ("C5", 1, "customer", "C5", "work", "+84952", "limit: phone/1d"),
    ]
    assert [a[0] for a in assigned] == ["C1", "C2", "C3", "C4", "C5"]  # none lost
    (group,) = res.groups
    assert group.contacts == 2 and res.contacts == 2
    assert group.suppressed == {"blocked: do_not_call": 1, "reference_recently": 1,
                                "limit: party/7d": 1, "blocked: dispute": 1,
                                "connected_recently": 1, "limit: phone/1d": 1}  # fmt: skip
    record = db.execute(
        "SELECT contacts, window_start, window_end, counts -> 'groups' -> %s -> 'suppressed' "
        "FROM campaign_results.runs WHERE run_id = %s",
        (str(group.group_id), res.run_id),
    ).fetchone()
    assert record == (2, START, END, group.suppressed)
    (timings,) = db.execute(
        "SELECT timings FROM campaign_results.runs WHERE run_id = %s", (res.run_id,)
    ).fetchone()
    if "engine" not in how:  # the policy is part of the run statement: no step of its own
        assert timings["statement"] and "policy" not in timings


def test_without_a_policy_the_run_is_as_before(db, dsn):
    _scenario(db)
    configure(db, {"groups": CONFIG["groups"]})  # the policy removed
    runner.run(dsn, as_of=D)
    contacts, suppressed, _ = _views(db)
    assert len(contacts) == 8 and suppressed == []  # every selected phone
    assert {c[3:] for c in contacts} == {(None, None)}


def test_the_preview_counts_contacts_after_the_policy(db, dsn):
    from sqlcompiler import api
    from sqlcompiler.config.model import ConfigFile

    _scenario(db)
    p = api.preview(dsn, ConfigFile.model_validate(CONFIG), as_of=D)
    (campaign,) = p.groups[0].campaigns
    assert (campaign.assigned, campaign.contacts) == (5, 2)  # as the run: 6 of 8 suppressed
    assert campaign.suppressed == {"blocked: do_not_call": 1, "reference_recently": 1,
                                   "limit: party/7d": 1, "blocked: dispute": 1,
                                   "connected_recently": 1, "limit: phone/1d": 1}  # fmt: skip
    assert p.to_json()["groups"][0]["campaigns"][0]["suppressed"] == campaign.suppressed


def test_the_run_prints_and_exports_what_it_suppressed(db, dsn, tmp_path):
    from tests.cli.test_cli import sqlc

    _scenario(db)
    metrics = tmp_path / "metrics.prom"
    out = sqlc("run", "--as-of", str(D), dsn=dsn,
               env={"SQLCOMPILER_METRICS_TEXTFILE": str(metrics)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (
        "contact policy: 6 contacts suppressed (blocked: dispute 1, blocked: do_not_call 1, "
        "connected_recently 1, limit: party/7d 1, limit: phone/1d 1, reference_recently 1)"
    ) in out.stdout
    assert "calling window: 2026-12-07T07:00:00+07:00 to 2026-12-07T21:00:00+07:00" in out.stdout
    text = metrics.read_text()
    assert 'sqlcompiler_suppressed_contacts{reason="limit: party/7d"} 1.0' in text


def test_explain_shows_each_phones_verdict(db, dsn):
    from tests.cli.test_cli import sqlc

    _scenario(db)
    runner.run(dsn, as_of=D)
    out = sqlc("explain", "C1", "--as-of", str(D), dsn=dsn)
    assert out.returncode == 0, out.stderr
    assert "+ +84902 (home, C1) — suppressed: blocked: do_not_call" in out.stdout
    assert "+ +84911 (mobile, R1) — suppressed: reference_recently" in out.stdout
    assert "contacts in order: #1 +84901" in out.stdout and "agrees" in out.stdout
    assert "DISAGREES" not in out.stdout


def test_the_kafka_message_carries_the_window_and_the_suppressed_count(db, dsn):
    """The relay's batch query (docs/kafka.md): with a policy the calling window and how many
    contacts were removed; without one, the message as it was (no new keys)."""
    import json

    from sqlcompiler.kafka.messages import SCHEMA, UNASSIGNED_SCHEMA, messages
    from tests.paths import REPO

    def published(run_id: int) -> dict[str, dict]:
        params = {"schema": SCHEMA, "unassigned_schema": UNASSIGNED_SCHEMA, "run": run_id,
                  "cif": "", "group": -1}  # fmt: skip
        return {r[0]: json.loads(r[3]) for r in db.execute(messages(100), params).fetchall()}

    _scenario(db)
    res = runner.run(dsn, as_of=D)
    c1, c3 = published(res.run_id)["C1"], published(res.run_id)["C3"]
    assert (c1["window_start"], c1["window_end"]) == ("2026-12-07T00:00:00+00:00",
                                                      "2026-12-07T14:00:00+00:00")  # fmt: skip
    assert c1["suppressed"] == 2 and [k["phone_number"] for k in c1["contacts"]] == ["+84901"]
    assert c3["suppressed"] == 1 and c3["contacts"] == []  # blocked: assigned, nobody to call
    schema = json.loads((REPO / "docs" / "kafka-message.schema.json").read_text())
    assert set(c1) <= set(schema["properties"])
    configure(db, {"groups": CONFIG["groups"]})  # the policy removed: the message as before
    plain = published(runner.run(dsn, as_of=D).run_id)["C1"]
    assert set(plain) == set(schema["required"]) and len(plain["contacts"]) == 3


def test_compile_shows_the_policy_in_words_explains_it_and_writes_a_runnable_file(
    db, dsn, tmp_path
):
    import subprocess

    from tests.cli.test_cli import psql_dsn, sqlc

    _scenario(db)
    shown = sqlc("compile", "--as-of", str(D), dsn=dsn)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "-- the contact policy (SPEC §6), in this statement" in text
    assert "calling window 07:00-21:00 (2026-12-07T07:00:00+07:00" in text
    assert "--   2. connected_recently  a connected attempt in the last 7 days" in text
    assert "--   5. limit: phone/1d  2 or more attempts per phone in the last 1 days" in text
    # the run statement's header, then the statement: the verdicts come before the lists
    assert text.index("the contact policy (SPEC §6)") < text.index("WITH customer_loans")
    assert text.index("), verdicts AS (") < text.index("), lists AS (")
    assert "02_contact_policy" not in text
    explained = sqlc("compile", "--as-of", str(D), "--explain", dsn=dsn)
    assert explained.returncode == 0, explained.stderr
    assert "Insert on suppressed_contacts_staging" in explained.stdout
    out = sqlc("compile", "--as-of", str(D), "--out", str(tmp_path), dsn=dsn)
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "02_contact_policy.sql").exists()
    (stage,) = tmp_path.glob("01_*.sql")  # the run statement (one group: named after it)
    ran = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", psql_dsn(dsn),
                          "-f", str(stage)], capture_output=True, text=True)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert db.execute(
        "SELECT count(*) FROM campaign_results.suppressed_contacts_staging"
    ).fetchone() == (0,)  # rolled back: nothing kept


@pytest.mark.parametrize("how", [{"jobs": 1}, {"engine": "reference"}])
def test_a_day_that_begins_twice_counts_from_its_first_midnight(db, dsn, how):
    """In Havana clocks fall back from 01:00 to 00:00 on 2026-11-01, so that day begins at
    04:00 UTC, not at 05:00 (the later midnight, which PostgreSQL gives for the local time
    00:00): a connected call at 04:30 UTC is on Nov 1, inside a 7-day rule on Nov 7; one at
    03:59 UTC is on Oct 31, outside it."""
    s = Scenario()
    for cif in ("C1", "C2"):
        s.customer(cif, name=f"Trần Văn {cif}").phone(cif, int(cif[1]), "mobile", f"+8490{cif[1]}")
    s.load(db)
    configure(db, {**CONFIG, "contact_policy": {**POLICY, "timezone": "America/Havana",
                                                 "limits": [], "reference_min_days": 0}})  # fmt: skip
    utc = lambda h, m: dt.datetime(2026, 11, 1, h, m, tzinfo=dt.UTC)  # noqa: E731
    attempts.record(db, [("e1", "C1", "C1", "+84901", utc(4, 30), "connected"),
                         ("e2", "C2", "C2", "+84902", utc(3, 59), "connected")])  # fmt: skip
    runner.run(dsn, as_of=dt.date(2026, 11, 7), **how)
    contacts, suppressed, _ = _views(db)
    assert [c[:3] for c in contacts] == [("C2", 1, "+84902")]
    assert [(x[0], x[-1]) for x in suppressed] == [("C1", "connected_recently")]


@pytest.mark.parametrize("how", [{"jobs": 1}, {"jobs": 2}])
def test_a_later_attempt_or_a_deleted_one_does_not_mislead_the_per_party_instants(db, dsn, how):
    """connected_recently and reference_recently read each party's latest instants
    (campaign_engine.contact_parties, kept by triggers): a run for a day before the latest
    attempt asks the attempts themselves, and a deleted attempt is forgotten."""
    _scenario(db)
    at = lambda day, hour=10: dt.datetime.combine(day, dt.time(hour), HCM)  # noqa: E731
    attempts.record(db, [
        # C2 connected 2 days before D and again 3 days after: connected_recently on D
        ("e1", "C2", "C2", "+84921", at(D - dt.timedelta(days=2)), "connected"),
        ("e2", "C2", "C2", "+84921", at(D + dt.timedelta(days=3)), "connected"),
        # C5 connected only after D: nothing on D
        ("e3", "C5", "C5", "+84951", at(D + dt.timedelta(days=1)), "connected"),
    ])  # fmt: skip
    db.execute("DELETE FROM campaign_engine.contact_attempts WHERE attempt_id = 'c1'")  # C4's
    assert db.execute(
        "SELECT party_cif, last_connected_at FROM campaign_engine.contact_parties "
        "WHERE party_cif IN ('C2', 'C4', 'C5') ORDER BY 1"
    ).fetchall() == [("C2", at(D + dt.timedelta(days=3))), ("C5", at(D + dt.timedelta(days=1)))]
    runner.run(dsn, as_of=D, **how)
    _contacts, suppressed, _ = _views(db)
    reasons = {(x[0], x[5]): x[-1] for x in suppressed}
    assert reasons[("C2", "+84921")] == "connected_recently"  # before its limit: first reason
    assert ("C4", "+84941") not in reasons  # its only connected attempt was deleted
    assert reasons[("C5", "+84952")] == "limit: phone/1d"  # as before: +84951 stays
    assert ("C5", "+84951") not in reasons


def test_a_list_run_judges_its_customers_as_a_full_run_does(db, dsn):
    """run --cifs: the list run's statement carries the policy too (planned with nested loops
    allowed: the attempts of its few parties by index)."""
    _scenario(db)
    runner.run(dsn, as_of=D, cifs=["C1", "C4", "KHÔNG-CÓ"])
    contacts, suppressed, assigned = _views(db)
    assert [a[0] for a in assigned] == ["C1", "C4"]
    assert [c[:3] for c in contacts] == [("C1", 1, "+84901")]
    assert [(x[0], x[5], x[-1]) for x in suppressed] == [
        ("C1", "+84902", "blocked: do_not_call"),
        ("C1", "+84911", "reference_recently"),
        ("C4", "+84941", "connected_recently"),
    ]
