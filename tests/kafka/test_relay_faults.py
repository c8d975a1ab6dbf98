"""The relay when things go wrong: a killed relay process, a broker that stops, restarts or is
away, SIGTERM during an outage. Waits are on state (stored progress, the relay's own lines),
never on elapsed time."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from sqlcompiler import run as runner
from sqlcompiler.errors import RelayError
from sqlcompiler.kafka import relay
from tests.conftest import start_tansu
from tests.kafka.test_relay import _of, _settings, _setup, _WrappedProducer, consume


def _on_retry(event: threading.Event, times: int = 1):
    """A progress callback that sets ``event`` at the relay's ``times``-th "retrying" line."""
    seen = []

    def progress(line: str) -> None:
        if "retrying" in line:
            seen.append(line)
            if len(seen) >= times:
                event.set()

    return progress


def _published(db, run_id: int, topic: str) -> tuple[int, str | None, int | None]:
    row = db.execute(
        "SELECT published, last_cif, last_group FROM campaign_results.relay_progress "
        "WHERE run_id = %s AND topic = %s",
        (run_id, topic),
    ).fetchone()
    return row if row else (0, None, None)


def _assignment_ids(db, run_id: int) -> set[str]:
    """The message ids a run's assignments get (run:group:cif)."""
    rows = db.execute(
        "SELECT cif, campaign_group_id FROM campaign_results.assignments WHERE run_id = %s",
        (run_id,),
    )
    return {f"{run_id}:{g}:{c}" for c, g in rows}


def _message_ids(bootstrap: str, topic: str) -> list[str]:
    """Every assignment message's id on the topic, duplicates kept."""
    return [
        json.loads(m.value())["message_id"] for m in _of(consume(bootstrap, topic), relay.SCHEMA)
    ]


def test_relay_process_killed_mid_run_resumes_without_gaps(db, dsn, kafka):
    """SIGKILL, not an exception: the relay process dies between or inside batches. The next
    relay starts from the stored watermark: every message arrives, and the only duplicates are
    the batch that was in flight (docs/kafka.md: at-least-once, same message ids)."""
    _setup(db, n=3000)
    run = runner.run(dsn)
    settings = _settings(kafka)
    batch = 20
    env = {**os.environ, "SQLCOMPILER_DSN": dsn}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlcompiler", "relay", "--bootstrap", kafka, "--topic",
         settings.topic, "--batch", str(batch)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while _published(db, run.run_id, settings.topic)[0] < 5 * batch:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the relay did not publish"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    stored, last_cif, last_group = _published(db, run.run_id, settings.topic)
    assert 0 < stored < run.assigned  # killed in the middle of the run
    assert relay.relay(dsn, settings, batch=batch).messages == run.assigned - stored
    ids = _message_ids(kafka, settings.topic)
    want = _assignment_ids(db, run.run_id)
    assert set(ids) == want  # no gap
    twice = [i for i, n in collections.Counter(ids).items() if n > 1]
    assert all(n <= 2 for n in collections.Counter(ids).values())
    # the duplicates are the killed process's last, unrecorded batch: at most one batch, all
    # after the watermark it had stored
    after = {
        f"{run.run_id}:{g}:{c}"
        for c, g in db.execute(
            "SELECT cif, campaign_group_id FROM campaign_results.assignments WHERE run_id = %s "
            "AND (cif, campaign_group_id) > (%s, %s) ORDER BY cif, campaign_group_id LIMIT %s",
            (run.run_id, last_cif, last_group, batch),
        )
    }
    assert len(twice) <= batch and set(twice) <= after, (len(twice), stored)


class _StopBrokerAfterFirstBatch(_WrappedProducer):
    def __init__(self, real, broker):
        super().__init__(real)
        self.broker = broker

    def after_flush(self, n: int) -> None:
        if n == 1:
            self.broker.kill()  # the broker goes away right after acknowledging batch 1
            self.broker.wait()


def test_broker_stopped_mid_relay_and_restarted(db, dsn, monkeypatch):
    from tests.conftest import _free_port, start_tansu

    _setup(db)
    run = runner.run(dsn)
    port = _free_port()
    broker = start_tansu(port)
    settings = relay.KafkaSettings(
        bootstrap=f"127.0.0.1:{port}", topic="assignments-restart", partitions=1
    )
    settings.extra = {"message.timeout.ms": "4000", "reconnect.backoff.max.ms": "500"}
    real = relay.KafkaSettings.producer
    monkeypatch.setattr(
        relay.KafkaSettings, "producer", lambda self: _StopBrokerAfterFirstBatch(real(self), broker)
    )
    try:
        with pytest.raises(RelayError, match="not acknowledged|failed"):
            relay.relay(dsn, settings, batch=4, flush_timeout=8, max_attempts=1)
        # nothing is marked published without an acknowledgement
        row = db.execute(
            "SELECT published, completed_at FROM campaign_results.relay_progress WHERE run_id = %s AND topic = %s",
            (run.run_id, settings.topic),
        ).fetchone()
        assert row == (4, None)
        broker = start_tansu(port)  # back again (memory storage: the old log is gone with it)
        monkeypatch.setattr(relay.KafkaSettings, "producer", real)
        assert relay.relay(dsn, settings, batch=4).messages == run.assigned - 4
        resent = set(_message_ids(settings.bootstrap, settings.topic))
        all_ids = _assignment_ids(db, run.run_id)
        assert (
            len(all_ids - resent) == 4 and resent <= all_ids
        )  # the first 4 went to the first broker, acknowledged
    finally:
        broker.kill()
        broker.wait()


