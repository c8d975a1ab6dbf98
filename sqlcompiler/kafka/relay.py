"""Publish run results to Kafka: at-least-once, resumable, never a gap.

Per run, three kinds of message (docs/kafka.md): an assignment per (cif, group) the run
assigned; an unassignment per (cif, group) that was assigned before the run and is not after
it; then a run-completed control message on every partition, so a consumer knows the batch is
whole. Assignments and unassignments never share a (cif, group) in one run, so both are read
together in (cif, campaign_group_id) order in batches; each message is built in SQL. A batch counts as published only when every delivery report came back
without error; then the watermark in campaign_results.relay_progress moves past it in one
commit. A crash re-sends at most the batch in flight (duplicates carry the same message_id).
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from psycopg import sql

from ..errors import RelayError
from ..infra import metrics
from ..infra.connection import connect, connect_like
from ..progress import Progress, quiet
from .messages import (  # noqa: F401 - the schema names are the relay's public ones
    COMPLETED,
    COMPLETED_SCHEMA,
    SCHEMA,
    UNASSIGNED_SCHEMA,
    messages,
)
from .settings import KafkaSettings as KafkaSettings
from .settings import PermanentRelayError as PermanentRelayError
from .settings import ensure_topic as ensure_topic

NOTIFY_CHANNEL = "sqlcompiler_runs"


@dataclass
class RelayStats:
    runs: int = 0
    messages: int = 0
    seconds: float = 0.0


def _progress_row(
    conn: psycopg.Connection, run_id: int, topic: str
) -> tuple[str, int, int, int, bool]:
    row = conn.execute(
        "SELECT coalesce(last_cif, ''), coalesce(last_group, -1), published, total, completed_at IS NOT NULL "
        "FROM campaign_results.relay_progress WHERE run_id = %s AND topic = %s",
        (run_id, topic),
    ).fetchone()
    if row is None:
        total = conn.execute(
            "SELECT (SELECT count(*) FROM campaign_results.assignments WHERE run_id = %(run)s) "
            "+ (SELECT count(*) FROM campaign_results.unassignments WHERE run_id = %(run)s)",
            {"run": run_id},
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO campaign_results.relay_progress (run_id, topic, total) VALUES (%s, %s, %s)",
            (run_id, topic, total),
        )
        conn.commit()
        return "", -1, 0, total, False
    return row


def publish_run(
    conn: psycopg.Connection,
    producer,
    run_id: int,
    topic: str,
    *,
    batch: int = 5000,
    flush_timeout: float = 60.0,
    progress: Progress = quiet,
    on_batch: Callable[[int], None] = lambda _n: None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Publish one run from its watermark on; return the number of messages sent now."""
    last_cif, last_group, published, total, done = _progress_row(conn, run_id, topic)
    if done:
        return 0
    with connect_like(conn, "sqlcompiler-relay-reader", autocommit=True) as reader:
        # The reader's settings, whatever the server's: a stock server's jit = on compiled
        # each batch's query for ~0.4 s when its estimate was many times the batch (issue 34;
        # the estimate is the batch now), and the batch's messages are sorted by key: ~5 MB
        # per 5,000 messages, which a default work_mem of 4 MB sorts on disk.
        reader.execute("SET jit = off")
        reader.execute(sql.SQL("SET work_mem = {}").format(sql.Literal(f"{_work_mem(batch)}kB")))
        with ThreadPoolExecutor(1, thread_name_prefix="relay-reader") as pool:
            return _publish_batches(
                conn, reader, pool, producer, run_id, topic, batch, flush_timeout, progress,
                on_batch, stop, (last_cif, last_group, published, total),
            )  # fmt: skip


