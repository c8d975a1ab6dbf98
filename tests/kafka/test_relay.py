"""The relay against a real Kafka-protocol broker (tansu)."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from sqlcompiler import run as runner
from sqlcompiler.errors import RelayError
from sqlcompiler.kafka import relay
from tests.paths import REPO
from tests.scenario import Scenario, cond, configure

_topics = itertools.count()


def _settings(kafka, **kw) -> relay.KafkaSettings:
    return relay.KafkaSettings(
        bootstrap=kafka, topic=f"assignments-{time.time_ns()}-{next(_topics)}", partitions=3, **kw
    )


def _setup(db, n=7):
    s = Scenario()
    for i in range(n):
        s.customer(f"C{i}").loan(f"C{i}", f"L{i}", dpd=40 + i)
        s.phone(f"C{i}", 10 * i + 1, "mobile", f"+{i}1", primary=True).phone(
            f"C{i}", 10 * i + 2, "home", f"+{i}2"
        )
    s.load(db)
    configure(db, {"groups": [
        {"name": "G1", "campaigns": [{"name": "late", "priority": 1, "conditions": [cond("l", "dpd", ">", 30)],
                                       "contact_rules": [{"rule_priority": 1, "outputs": [{"related_party_type": "customer", "contact_type": "all"}]}]}]},
        {"name": "G2", "campaigns": [{"name": "all", "priority": 1}]},
    ]})  # fmt: skip


def consume(kafka: str, topic: str, idle: float = 3.0, limit: float = 60.0) -> list:
    """Every message of the topic, read by partition assignment (no consumer group needed)."""
    c = Consumer(
        {"bootstrap.servers": kafka, "group.id": "tests-reader", "enable.auto.commit": False}
    )
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    out, last, start = [], time.monotonic(), time.monotonic()
    while time.monotonic() - last < idle and time.monotonic() - start < limit:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out.append(m)
        last = time.monotonic()
    c.close()
    return out


def _of(msgs: list, schema: str) -> list:
    return [m for m in msgs if dict(m.headers())["schema"].decode() == schema]


def test_relay_publishes_every_assignment_once_with_schema(db, dsn, kafka):
    _setup(db)
    run = runner.run(dsn)
    settings = _settings(kafka)
    stats = relay.relay(dsn, settings, batch=3)
    assert (stats.runs, stats.messages) == (1, run.assigned) == (1, 14)
    every = consume(kafka, settings.topic)
    msgs = _of(every, relay.SCHEMA)
    assert len(msgs) == 14 and len(every) == 14 + 3  # + run_completed on each partition
    m = next(
        x
        for x in msgs
        if json.loads(x.value())["campaign_group"]["name"] == "G1" and x.key() == b"C3"
    )
    value = json.loads(m.value())
    headers = {k: v.decode() for k, v in m.headers()}
    assert headers == {
        "run_id": str(run.run_id),
        "message_id": value["message_id"],
        "schema": "sqlcompiler.assignment.v1",
    }
    assert value["message_id"] == f"{run.run_id}:{value['campaign_group']['id']}:C3"
    assert value["campaign"]["name"] == "late" and value["account_numbers"] == ["L3"]
    assert value["configuration_fingerprint"] == run.fingerprint
    assert [(k["position"], k["phone_number"]) for k in value["contacts"]] == [
        (1, "+31"),
        (2, "+32"),
    ]
    schema = json.loads((REPO / "docs" / "kafka-message.schema.json").read_text())
    assert (
        set(value) == set(schema["required"])
        and value["schema"] == schema["properties"]["schema"]["const"]
    )
    assert set(value["contacts"][0]) == set(schema["properties"]["contacts"]["items"]["required"])
    assert relay.relay(dsn, settings).messages == 0  # nothing left: progress is stored
    assert relay.lag(db, settings.topic) == 0
    # every message against the view rows: keyed by its cif, one message per assignment
    assert len({json.loads(x.value())["message_id"] for x in msgs}) == len(msgs)
    assert all(x.key().decode() == json.loads(x.value())["cif"] for x in msgs)
    assert sorted(_as_rows(msgs)) == sorted(_view_rows(db))


CONTACT_FIELDS = ("position", "rule_priority", "party_type", "party_cif", "relationship_type",
                  "contact_type", "phone_number", "is_primary", "is_verified")  # fmt: skip


def _as_rows(msgs: list) -> list[tuple]:
    out = []
    for m in msgs:
        v = json.loads(m.value())
        contacts = tuple(tuple(c[f] for f in CONTACT_FIELDS) for c in v["contacts"])
        out.append((v["run_id"], v["cif"], v["campaign_group"]["id"], v["campaign_group"]["name"],
                    v["campaign"]["id"], v["campaign"]["name"], tuple(v["account_numbers"]),
                    contacts))  # fmt: skip
    return out


def _view_rows(db) -> list[tuple]:
    """current_assignments with their current_contacts in position order, as messages carry them."""
    rows = db.execute(
        "SELECT a.run_id, a.cif, a.campaign_group_id, a.campaign_group_name, a.campaign_id, "
        "a.campaign_name, a.account_numbers, coalesce((SELECT json_agg(json_build_array("
        + ", ".join(f"k.{f}" for f in CONTACT_FIELDS)
        + ") ORDER BY k.position) FROM campaign_results.current_contacts k "
        "WHERE k.cif = a.cif AND k.campaign_group_id = a.campaign_group_id), '[]') "
        "FROM campaign_results.current_assignments a"
    ).fetchall()
    return [(*r[:6], tuple(r[6]), tuple(tuple(c) for c in r[7])) for r in rows]


def test_unassignments_and_the_run_completed_message(db, dsn, kafka):
    """A dialer learns who left a campaign, and when a run's batch is complete."""
    _setup(db, n=4)
    first = runner.run(dsn)
    db.execute("UPDATE bank_sync_service.loans SET dpd = 0 WHERE cif = 'C2'")  # leaves G1
    second = runner.run(dsn)
    settings = _settings(kafka)
    relay.relay(dsn, settings, batch=2)
    every = consume(kafka, settings.topic)
    left = [json.loads(m.value()) for m in _of(every, relay.UNASSIGNED_SCHEMA)]
    assert [(v["run_id"], v["cif"], v["campaign_group"]["name"]) for v in left] == [
        (second.run_id, "C2", "G1")
    ]
    value = left[0]
    assert value["reason"] == "not_matched"
    assert value["previous"] == {
        "run_id": first.run_id,
        "campaign": {"id": value["previous"]["campaign"]["id"], "name": "late"},
    }
    assert value["message_id"] == f"{second.run_id}:{value['campaign_group']['id']}:C2:unassigned"
    done = [json.loads(m.value()) for m in _of(every, relay.COMPLETED_SCHEMA)]
    assert sorted(m.partition() for m in _of(every, relay.COMPLETED_SCHEMA)) == [0, 0, 1, 1, 2, 2]
    last = [d for d in done if d["run_id"] == second.run_id][0]
    assert (last["assignments"], last["unassignments"]) == (second.assigned, 1) == (7, 1)
    assert {g["name"]: g["left"] for g in last["groups"]} == {"G1": 1, "G2": 0}
    assert last["configuration_fingerprint"] == second.fingerprint
    # the completed message comes after every other message of its run on its partition
    for part in range(3):
        kinds = [
            (json.loads(m.value())["run_id"], dict(m.headers())["schema"].decode())
            for m in every
            if m.partition() == part
        ]
        for run_id in (first.run_id, second.run_id):
            mine = [k for r, k in kinds if r == run_id]
            assert mine[-1] == relay.COMPLETED_SCHEMA and mine.count(relay.COMPLETED_SCHEMA) == 1
    for name, message in (("unassignment", value), ("run-completed", last)):
        schema = json.loads((REPO / "docs" / f"kafka-{name}.schema.json").read_text())
        assert set(message) == set(schema["required"]) == set(schema["properties"])
        assert message["schema"] == schema["properties"]["schema"]["const"]


