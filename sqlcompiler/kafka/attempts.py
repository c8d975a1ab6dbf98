"""``sqlcompiler attempts consume``: contact attempts from a Kafka topic (SPEC §6's input).

A message is one attempt as a JSON object with the keys of `attempts upload`'s JSON lines
(attempt_id, cif, party_cif, phone_number, attempted_at with its UTC offset, outcome). Messages
polled together are stored in one transaction, then the offsets are committed: at least once,
and a message seen twice is stored once (by attempt_id, the first report stands). A message
that is not an attempt goes to the dead-letter topic with the reason and the original payload,
and consuming goes on. The database away: the batch is retried, its offsets not committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from ..errors import ConnectionFailed, RelayError, UploadError
from ..infra import metrics
from ..infra.connection import connect
from ..progress import Progress, quiet
from ..source import attempts
from . import relay
from .settings import KafkaSettings, dead_letter, json_object


@dataclass
class ConsumeStats:
    batches: int = 0
    messages: int = 0
    stored: int = 0
    repeated: int = 0  # attempt ids seen before
    dead_lettered: int = 0


def parse(payload: bytes | None) -> tuple:
    """One attempt as stored, or ValueError with the reason."""
    return attempts.parse(json_object(payload, "an attempt"))


def consume(
    dsn: str,
    settings: KafkaSettings,
    *,
    group_id: str = "sqlcompiler-attempts",
    batch_size: int = 5000,
    stop: Callable[[], bool] = lambda: False,
    idle_exit: float | None = None,
    progress: Progress = quiet,
) -> ConsumeStats:
    """Consume until ``stop()``, or until nothing came for ``idle_exit`` seconds."""
    from confluent_kafka import Consumer

    stats = ConsumeStats()
    _topics(settings, stop, progress)
    consumer = Consumer(settings.client_config(**{
        "group.id": group_id, "enable.auto.commit": False, "auto.offset.reset": "earliest",
    }))  # fmt: skip
    producer = settings.producer()
    idle_since: list[float] = []  # idleness counts once partitions are assigned

    def assigned(_consumer, _partitions) -> None:
        idle_since[:] = [time.monotonic()]

    consumer.subscribe([settings.attempts_topic], on_assign=assigned)
    db = _Database(dsn)
    try:
        while not stop():
            msgs = [
                m
                for m in consumer.consume(num_messages=batch_size, timeout=1.0)
                if m.error() is None
            ]
            if not msgs:
                if idle_exit is not None and idle_since:
                    if time.monotonic() - idle_since[0] >= idle_exit:
                        break
                continue
            if not _batch(db, producer, settings, msgs, stats, stop, progress):
                break  # stopped while the database was away: nothing committed
            consumer.commit(asynchronous=False)  # only now: attempts and dead letters stored
            idle_since[:] = [time.monotonic()]
    finally:
        consumer.close()
        db.close()
    return stats


class _Database:
    """The connection, made again after the database went away."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection | None = None

    def get(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.dsn, autocommit=True, application="sqlcompiler-attempts")
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _topics(settings: KafkaSettings, stop: Callable[[], bool], progress: Progress) -> None:
    delay = 1.0
    while True:  # a broker that is away at start is waited for, not a reason to exit
        try:
            for topic in (settings.attempts_topic, settings.attempts_dead_letter_topic):
                relay.ensure_topic(settings, topic)
            return
        except RelayError as exc:
            if stop():
                return
            progress(f"attempts: {exc}; retrying in {delay:.0f}s")
            relay.wait_or_stop(delay, stop)
            delay = min(delay * 2, 30.0)


def _batch(
    db: _Database, producer, settings: KafkaSettings, msgs, stats: ConsumeStats, stop, progress
):
    """Store one batch; False when stopped before it was stored."""
    rows, bad = [], 0
    for m in msgs:
        try:
            rows.append((m, parse(m.value())))
        except ValueError as exc:
            _dead(producer, settings, m, str(exc))
            bad += 1
    source = f"kafka:{settings.attempts_topic}"
    delay = 1.0
    while True:
        try:
            stored, repeated = _store(db.get(), producer, settings, rows, source)
            break
        except (psycopg.OperationalError, ConnectionFailed) as exc:  # retried, not dropped
            db.close()
            if stop():
                return False
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            progress(f"attempts: database error ({first}); retrying in {delay:.0f}s")
            relay.wait_or_stop(delay, stop)
            delay = min(delay * 2, 30.0)
    if producer.flush(30):
        raise RelayError("dead letters were not acknowledged by the broker")
    bad += len(rows) - stored - repeated  # those the database refused went to dead letters
    stats.batches += 1
    stats.messages += len(msgs)
    stats.stored += stored
    stats.repeated += repeated
    stats.dead_lettered += bad
    metrics.ATTEMPTS.labels(outcome="stored").inc(stored)
    metrics.ATTEMPTS.labels(outcome="repeated").inc(repeated)
    metrics.ATTEMPTS.labels(outcome="dead_letter").inc(bad)
    progress(f"attempts: {len(msgs):,} read, {stored:,} stored, {repeated:,} seen before, "
             f"{bad:,} to {settings.attempts_dead_letter_topic}")  # fmt: skip
    return True


def _store(conn, producer, settings: KafkaSettings, rows, source: str) -> tuple[int, int]:
    """The batch in one transaction; when the database refuses it, attempt by attempt, the
    refused ones to dead letters with the database's reason."""
    if not rows:
        return 0, 0
    try:
        return attempts.record(conn, [r for _m, r in rows], source)
    except MESSAGE_ERRORS:
        pass
    except (psycopg.OperationalError, psycopg.InterfaceError):
        raise
    except psycopg.Error as exc:  # not the messages' fault: nothing committed, all read again
        raise UploadError(_refused(exc)) from None
    stored = repeated = 0
    for m, r in rows:
        try:
            s, rep = attempts.record(conn, [r], source)
        except MESSAGE_ERRORS as exc:
            reason = (exc.diag.message_primary or str(exc)).strip()
            _dead(producer, settings, m, f"refused by the database: {reason}")
            continue
        stored, repeated = stored + s, repeated + rep
    return stored, repeated


# what one message can cause (a value the column refuses); anything else (privileges, a
# schema behind the code) stops consuming with the offsets uncommitted
MESSAGE_ERRORS = (psycopg.DataError, psycopg.IntegrityError)


def _refused(exc: psycopg.Error) -> str:
    reason = (exc.diag.message_primary or str(exc)).strip()
    return (f"the database refused a batch of attempts: {reason}; nothing was committed, the "
            "messages are read again on the next start (run `attempts consume` as the "
            "schema's owner: it creates each day's partition)")  # fmt: skip


def _dead(producer, settings: KafkaSettings, msg, reason: str) -> None:
    dead_letter(producer, settings.attempts_dead_letter_topic, msg, reason)