def _publish_batches(
    conn, reader, pool, producer, run_id, topic, batch, flush_timeout, progress, on_batch, stop,
    state,
) -> int:  # fmt: skip
    """The batches of one run. A second connection builds batch N+1 (the SQL is most of the
    relay's time) while batch N is produced and delivered; batch N's watermark is committed
    only after every delivery report of batch N came back, as before."""
    last_cif, last_group, published, total = state
    sent = 0
    params = {"schema": SCHEMA, "unassigned_schema": UNASSIGNED_SCHEMA, "run": run_id}

    query = messages(batch)

    def fetch(cif: str, group: int) -> list[tuple]:
        return reader.execute(query, {**params, "cif": cif, "group": group}).fetchall()

    pending = pool.submit(fetch, last_cif, last_group)
    while True:
        rows = pending.result()
        complete = len(rows) < batch
        if not complete:
            pending = pool.submit(fetch, rows[-1][0], rows[-1][1])
        errors: list[str] = []

        def report(err, _msg, errors=errors) -> None:
            if err is not None:
                errors.append(str(err))

        for cif, group, schema, value in rows:
            suffix = ":unassigned" if schema == UNASSIGNED_SCHEMA else ""
            message_id = f"{run_id}:{group}:{cif}{suffix}"
            _produce(producer, topic, cif, value, run_id, message_id, schema, report, stop)
        if complete:  # the control message goes out with the last batch, acknowledged with it
            _completed(conn, producer, topic, run_id, report)
        remaining = _flush(producer, flush_timeout, stop)
        if remaining or errors:
            why = (
                errors[0]
                if errors
                else f"{remaining} messages not acknowledged within {flush_timeout:.0f}s"
            )
            raise RelayError(
                f"run {run_id}: publishing to {topic!r} failed: {why}; the watermark stays before this batch"
            )
        if rows:
            last_cif, last_group = rows[-1][0], rows[-1][1]
            published += len(rows)
            sent += len(rows)
        conn.execute(
            "UPDATE campaign_results.relay_progress SET last_cif = %s, last_group = %s, published = %s, "
            "updated_at = now(), completed_at = CASE WHEN %s THEN now() END WHERE run_id = %s AND topic = %s",
            (
                last_cif or None,
                last_group if last_group >= 0 else None,
                published,
                complete,
                run_id,
                topic,
            ),
        )
        conn.commit()
        on_batch(len(rows))
        progress(f"  run {run_id}: {published:,}/{total:,} published")
        if complete:
            return sent


def _work_mem(batch: int) -> int:
    """kB for sorting one batch's messages in memory: ~1 kB each, with room for contact-heavy
    assignments, and never below 64 MB."""
    return max(64 * 1024, 4 * batch)


class Stopped(Exception):
    """stop() turned true mid-batch: the batch is not recorded and will be sent again."""


def _produce(
    producer, topic, key, value, run_id, message_id, schema, report, stop=lambda: False, **where
) -> None:
    headers = [
        ("run_id", str(run_id).encode()),
        ("message_id", message_id.encode()),
        ("schema", schema.encode()),
    ]
    while True:
        try:
            producer.produce(
                topic, key=key.encode(), value=value.encode(), headers=headers,
                on_delivery=report, **where,
            )  # fmt: skip
            break
        except BufferError:  # local queue full (the broker is away?): let deliveries drain
            if stop():
                raise Stopped from None
            producer.poll(0.5)
    producer.poll(0)


def _flush(producer, timeout: float, stop: Callable[[], bool]) -> int:
    """flush() in one-second slices so that a SIGTERM is acted on within a second or two."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if not remaining or time.monotonic() >= deadline:
            return remaining
        if stop():
            raise Stopped


def _completed(conn: psycopg.Connection, producer, topic: str, run_id: int, report) -> None:
    """The run-completed control message, once on every partition of the topic: a consumer
    reading any one partition learns that the run's messages before it are all there."""
    value = conn.execute(COMPLETED, {"schema": COMPLETED_SCHEMA, "run": run_id}).fetchone()[0]
    conn.commit()
    meta = producer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise RelayError(f"cannot read the partitions of topic {topic!r}")
    for partition in sorted(meta.partitions):
        message_id = f"{run_id}:completed:{partition}"
        _produce(producer, topic, f"run:{run_id}", value, run_id, message_id, COMPLETED_SCHEMA,
                 report, partition=partition)  # fmt: skip


def pending_runs(conn: psycopg.Connection, topic: str, run_id: int | None = None) -> list[int]:
    rows = conn.execute(
        """SELECT r.run_id FROM campaign_results.runs r
           LEFT JOIN campaign_results.relay_progress p ON p.run_id = r.run_id AND p.topic = %s
           WHERE r.status = 'succeeded' AND NOT r.dry_run AND p.completed_at IS NULL
             AND (%s::bigint IS NULL OR r.run_id = %s::bigint)
           ORDER BY r.run_id""",
        (topic, run_id, run_id),
    ).fetchall()
    conn.commit()
    return [r[0] for r in rows]


def lag(conn: psycopg.Connection, topic: str) -> int:
    """Assignments of succeeded runs not yet acknowledged by the broker."""
    row = conn.execute(
        """SELECT coalesce(sum(coalesce(p.total, r.assignments) - coalesce(p.published, 0)), 0)
           FROM campaign_results.runs r
           LEFT JOIN campaign_results.relay_progress p ON p.run_id = r.run_id AND p.topic = %s
           WHERE r.status = 'succeeded' AND NOT r.dry_run AND p.completed_at IS NULL""",
        (topic,),
    ).fetchone()
    conn.commit()
    return int(row[0])


