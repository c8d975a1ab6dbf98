"""sqlcompiler serve against a real Kafka-protocol broker (tansu)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from sqlcompiler.kafka import relay, serve
from tests.kafka.test_relay import _settings, _setup, consume


def test_parse_requests():
    assert serve.parse(b'{"request_id": "r1", "cifs": ["C1", " C2 "]}') == ("r1", ["C1", "C2"])
    assert serve.parse(b'{"request_id": "r2", "all": true}') == ("r2", None)
    for bad, why in [(b"not json", "not valid JSON"), (b"[]", "JSON object"), (b'{"cifs": ["C1"]}', "request_id"),
                     (b'{"request_id": "r", "cifs": []}', "non-empty list")]:  # fmt: skip
        with pytest.raises(ValueError, match=why):
            serve.parse(bad)


def requested(kafka: str, payloads: list) -> relay.KafkaSettings:
    """Fresh topics, with ``payloads`` (dicts as JSON, strings as they are) on the request one."""
    # a short session: tansu assigns partitions after half of it (23 s with the default 45 s)
    settings = _settings(kafka, extra={"session.timeout.ms": "6000"})
    stamp = time.time_ns()
    settings.request_topic = f"requests-{stamp}"
    settings.dead_letter_topic = f"dlq-{stamp}"
    for t in (settings.request_topic, settings.dead_letter_topic, settings.topic):
        relay.ensure_topic(settings, t)
    p = Producer({"bootstrap.servers": kafka})
    for payload in payloads:
        p.produce(
            settings.request_topic,
            value=payload.encode() if isinstance(payload, str) else json.dumps(payload).encode(),
        )
    p.flush(10)
    return settings


def serve_until_answered(db, dsn: str, kafka: str, settings, commits: int) -> serve.ServeStats:
    """Run serve in a thread until a requested run succeeded and ``commits`` request offsets
    are committed (after the results): state, not time."""
    stop = threading.Event()
    out = {}
    group = f"serve-{settings.request_topic}"
    t = threading.Thread(
        target=lambda: out.update(
            stats=serve.serve(dsn, settings, group_id=group, stop=stop.is_set)
        )
    )
    t.start()
    try:
        deadline = time.monotonic() + 90
        while not (_done(db) and _committed(kafka, group, settings) == commits):
            assert t.is_alive(), "serve exited"
            assert time.monotonic() < deadline, "serve did not answer the requests"
            time.sleep(0.5)
    finally:
        stop.set()
        t.join(60)
    return out["stats"]


def test_serve_answers_requests_and_dead_letters_bad_ones(db, dsn, kafka):
    _setup(db, n=4)
    settings = requested(
        kafka,
        [
            {"request_id": "r1", "cifs": ["C1", "C2", "C3"]},
            {"request_id": "r2", "all": True},
            "this is not json",
            {"cifs": ["C1"]},
            {"request_id": "r3", "cifs": ["NOPE"]},
        ],
    )
    stats = serve_until_answered(db, dsn, kafka, settings, commits=5)
    assert stats.dead_lettered == 3
    answered = [
        json.loads(m.value())
        for m in consume(kafka, settings.topic)
        if dict(m.headers())["schema"] == relay.SCHEMA.encode()
    ]
    by_request = {r: {m["cif"] for m in answered if r in m["request_ids"]} for r in ("r1", "r2")}
    assert by_request["r1"] >= {"C1", "C2", "C3"}
    assert by_request["r2"] == {"C0", "C1", "C2", "C3"}  # "all": every customer
    assert all(set(m["request_ids"]) <= {"r1", "r2"} and m["request_ids"] for m in answered)
    ids = [m["message_id"] for m in answered]
    assert len(ids) == len(set(ids))  # each (run, group, cif) answered once
    dead = {json.loads(m.value())["reason"] for m in consume(kafka, settings.dead_letter_topic)}
    assert dead == {
        "not valid JSON",
        "missing field request_id (a non-empty string)",
        "unknown cifs: NOPE",
    }
    group = f"serve-{settings.request_topic}"
    assert _committed(kafka, group, settings) == 5  # every request's offset, after the results


def _committed(kafka: str, group: str, settings) -> int:
    c = Consumer({"bootstrap.servers": kafka, "group.id": group})
    committed = c.committed(
        [TopicPartition(settings.request_topic, p) for p in range(settings.partitions)], timeout=10
    )
    c.close()
    return sum(max(tp.offset, 0) for tp in committed)


def _done(db) -> bool:
    row = db.execute(
        "SELECT count(*) FROM campaign_results.runs WHERE request_ids <> '{}' AND status = 'succeeded'"
    ).fetchone()
    return row[0] > 0


def test_serve_waits_for_a_broker_that_is_away_and_stops_on_request(dsn):
    """It used to exit after ~11 s; now it retries with backoff until the broker or a stop.
    Waited for by its own line (a failed attempt it retries, where it used to exit), not by
    time."""
    from tests.conftest import _free_port

    settings = relay.KafkaSettings(bootstrap=f"127.0.0.1:{_free_port()}", topic="t")
    stop = threading.Event()
    lines: list[str] = []
    retried = threading.Event()

    def progress(line: str) -> None:
        lines.append(line)
        if any("retrying" in x for x in lines):
            retried.set()

    out = {}
    t = threading.Thread(
        target=lambda: out.update(
            stats=serve.serve(dsn, settings, stop=stop.is_set, progress=progress)
        )
    )
    t.start()
    assert retried.wait(120), lines
    assert t.is_alive()  # still waiting
    stop.set()
    t.join(15)
    assert not t.is_alive() and out["stats"].runs == []
    assert any("retrying" in line for line in lines)
