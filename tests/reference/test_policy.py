"""SPEC §6 by hand, rule by rule, against the reference statement of the contact policy: each
reason, their order, the window edges in a time zone whose day is not UTC's, renumbering, and
an assignment left without contacts. (The product's SQL stage is held against this reference
by the differential suite.)"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sqlcompiler.reference.policy import Attempt, Block, Limit, Policy, apply, first_reports, reason

HCM = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7: 17:00 UTC is already the next day there
D = dt.date(2026, 12, 7)
POLICY = Policy("Asia/Ho_Chi_Minh", dt.time(7), dt.time(21),
                limits=(Limit("party", 7, 7), Limit("phone", 1, 3)),
                after_connected_days=7, reference_min_days=30)  # fmt: skip


def _contact(position: int, number: str | None = "+84901", party: str = "C1",
             party_type: str = "customer") -> dict:  # fmt: skip
    return {"position": position, "rule_priority": 1, "party_type": party_type,
            "party_cif": party, "contact_type": "mobile", "phone_number": number}  # fmt: skip


def _at(day: dt.date, hour: int = 10, zone=HCM) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), zone)


def _attempt(n: int, when: dt.datetime, outcome: str = "no_answer", party: str = "C1",
             number: str = "+84901") -> Attempt:  # fmt: skip
    return Attempt(f"a{n}", "C1", party, number, when, outcome)


def _tries(n: int, day: dt.date, **kw) -> list[Attempt]:
    return [_attempt(i, _at(day), **kw) for i in range(n)]


def test_without_a_policy_nothing_is_removed():
    contacts = [_contact(1), _contact(2, "+84902")]
    out = apply(contacts, None, D, _tries(50, D), [Block("party", "C1", "dispute", D)])
    assert out.kept == contacts and out.suppressed == []


@pytest.mark.parametrize(
    "block, blocked",
    [
        (Block("phone", "+84901", "do_not_call", D), True),
        (Block("party", "C1", "cease_and_desist", D - dt.timedelta(days=30)), True),
        (Block("phone", "+84901", "dispute", D - dt.timedelta(days=9), D), True),  # until D
        (
            Block("phone", "+84901", "dispute", D - dt.timedelta(days=9), D - dt.timedelta(days=1)),
            False,
        ),  # expired yesterday
        (Block("phone", "+84901", "deceased", D + dt.timedelta(days=1)), False),  # from tomorrow
        (Block("phone", "+84999", "do_not_call", D), False),  # another number
        (Block("party", "R9", "do_not_call", D), False),  # another person
    ],
)
def test_blocked_while_a_block_is_active_on_the_day(block, blocked):
    got = reason(_contact(1), POLICY, D, [], [block])
    assert got == (f"blocked: {block.reason}" if blocked else None)


def test_several_blocks_the_earliest_then_the_reason_in_c_order():
    old = D - dt.timedelta(days=3)
    blocks = [Block("phone", "+84901", "dispute", D), Block("party", "C1", "deceased", old),
              Block("party", "C1", "Do_not_call", old)]  # fmt: skip
    assert reason(_contact(1), POLICY, D, [], blocks) == "blocked: Do_not_call"  # 'D' < 'd'


def test_a_phone_without_a_number_is_never_blocked_or_limited_by_number():
    policy = Policy("UTC", dt.time(7), dt.time(21), limits=(Limit("phone", 1, 1),))
    attempts = [_attempt(1, _at(D, zone=ZoneInfo("UTC")), number="+84901")]
    assert reason(_contact(1, None), policy, D, attempts, [Block("phone", "", "x", D)]) is None


def test_connected_recently_within_the_days_after_a_connected_attempt():
    seventh_day_back = D - dt.timedelta(days=6)  # D − (7 − 1): still within 7 days
    assert reason(_contact(1), POLICY, D, [_attempt(1, _at(seventh_day_back), "connected")],
                  []) == "connected_recently"  # fmt: skip
    eighth_day_back = D - dt.timedelta(days=7)
    assert reason(_contact(1), POLICY, D, [_attempt(1, _at(eighth_day_back), "connected")],
                  []) is None  # fmt: skip
    # another person's connected call, or one not connected, does not count
    assert reason(_contact(1), POLICY, D, [_attempt(1, _at(D), "connected", party="C2")],
                  []) is None  # fmt: skip
    assert reason(_contact(1), POLICY, D, [_attempt(1, _at(D), "voicemail")], []) is None


def test_the_day_is_the_policy_time_zones():
    """An attempt at 17:30 UTC on Nov 30 was made on Dec 1 in Ho Chi Minh City: the first of
    the 7 days up to D = Dec 7 there, a day too early in UTC."""
    edge = D - dt.timedelta(days=6)  # Dec 1, the first day within 7 days
    just_after = dt.datetime.combine(edge - dt.timedelta(days=1), dt.time(17, 30), dt.UTC)
    assert just_after.astimezone(HCM).date() == edge  # Dec 1 in Vietnam, Nov 30 in UTC
    assert reason(_contact(1), POLICY, D, [_attempt(1, just_after, "connected")],
                  []) == "connected_recently"  # fmt: skip
    just_before = dt.datetime.combine(edge - dt.timedelta(days=1), dt.time(16, 30), dt.UTC)
    assert just_before.astimezone(HCM).date() == edge - dt.timedelta(days=1)  # 23:30 Nov 30
    assert reason(_contact(1), POLICY, D, [_attempt(1, just_before, "connected")], []) is None
    utc = Policy("UTC", dt.time(7), dt.time(21), after_connected_days=7)
    assert reason(_contact(1), utc, D, [_attempt(1, just_after, "connected")], []) is None


def test_reference_recently_only_for_references():
    call = [_attempt(1, _at(D - dt.timedelta(days=29)), party="R1")]
    ref = _contact(1, "+84911", party="R1", party_type="reference")
    assert reason(ref, POLICY, D, call, []) == "reference_recently"
    assert (
        reason(ref, POLICY, D, [_attempt(1, _at(D - dt.timedelta(days=30)), party="R1")], [])
        is None
    )  # fmt: skip  (day 31 back)
    own = _contact(1, "+84911", party="R1", party_type="customer")  # R1 as a customer
    assert reason(own, POLICY, D, call, []) is None


def test_limits_in_the_order_written_the_first_reached_gives_the_reason():
    six_days = [a for i in range(7) for a in [_attempt(i, _at(D - dt.timedelta(days=i)),
                                                        number=f"+8490{i}")]]  # fmt: skip
    assert reason(_contact(1), POLICY, D, six_days, []) == "limit: party/7d"  # 7 in 7 days
    assert reason(_contact(1), POLICY, D, six_days[:6], []) is None  # 6: under the limit
    today = _tries(3, D, party="C9")  # three calls today to this number, about someone else
    assert reason(_contact(1), POLICY, D, today, []) == "limit: phone/1d"
    both = today + six_days  # both limits reached: the party limit is written first
    assert reason(_contact(1), POLICY, D, both, []) == "limit: party/7d"
    yesterday = _tries(3, D - dt.timedelta(days=1), party="C9")
    assert reason(_contact(1), POLICY, D, yesterday, []) is None  # 1d: today only


def test_the_order_of_reasons():
    connected = [_attempt(i, _at(D), "connected", party="R1") for i in range(7)]
    ref = _contact(1, "+84901", party="R1", party_type="reference")
    blocked = [Block("phone", "+84901", "do_not_call", D)]
    assert reason(ref, POLICY, D, connected, blocked) == "blocked: do_not_call"
    assert reason(ref, POLICY, D, connected, []) == "connected_recently"
    not_connected = [_attempt(i, _at(D), "busy", party="R1") for i in range(7)]
    assert reason(ref, POLICY, D, not_connected, []) == "reference_recently"
    assert reason(_contact(1, party="R1"), POLICY, D, not_connected, []) == "limit: party/7d"


def test_renumbering_and_the_calling_window():
    contacts = [_contact(1, "+84901"), _contact(2, "+84902"), _contact(3, "+84903")]
    out = apply(contacts, POLICY, D, [], [Block("phone", "+84902", "do_not_call", D)])
    assert [(c["phone_number"], c["position"]) for c in out.kept] == [("+84901", 1), ("+84903", 2)]
    assert [(c["phone_number"], c["reason"]) for c in out.suppressed] == [
        ("+84902", "blocked: do_not_call")
    ]
    start, end = out.kept[0]["window_start"], out.kept[0]["window_end"]
    assert start == dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)  # 07:00 in Vietnam
    assert end == dt.datetime(2026, 12, 7, 14, 0, tzinfo=dt.UTC)  # 21:00 in Vietnam


def test_an_assignment_can_be_left_with_no_contact():
    out = apply([_contact(1), _contact(2, "+84902")], POLICY, D, [],
                [Block("party", "C1", "dispute", D)])  # fmt: skip
    assert out.kept == [] and len(out.suppressed) == 2


def test_the_first_report_of_an_attempt_stands():
    first = _attempt(1, _at(D), "no_answer")
    again = Attempt("a1", "C1", "C1", "+84901", _at(D, 12), "connected")
    assert first_reports([first, again]) == [first]