def relay(
    dsn: str,
    settings: KafkaSettings,
    *,
    run_id: int | None = None,
    follow: bool = False,
    batch: int = 5000,
    poll_seconds: float = 30.0,
    stop: Callable[[], bool] = lambda: False,
    progress: Progress = quiet,
    max_attempts: int = 5,
    flush_timeout: float = 60.0,
    max_backoff: float = 30.0,
) -> RelayStats:
    """Publish pending runs; with ``follow``, wait for new runs (LISTEN) until ``stop()``.

    Broker trouble (unreachable, a restart with a batch in flight, a fatal error of the
    idempotent producer such as UNKNOWN_PRODUCER_ID) discards the producer and, after a capped
    backoff, starts a new one from the stored progress: the unacknowledged batch is sent again
    (at-least-once, same keys and message ids). A one-shot relay gives up after
    ``max_attempts``; ``follow`` waits as long as it takes, acting on ``stop()`` within seconds.
    """
    from confluent_kafka import KafkaException

    stats = RelayStats()
    t0 = time.monotonic()
    producer = None
    attempt = 0
    with connect(dsn, application="sqlcompiler-relay") as conn:
        if (
            run_id is not None
            and not conn.execute(
                "SELECT 1 FROM campaign_results.runs WHERE run_id = %s AND status = 'succeeded' AND NOT dry_run",
                (run_id,),
            ).fetchone()
        ):
            raise RelayError(f"run {run_id} is not a succeeded run (see `sqlcompiler runs`)")
        conn.rollback()
        listener = None
        if follow:
            listener = connect(dsn, autocommit=True, application="sqlcompiler-relay-listen")
            listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        try:
            while not stop():
                try:
                    if producer is None:
                        ensure_topic(settings, settings.topic)
                        producer = settings.producer()
                    for rid in pending_runs(conn, settings.topic, run_id):
                        t_run = time.monotonic()
                        n = publish_run(conn, producer, rid, settings.topic, batch=batch, progress=progress,
                                        flush_timeout=flush_timeout, on_batch=metrics.RELAYED.inc,
                                        stop=stop)  # fmt: skip
                        metrics.BROKER_LATENCY.observe(time.monotonic() - t_run)
                        stats.runs += 1
                        stats.messages += n
                        progress(f"run {rid}: {n:,} messages published to {settings.topic}")
                    metrics.RELAY_LAG.set(lag(conn, settings.topic))
                    attempt = 0
                except Stopped:
                    conn.rollback()
                    break
                except PermanentRelayError:
                    raise
                except (psycopg.OperationalError, RelayError, KafkaException) as exc:
                    attempt += 1
                    metrics.ERRORS.labels(kind=type(exc).__name__).inc()
                    conn.rollback() if not conn.closed else None
                    _discard(producer)
                    producer = None
                    if not follow and attempt >= max_attempts:
                        raise RelayError(
                            f"relay gave up after {attempt} attempt(s): {exc}"
                        ) from None
                    delay = min(max_backoff, 0.5 * 2**attempt)
                    limit = f"/{max_attempts}" if not follow else ""
                    progress(f"relay: {exc}; retrying in {delay:.1f}s ({attempt}{limit})")
                    wait_or_stop(delay, stop)
                    continue
                if not follow:
                    break
                _wait(listener, poll_seconds, stop)
        finally:
            if listener is not None:
                listener.close()
            if producer is not None:
                producer.flush(1 if stop() else 10)
    stats.seconds = time.monotonic() - t0
    return stats


def _discard(producer) -> None:
    """Drop a producer whose state may be poisoned; what it still held is resent from the
    stored progress by its successor."""
    if producer is None:
        return
    try:
        producer.purge()
        producer.flush(0)
    except Exception:  # already fatal: nothing more to do with it
        pass


def wait_or_stop(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def _wait(listener: psycopg.Connection, seconds: float, stop: Callable[[], bool]) -> None:
    """Sleep until a run commits (NOTIFY), ``seconds`` pass, or ``stop()``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop():
        ready, _, _ = select.select(
            [listener.fileno()], [], [], min(1.0, deadline - time.monotonic())
        )
        if ready:
            notifies = list(listener.notifies(timeout=0, stop_after=100))
            if notifies:
                return
