"""``sqlcompiler serve``: answer processing requests from a Kafka topic.

A request is JSON ``{"request_id": "...", "cifs": ["C1", ...]}`` or
``{"request_id": "...", "all": true}``. Requests polled together are batched into one run
(the union of their cifs, or a full run if any asks for all); the run's messages carry every
request id. Offsets are committed only after the run committed and its messages were
acknowledged. Invalid requests go to the dead-letter topic with the reason and the original
payload, and the service keeps going. Several instances in one consumer group split the
partitions; runs stay one at a time (the database run lock), so a busy lock is retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from .. import run as runner
from ..errors import RelayError, RunLocked, SqlCompilerError
from ..infra import metrics
from ..infra.connection import connect
from ..progress import Progress, quiet
from . import relay
from .settings import dead_letter, json_object

MAX_CIFS = 100_000


@dataclass
class Request:
    request_id: str
    cifs: list[str] | None  # None: everyone
    message: object  # the Kafka message, for its offset


@dataclass
class ServeStats:
    batches: int = 0
    requests: int = 0
    dead_lettered: int = 0
    runs: list[int] = field(default_factory=list)


def parse(payload: bytes | None) -> tuple[str, list[str] | None]:
    """(request_id, cifs or None for all), or ValueError with the reason."""
    doc = json_object(payload, "a request")
    rid = doc.get("request_id")
    if not isinstance(rid, str) or not rid.strip():
        raise ValueError("missing field request_id (a non-empty string)")
    if doc.get("all") is True or doc.get("cifs") == "all":
        return rid, None
    cifs = doc.get("cifs")
    if (
        not isinstance(cifs, list)
        or not cifs
        or not all(isinstance(c, str) and c.strip() for c in cifs)
    ):
        raise ValueError('missing field cifs (a non-empty list of strings) or "all": true')
    if len(cifs) > MAX_CIFS:
        raise ValueError(f"more than {MAX_CIFS:,} cifs in one request; split it or ask for all")
    return rid, [c.strip() for c in cifs]


def _unknown(conn: psycopg.Connection, cifs: list[str]) -> list[str]:
    """Up to 10 of ``cifs`` the bank does not know, in request order. The known ones are
    looked up by list, not by a correlated subquery over unnest(): Citus refuses that form."""
    known = {
        r[0]
        for r in conn.execute(
            "SELECT cif FROM bank_sync_service.customers WHERE cif = ANY(%s)", (cifs,)
        ).fetchall()
    }
    conn.commit()
    return [c for c in dict.fromkeys(cifs) if c not in known][:10]


def _dead_letter(producer, settings: relay.KafkaSettings, msg, reason: str) -> None:
    dead_letter(producer, settings.dead_letter_topic, msg, reason)
    metrics.REQUESTS.labels(outcome="dead_letter").inc()


def _run_with_retry(dsn, cifs, request_ids, progress, attempts=8) -> runner.RunResult:
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            return runner.run(dsn, cifs=cifs, request_ids=request_ids, progress=progress)
        except RunLocked:
            if attempt == attempts:
                raise
            progress(
                f"serve: another run holds the lock; retrying in {delay:.0f}s ({attempt}/{attempts})"
            )
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        except psycopg.OperationalError as exc:  # transient database trouble
            if attempt == attempts:
                raise
            progress(f"serve: database error ({exc}); retrying in {delay:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


def serve(
    dsn: str,
    settings: relay.KafkaSettings,
    *,
    group_id: str = "sqlcompiler-serve",
    batch_size: int = 100,
    stop: Callable[[], bool] = lambda: False,
    progress: Progress = quiet,
) -> ServeStats:
    from confluent_kafka import Consumer

    stats = ServeStats()
    delay = 1.0
    while True:  # a broker that is away at start is waited for, not a reason to exit
        try:
            for topic in (settings.request_topic, settings.dead_letter_topic, settings.topic):
                relay.ensure_topic(settings, topic)
            break
        except RelayError as exc:
            if stop():
                return stats
            progress(f"serve: {exc}; retrying in {delay:.0f}s")
            relay.wait_or_stop(delay, stop)
            delay = min(delay * 2, 30.0)
    consumer = Consumer(settings.client_config(**{
        "group.id": group_id, "enable.auto.commit": False, "auto.offset.reset": "earliest",
    }))  # fmt: skip
    producer = settings.producer()
    consumer.subscribe([settings.request_topic])
    try:
        with connect(dsn, application="sqlcompiler-serve") as conn:
            while not stop():
                msgs = consumer.consume(num_messages=batch_size, timeout=1.0)
                msgs = [m for m in msgs if m.error() is None]
                if not msgs:
                    continue
                good: list[Request] = []
                for m in msgs:
                    try:
                        rid, cifs = parse(m.value())
                        if cifs is not None:
                            unknown = _unknown(conn, cifs)
                            if unknown:
                                raise ValueError(f"unknown cifs: {', '.join(unknown)}")
                        good.append(Request(rid, cifs, m))
                    except ValueError as exc:
                        _dead_letter(producer, settings, m, str(exc))
                        stats.dead_lettered += 1
                if good:
                    everyone = any(r.cifs is None for r in good)
                    cifs = None if everyone else sorted({c for r in good for c in r.cifs or []})
                    ids = [r.request_id for r in good]
                    try:
                        res = _run_with_retry(dsn, cifs, ids, progress)
                        if res.status == "held":  # a guard stopped it: nothing to answer with
                            raise SqlCompilerError(f"run {res.run_id} held: {res.hold_reason}")
                        relay.publish_run(
                            conn, producer, res.run_id, settings.topic, progress=progress
                        )
                        stats.runs.append(res.run_id)
                        metrics.REQUESTS.labels(outcome="answered").inc(len(good))
                        progress(f"serve: run {res.run_id} answered {len(good)} request(s)")
                    except SqlCompilerError as exc:  # permanent: the run is marked failed
                        for r in good:
                            _dead_letter(producer, settings, r.message, f"run failed: {exc}")
                            stats.dead_lettered += 1
                if producer.flush(30):
                    raise SqlCompilerError("dead letters were not acknowledged by the broker")
                consumer.commit(
                    asynchronous=False
                )  # only now: results and dead letters are durable
                stats.batches += 1
                stats.requests += len(msgs)
    finally:
        consumer.close()
    return stats