class _RestartBrokerAfterFirstBatch(_WrappedProducer):
    """Kills the broker right after batch 1 was acknowledged; it comes back once the relay has
    noticed (its first "retrying" line), not after a fixed time."""

    def __init__(self, real, state):
        super().__init__(real)
        self.state = state

    def after_flush(self, n: int) -> None:
        if n == 1 and not self.state.get("killed"):
            self.state["killed"] = True
            self.state["broker"].kill()
            self.state["broker"].wait()

            def restart():
                assert self.state["retrying"].wait(60), "the relay never reported the outage"
                self.state["broker"] = start_tansu(self.state["port"])

            threading.Thread(target=restart, daemon=True).start()


def test_follow_survives_a_broker_restart_with_a_batch_in_flight(db, dsn, monkeypatch):
    """The relay keeps going: a new producer resumes from the stored progress."""
    from tests.conftest import _free_port

    _setup(db)
    run = runner.run(dsn)
    port = _free_port()
    state = {"port": port, "broker": start_tansu(port), "retrying": threading.Event()}
    settings = relay.KafkaSettings(
        bootstrap=f"127.0.0.1:{port}", topic="restart-follow", partitions=1
    )
    settings.extra = {"message.timeout.ms": "3000", "reconnect.backoff.max.ms": "500"}
    real = relay.KafkaSettings.producer
    wrapped = {"first": True}

    def producer(self):
        if wrapped.pop("first", False):  # only the first producer kills the broker
            return _RestartBrokerAfterFirstBatch(real(self), state)
        return real(self)

    monkeypatch.setattr(relay.KafkaSettings, "producer", producer)
    stop = threading.Event()
    out = {}
    t = threading.Thread(target=lambda: out.update(stats=relay.relay(
        dsn, settings, follow=True, batch=4, flush_timeout=4, poll_seconds=1, stop=stop.is_set,
        max_backoff=2, progress=_on_retry(state["retrying"]),
    )))  # fmt: skip
    t.start()
    try:
        deadline = time.monotonic() + 90
        while relay.pending_runs(db, settings.topic):
            assert t.is_alive(), "relay --follow exited during the outage"
            assert time.monotonic() < deadline, "relay did not finish after the broker came back"
            time.sleep(0.5)
        stop.set()
        t.join(30)
        assert not t.is_alive()
        got = set(_message_ids(settings.bootstrap, settings.topic))
        want = _assignment_ids(db, run.run_id)
        # the first 4 were acknowledged by the broker that died (memory storage); the rest
        # arrived at the new one, none missing
        assert len(want - got) == 4 and got <= want and len(got) == run.assigned - 4
    finally:
        stop.set()
        state["broker"].kill()
        state["broker"].wait()


def test_follow_waits_for_a_broker_that_is_away_and_stops_on_request(db, dsn):
    from tests.conftest import _free_port

    _setup(db, n=2)
    runner.run(dsn)
    port = _free_port()
    settings = relay.KafkaSettings(bootstrap=f"127.0.0.1:{port}", topic="late-broker", partitions=1)
    stop = threading.Event()
    out = {}
    retrying = threading.Event()
    t = threading.Thread(target=lambda: out.update(stats=relay.relay(
        dsn, settings, follow=True, poll_seconds=1, stop=stop.is_set, max_backoff=2,
        progress=_on_retry(retrying, times=3),
    )))  # fmt: skip
    t.start()
    assert retrying.wait(60), "the relay did not report retrying"
    assert t.is_alive()  # three failed attempts later: still waiting, not exited
    broker = start_tansu(port)
    try:
        deadline = time.monotonic() + 60
        while relay.pending_runs(db, settings.topic):
            assert time.monotonic() < deadline, "relay did not publish once the broker came"
            time.sleep(0.5)
        assert len(_of(consume(settings.bootstrap, settings.topic), relay.SCHEMA)) == 4
    finally:
        stop.set()
        t.join(30)
        broker.kill()
        broker.wait()
    assert out["stats"].messages == 4


def test_sigterm_during_an_outage_stops_with_json_logs(dsn, db):
    """SIGTERM while the relay waits for a broker that is away: it stops (an exit, not a kill
    after the timeout), and every line it wrote is JSON (librdkafka's too)."""
    import signal
    import subprocess
    import sys

    from tests.conftest import _free_port

    _setup(db, n=2)
    runner.run(dsn)
    env = {**os.environ, "SQLCOMPILER_DSN": dsn}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqlcompiler", "--log-format", "json", "relay", "--follow",
         "--bootstrap", f"127.0.0.1:{_free_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines = []
    for line in proc.stderr:  # ends at the process's exit: a relay that gave up fails below
        lines.append(line)
        if "retrying" in line:
            break
    assert proc.poll() is None, "".join(lines)  # still waiting for the broker
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)  # the backoff alone would wait up to 30 s each time
    assert proc.returncode == 0, err
    lines = [ln for ln in lines + err.splitlines() if ln.strip()]
    assert lines and all(json.loads(ln)["msg"] for ln in lines)
    assert any("retrying" in json.loads(ln)["msg"] for ln in lines)