class _WrappedProducer:
    """A real producer with a hook after each flush (to inject a failure at a chosen moment)."""

    def __init__(self, real):
        self.real, self.flushes = real, 0

    def produce(self, *a, **kw):
        return self.real.produce(*a, **kw)

    def poll(self, t=0):
        return self.real.poll(t)

    def list_topics(self, *a, **kw):
        return self.real.list_topics(*a, **kw)

    def flush(self, t=None):
        left = self.real.flush(t if t is not None else 10)
        self.flushes += 1
        self.after_flush(self.flushes)
        return left

    def after_flush(self, n: int) -> None:
        pass


class _FlakyProducer(_WrappedProducer):
    """Delivers the second batch, then 'crashes' before the relay records it."""

    def after_flush(self, n: int) -> None:
        if n == 2:
            raise ConnectionError("simulated crash after delivery, before the watermark moved")


def test_relay_resumes_after_a_crash_without_gaps(db, dsn, kafka, monkeypatch):
    _setup(db)
    run = runner.run(dsn)
    settings = _settings(kafka)
    real = relay.KafkaSettings.producer
    monkeypatch.setattr(relay.KafkaSettings, "producer", lambda self: _FlakyProducer(real(self)))
    with pytest.raises(ConnectionError):
        relay.relay(dsn, settings, batch=4)
    published = db.execute(
        "SELECT published, completed_at FROM campaign_results.relay_progress WHERE run_id = %s AND topic = %s",
        (run.run_id, settings.topic),
    ).fetchone()
    assert published == (4, None)  # only the first acknowledged batch counts
    monkeypatch.setattr(relay.KafkaSettings, "producer", real)
    assert relay.relay(dsn, settings, batch=4).messages == 10
    msgs = _of(consume(kafka, settings.topic), relay.SCHEMA)
    ids = [json.loads(m.value())["message_id"] for m in msgs]
    assert len(set(ids)) == run.assigned == 14  # no gap
    assert len(ids) == 18  # the batch in flight was sent twice: duplicates share their message_id


