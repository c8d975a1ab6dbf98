"""Differential testing of the contact policy (SPEC §6): the run's SQL stage against the
reference statement of §6 (sqlcompiler/reference/policy.py) on random configurations, data,
policies, attempts and blocks.

The draws aim at the edges: attempts on the days around the windows' first day and the run's
day, at hours where the day in the policy's time zone is not UTC's (Asia/Ho_Chi_Minh +7,
Pacific/Kiritimati +14, America/Sao_Paulo −3), connected or not, to customers and references
(a reference who is a customer too), by party and by shared numbers, repeated attempt ids;
blocks by number and by person, open-ended, expired yesterday, ending today, starting
tomorrow, removed, several on one phone. Both sides read the same stored attempts and blocks;
the reference reads the configuration file itself (reference/front_end.py). Compared: the
contacts that remain (renumbered) and the suppressed ones with their reasons, row for row.
Examples per run: SQLCOMPILER_DIFF_EXAMPLES / 5 (at least 10).
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sqlcompiler import reference
from sqlcompiler import run as runner
from sqlcompiler.reference import front_end
from sqlcompiler.reference import policy as reference_policy
from sqlcompiler.source import attempts as stored_attempts
from tests.compiler.test_differential import (
    AS_OF,
    EXAMPLES,
    SETTINGS,
    _load,
    configurations,
    datasets,
)
from tests.scenario import configure

ZONES = ["Asia/Ho_Chi_Minh", "UTC", "Pacific/Kiritimati", "America/Sao_Paulo"]
HOURS = [dt.time(0, 0), dt.time(6, 59), dt.time(9, 30), dt.time(16, 30), dt.time(17, 30),
         dt.time(23, 59, 59)]  # UTC: around the day boundaries of every zone above  # fmt: skip
OUTCOMES = ["connected", "no_answer", "busy", "voicemail", "failed", "wrong_party"]


@st.composite
def policies(draw):
    limits = [
        {"per": draw(st.sampled_from(["party", "phone"])), "days": draw(st.sampled_from([1, 2, 7])),
         "attempts": draw(st.sampled_from([1, 1, 2, 3]))}
        for _ in range(draw(st.integers(0, 2)))
    ]  # fmt: skip
    return {
        "timezone": draw(st.sampled_from(ZONES)),
        "calling_window": {"start": "07:00", "end": draw(st.sampled_from(["21:00", "23:59"]))},
        "limits": limits,
        "after_connected_days": draw(st.sampled_from([0, 1, 3, 7, 7])),
        "reference_min_days": draw(st.sampled_from([0, 1, 2, 30, 30])),
    }


@st.composite
def histories(draw, data: dict, as_of: dt.date):
    """Attempts and blocks about the people and numbers of ``data``."""
    people = [c["cif"] for c in data["customers"]] + [r["ref_cif"] for r in data["references"]]
    numbers = sorted({p["number"] for p in data["phones"] if p["number"]} | {"+77"})
    attempts = []
    for i in range(draw(st.sampled_from([0, 3, 8, 16]))):
        # the edges of 1-, 2-, 7- and 30-day windows, today (most limits count it), tomorrow
        day = as_of + dt.timedelta(days=draw(st.sampled_from([-30, -29, -8, -7, -6, -2, -1, -1,
                                                              0, 0, 0, 1])))  # fmt: skip
        when = dt.datetime.combine(day, draw(st.sampled_from(HOURS)), dt.UTC)
        attempt_id = f"a{draw(st.integers(0, i))}"  # an id seen before: the first report stands
        attempts.append((attempt_id, draw(st.sampled_from(people)), draw(st.sampled_from(people)),
                         draw(st.sampled_from(numbers)), when,
                         draw(st.sampled_from(["connected", "connected", *OUTCOMES]))))  # fmt: skip
    blocks = []
    for _ in range(draw(st.integers(0, 3))):
        scope = draw(st.sampled_from(["phone", "party"]))
        value = draw(st.sampled_from(numbers if scope == "phone" else people))
        start = as_of + dt.timedelta(days=draw(st.integers(-3, 1)))
        end = draw(st.sampled_from([None, -1, 0, 2]))
        blocks.append((scope, value, draw(st.sampled_from(["do_not_call", "Dispute", "deceased"])),
                       start, None if end is None else max(start, as_of + dt.timedelta(days=end)),
                       draw(st.booleans()) and draw(st.booleans())))  # fmt: skip
    return attempts, blocks


def _store(conn, attempts: list, blocks: list) -> None:
    conn.execute("TRUNCATE campaign_engine.contact_attempts, campaign_engine.contact_blocks")
    if attempts:
        stored_attempts.record(conn, attempts)
    for scope, value, why, start, end, removed in blocks:
        conn.execute(
            "INSERT INTO campaign_engine.contact_blocks (scope, value, reason, valid_from, "
            "valid_until, added_by, removed_by, removed_at) VALUES (%s, %s, %s, %s, %s, 'test', "
            "%s, CASE WHEN %s THEN now() END)",
            (scope, value, why, start, end, "test" if removed else None, removed),
        )


def _expected(conn, config: dict, as_of: dt.date) -> tuple[list, list]:
    text = yaml.safe_dump(config, allow_unicode=True, sort_keys=False)
    mine = front_end.read(text, front_end.columns_of(conn), as_of, front_end.ids_in(conn))
    out = reference.evaluate(mine, reference.load_data(conn))
    removed = reference_policy.apply_all(conn, mine.policy, as_of, out)
    kept = list(
        (x.cif, x.campaign_group_id, x.campaign_id, c["position"], c["rule_priority"],
         c["party_type"], c["party_cif"], c["relationship_type"], c["contact_type"],
         c["phone_number"], c["is_primary"], c["is_verified"])
        for x in out for c in x.contacts
    )  # fmt: skip
    suppressed = list(
        (k["cif"], k["campaign_group_id"], k["campaign_id"], k["rule_priority"], k["party_type"],
         k["party_cif"], k["contact_type"], k["phone_number"], k["reason"])
        for k in removed
    )  # fmt: skip
    return kept, suppressed


@pytest.mark.property
@settings(max_examples=max(EXAMPLES // 5, 10), **SETTINGS)
@given(config=configurations(), data=datasets(), policy=policies(), as_of=st.sampled_from(AS_OF),
       extra=st.data())  # fmt: skip
def test_the_policy_stage_equals_the_reference(db, dsn, config, data, policy, as_of, extra):
    day = dt.date.fromisoformat(as_of)
    config = config | {"contact_policy": policy}
    _load(db, data)
    attempts, blocks = extra.draw(histories(data, day))
    _store(db, attempts, blocks)
    configure(db, config)
    runner.run(dsn, keep=1, force=True, as_of=day)
    got_kept = db.execute(
        "SELECT cif, campaign_group_id, campaign_id, position, rule_priority, party_type, "
        "party_cif, relationship_type, contact_type, phone_number, is_primary, is_verified "
        "FROM campaign_results.current_contacts"
    ).fetchall()
    got_suppressed = list(db.execute(
        "SELECT cif, campaign_group_id, campaign_id, rule_priority, party_type, party_cif, "
        "contact_type, phone_number, reason FROM campaign_results.current_suppressed_contacts"
    ).fetchall())  # fmt: skip
    want_kept, want_suppressed = _expected(db, config, day)
    event("suppresses a contact" if want_suppressed else "suppresses nothing")
    event("keeps a contact" if want_kept else "keeps no contact")
    for reason in {r[-1].split(":")[0] for r in want_suppressed}:
        event(f"reason {reason}")
    assert _sorted(got_suppressed) == _sorted(want_suppressed)
    assert _sorted(got_kept) == _sorted(want_kept)


def _sorted(rows: list) -> list:
    """Rows in one order whatever their NULLs (a phone without a type or number)."""
    return sorted(rows, key=lambda r: [(v is None, str(v)) for v in r])
