"""`attempts consume` against a real Kafka-protocol broker (tansu): attempts stored once each,
bad messages to the dead-letter topic with their reason, offsets committed after the store,
the database away retried."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from sqlcompiler.errors import UploadError
from sqlcompiler.kafka import attempts as consumer
from sqlcompiler.kafka import relay
from tests.kafka.test_relay import _settings, consume


def _attempt(n: int, **kw) -> dict:
    return {"attempt_id": f"a{n}", "cif": "C1", "party_cif": "C1", "phone_number": "+84901",
            "attempted_at": "2026-12-06T22:30:00+07:00", "outcome": "no_answer", **kw}  # fmt: skip


def _topics(kafka: str, payloads: list) -> relay.KafkaSettings:
    # a short session: tansu assigns partitions after half of it (23 s with the default 45 s)
    settings = _settings(kafka, extra={"session.timeout.ms": "6000"})
    stamp = time.time_ns()
    settings.attempts_topic = f"attempts-{stamp}"
    settings.attempts_dead_letter_topic = f"attempts-dlq-{stamp}"
    relay.ensure_topic(settings, settings.attempts_topic)
    _produce(kafka, settings, payloads)
    return settings


def _produce(kafka: str, settings, payloads: list) -> None:
    p = Producer({"bootstrap.servers": kafka})
    for payload in payloads:
        value = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        key = payload.get("cif") if isinstance(payload, dict) else None
        # keyed by cif, as docs/kafka.md advises: one person's attempts stay in order
        p.produce(settings.attempts_topic, key=key if isinstance(key, str) else None, value=value)
    p.flush(10)


def _committed(kafka: str, group: str, settings) -> int:
    c = Consumer({"bootstrap.servers": kafka, "group.id": group})
    parts = [TopicPartition(settings.attempts_topic, p) for p in range(settings.partitions)]
    committed = c.committed(parts, timeout=10)
    c.close()
    return sum(max(tp.offset, 0) for tp in committed)


def _stored(db) -> list[tuple]:
    return db.execute(
        "SELECT attempt_id, outcome, attempted_at AT TIME ZONE 'UTC', source "
        "FROM campaign_engine.contact_attempts ORDER BY attempt_id"
    ).fetchall()


def test_parse_says_what_is_wrong():
    assert consumer.parse(json.dumps(_attempt(1)).encode())[0] == "a1"
    for payload, why in [(b"{", "not valid JSON"), (b"[1]", "JSON object"),
                         (json.dumps(_attempt(1, outcome="")).encode(), "missing outcome"),
                         (json.dumps(_attempt(1, cif=7)).encode(), "cif must be text")]:  # fmt: skip
        with pytest.raises(ValueError, match=why):
            consumer.parse(payload)


def test_attempts_are_stored_once_and_bad_messages_are_dead_lettered(db, dsn, kafka):
    payloads = [
        _attempt(1),
        _attempt(2, outcome="connected", attempted_at="2026-12-07T01:00:00Z"),
        _attempt(1, outcome="connected"),  # the same id again: the first report stands
        "not json at all",
        _attempt(3, attempted_at="2026-12-07 09:00"),  # no UTC offset
        _attempt(4, outcome="hung_up"),
        {"attempt_id": "a5"},
    ]
    settings = _topics(kafka, payloads)
    said: list[str] = []
    group = f"attempts-{settings.attempts_topic}"
    stats = consumer.consume(dsn, settings, group_id=group, idle_exit=3.0, progress=said.append)
    assert (stats.messages, stats.stored, stats.repeated, stats.dead_lettered) == (7, 2, 1, 4)
    assert _stored(db) == [
        ("a1", "no_answer", dt(2026, 12, 6, 15, 30), f"kafka:{settings.attempts_topic}"),
        ("a2", "connected", dt(2026, 12, 7, 1, 0), f"kafka:{settings.attempts_topic}"),
    ]
    assert _committed(kafka, group, settings) == 7  # after the store
    letters = [json.loads(m.value()) for m in consume(kafka, settings.attempts_dead_letter_topic)]
    reasons = sorted(d["reason"] for d in letters)
    assert len(reasons) == 4
    assert "missing cif, party_cif, phone_number, attempted_at, outcome" in reasons
    assert any("no UTC offset" in r for r in reasons) and "not valid JSON" in reasons
    assert any("'hung_up' is not one of" in r for r in reasons)
    assert {d["payload"] for d in letters} >= {"not json at all"}  # the original, to fix and resend
    assert any("7 read, 2 stored, 1 seen before, 4 to" in s for s in said), said
    # the same group again: nothing left to read; a new group re-reads all, stores nothing new
    again = consumer.consume(dsn, settings, group_id=group, idle_exit=2.0)
    assert again.messages == 0
    replay = consumer.consume(dsn, settings, group_id=group + "-replay", idle_exit=3.0)
    assert (replay.messages, replay.stored, replay.repeated) == (7, 0, 3)
    assert len(_stored(db)) == 2


def test_the_database_away_the_batch_is_retried_and_stored(db, dsn, kafka):
    settings = _topics(kafka, [_attempt(1)])
    said: list[str] = []
    stop = threading.Event()
    out: dict = {}
    group = f"attempts-{settings.attempts_topic}"
    t = threading.Thread(target=lambda: out.update(stats=consumer.consume(
        dsn, settings, group_id=group, stop=stop.is_set, progress=said.append)))  # fmt: skip
    t.start()
    try:
        _wait(lambda: len(_stored(db)) == 1 and _committed(kafka, group, settings) == 1)
        # its connection ends (a failover, a restart): the next batch must still be stored
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name = 'sqlcompiler-attempts'")  # fmt: skip
        _produce(kafka, settings, [_attempt(2), _attempt(3)])
        _wait(lambda: len(_stored(db)) == 3 and _committed(kafka, group, settings) == 3)
    finally:
        stop.set()
        t.join(60)
    assert any("database error" in s and "retrying" in s for s in said), said
    assert out["stats"].stored == 3 and out["stats"].dead_lettered == 0


def _wait(condition, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the consumer did not get there"
        time.sleep(0.3)


def dt(*args):
    import datetime

    return datetime.datetime(*args)


def test_a_database_refusal_that_is_not_the_messages_fault_stops_with_nothing_committed(
    db, dsn, kafka
):
    """Run as a role that may not create the day's partition: the consumer stops and says
    why, no message is dead-lettered and no offset committed (they are read again)."""
    role = f"dialer_feed_{time.time_ns()}"
    db.execute(f"CREATE ROLE {role} LOGIN")
    settings = _topics(kafka, [_attempt(1), _attempt(2)])
    group = f"attempts-{settings.attempts_topic}"
    as_role = psycopg.conninfo.make_conninfo(dsn, user=role)
    try:
        with pytest.raises(UploadError, match="refused a batch of attempts: permission denied"):
            consumer.consume(as_role, settings, group_id=group, idle_exit=3.0)
    finally:
        db.execute(f"DROP ROLE {role}")
    assert _committed(kafka, group, settings) == 0 and _stored(db) == []
    relay.ensure_topic(settings, settings.attempts_dead_letter_topic)
    assert consume(kafka, settings.attempts_dead_letter_topic, idle=2.0) == []