def test_follow_publishes_new_runs_as_they_commit(db, dsn, kafka):
    _setup(db, n=3)
    settings = _settings(kafka)
    stop = threading.Event()
    result = {}
    t = threading.Thread(
        target=lambda: result.update(
            stats=relay.relay(dsn, settings, follow=True, poll_seconds=30, stop=stop.is_set)
        )
    )
    t.start()
    try:
        # the runs commit once the relay listens for them (its LISTEN connection), so they are
        # picked up by the notification, not by the 30 s poll
        deadline = time.monotonic() + 30
        while not db.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'sqlcompiler-relay-listen' AND query LIKE 'LISTEN%'"
        ).fetchone():
            assert t.is_alive() and time.monotonic() < deadline, "the relay did not start listening"
            time.sleep(0.05)
        first = runner.run(dsn)
        second = runner.run(dsn, cifs=["C1"])
        deadline = time.monotonic() + 30
        while relay.lag(db, settings.topic) > 0 or len(relay.pending_runs(db, settings.topic)) > 0:
            assert time.monotonic() < deadline, "relay --follow did not pick up the runs"
            time.sleep(0.3)
    finally:
        stop.set()
        t.join(30)
    assert result["stats"].messages == first.assigned + second.assigned == 6 + 2
    runs = {json.loads(m.value())["run_id"] for m in consume(kafka, settings.topic)}
    assert runs == {first.run_id, second.run_id}


def test_missing_topic_without_permission_and_unreachable_broker(db, dsn, kafka):
    _setup(db, n=1)
    runner.run(dsn)
    with pytest.raises(RelayError, match="does not exist and topic creation is disabled"):
        relay.relay(dsn, _settings(kafka, create_topics=False))
    with pytest.raises(RelayError, match="gave up after 2 attempt.*cannot reach Kafka"):
        relay.relay(dsn, relay.KafkaSettings(bootstrap="127.0.0.1:1", topic="x"), max_attempts=2)


def test_a_batch_reads_the_batch_not_the_run(db, dsn):
    """The batch query walks the (cif, group) indexes and stops at the batch size: with
    unassignments in a UNION ALL it once built every message of the run and sorted them for
    each batch (11.7 s per batch at 1M; docs/performance.md). Checked on the plan's row
    counts, not on time. The plan's estimate is the batch, also as the generic plan psycopg
    gets once it prepares the query (it was 17 × the batch: enough for a stock server's JIT)."""
    from psycopg import sql

    from sqlcompiler.kafka.messages import SCHEMA, UNASSIGNED_SCHEMA, messages

    _setup(db, n=300)
    res = runner.run(dsn)
    db.execute("ANALYZE campaign_results.assignments, campaign_results.contact_lists, "
               "campaign_results.phone_books")  # fmt: skip
    params = {"schema": SCHEMA, "unassigned_schema": UNASSIGNED_SCHEMA, "run": res.run_id,
              "cif": "C1", "group": 0}  # fmt: skip
    query = messages(40)
    plan = db.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + query, params).fetchone()[0]

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    every = list(nodes(plan[0]["Plan"]))
    assert plan[0]["Plan"]["Plan Rows"] == 40 and plan[0]["Plan"]["Actual Rows"] == 40
    # the keys come from index scans that stop at the batch
    walked = [n["Actual Rows"] for n in every if n["Node Type"] == "Index Scan"
              and n.get("Index Name", "").startswith("assignments")]  # fmt: skip
    assert walked and max(walked) <= 40, walked
    # a message (and its contacts subquery) is built for the batch's rows only
    built = [
        n["Actual Loops"] for n in every if n.get("Relation Name", "").startswith("contact_lists_r")
    ]
    assert built and max(built) <= 40, built
    assert len(db.execute(query, params).fetchall()) == 40
    # the generic plan of the prepared query (what the relay runs from its sixth batch on)
    with db.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_generic_plan")
        for _ in range(2):
            assert len(cur.execute(query, params, prepare=True).fetchall()) == 40
        (name,) = cur.execute(
            "SELECT name FROM pg_prepared_statements WHERE generic_plans > 0 "
            "AND statement LIKE '%%LIMIT 40%%'"
        ).fetchone()
        # EXECUTE's arguments in the order psycopg numbered the placeholders ($1, $2, ...)
        text = query.as_string(db)
        order = sorted(params, key=lambda k: text.index(f"%({k})s"))
        args = sql.SQL(", ").join(sql.Literal(params[k]) for k in order)
        explain = sql.SQL("EXPLAIN (FORMAT JSON) EXECUTE {}({})").format(sql.Identifier(name), args)
        assert cur.execute(explain).fetchone()[0][0]["Plan"]["Plan Rows"] == 40
        cur.execute("RESET plan_cache_mode")
    body = json.loads(db.execute(query, params).fetchone()[3])
    assert list(body)[:3] == ["schema", "message_id", "run_id"]  # the documented key order
