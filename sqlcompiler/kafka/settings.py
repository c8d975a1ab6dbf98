"""How the relay and the request service reach Kafka: settings from the environment, the
producer's configuration, and a topic that exists (created when allowed)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import RelayError

# librdkafka's own log lines (broker down, reconnects) go through this logger, so the CLI
# prints them like every other line (text or JSON), not on raw stderr
KAFKA_LOG = logging.getLogger("sqlcompiler.kafka")


@dataclass
class KafkaSettings:
    bootstrap: str
    topic: str = "campaign-assignments"
    request_topic: str = "campaign-requests"
    dead_letter_topic: str = "campaign-requests-dlq"
    attempts_topic: str = "contact-attempts"
    attempts_dead_letter_topic: str = "contact-attempts-dlq"
    partitions: int = 6
    create_topics: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, bootstrap: str | None = None, topic: str | None = None) -> KafkaSettings:
        boot = bootstrap or os.environ.get("SQLCOMPILER_KAFKA_BOOTSTRAP")
        if not boot:
            raise RelayError(
                "no Kafka bootstrap servers: pass --bootstrap or set SQLCOMPILER_KAFKA_BOOTSTRAP"
            )
        extra: dict[str, str] = {}
        path = os.environ.get("SQLCOMPILER_KAFKA_CONFIG")
        if path:
            try:
                for n, line in enumerate(open(path, encoding="utf-8"), start=1):
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    if "=" not in line:
                        raise RelayError(f"{path}:{n}: expected key=value")
                    k, v = line.split("=", 1)
                    extra[k.strip()] = v.strip()
            except OSError as exc:
                raise RelayError(
                    f"cannot read SQLCOMPILER_KAFKA_CONFIG {path}: {exc.strerror}"
                ) from None
        return cls(
            bootstrap=boot,
            topic=topic or os.environ.get("SQLCOMPILER_KAFKA_TOPIC", "campaign-assignments"),
            request_topic=os.environ.get("SQLCOMPILER_KAFKA_REQUEST_TOPIC", "campaign-requests"),
            dead_letter_topic=os.environ.get(
                "SQLCOMPILER_KAFKA_DLQ_TOPIC", "campaign-requests-dlq"
            ),
            attempts_topic=os.environ.get("SQLCOMPILER_KAFKA_ATTEMPTS_TOPIC", "contact-attempts"),
            attempts_dead_letter_topic=os.environ.get(
                "SQLCOMPILER_KAFKA_ATTEMPTS_DLQ_TOPIC", "contact-attempts-dlq"
            ),
            partitions=int(os.environ.get("SQLCOMPILER_KAFKA_PARTITIONS", "6")),
            create_topics=os.environ.get("SQLCOMPILER_KAFKA_CREATE_TOPICS", "1") != "0",
            extra=extra,
        )

    def client_config(self, **overrides: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "logger": KAFKA_LOG, **self.extra, **overrides}

    def producer(self):
        from confluent_kafka import Producer

        return Producer(
            self.client_config(**{"enable.idempotence": True, "acks": "all", "linger.ms": 20})
        )


def json_object(payload: bytes | None, what: str) -> dict:
    """A message's JSON object, or ValueError with the reason (for its dead letter)."""
    try:
        doc = json.loads(payload or b"")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("not valid JSON") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{what} must be a JSON object")
    return doc


def dead_letter(producer, topic: str, msg, reason: str) -> None:
    """A message that cannot be processed, set aside with why and where it came from."""
    payload = msg.value() or b""
    try:
        original: object = payload.decode()
    except UnicodeDecodeError:
        original = payload.hex()
    body = {
        "reason": reason,
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "payload": original,
    }
    producer.produce(
        topic,
        key=msg.key(),
        value=json.dumps(body).encode(),
        headers=[("reason", reason.encode()), ("source_offset", str(msg.offset()).encode())],
    )


class PermanentRelayError(RelayError):
    """Waiting will not fix it (a missing topic we may not create): no retries."""


def ensure_topic(settings: KafkaSettings, topic: str) -> None:
    """The topic exists afterwards, or a RelayError says why it can't."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(settings.client_config())
    try:
        meta = admin.list_topics(timeout=10)
    except Exception as exc:  # KafkaException: broker unreachable
        raise RelayError(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from None
    finally:
        admin.poll(0)  # deliver its log lines
    if topic in meta.topics and not meta.topics[topic].error:
        return
    if not settings.create_topics:
        raise PermanentRelayError(
            f"topic {topic!r} does not exist and topic creation is disabled; create it first"
        )
    fut = admin.create_topics(
        [NewTopic(topic, num_partitions=settings.partitions, replication_factor=1)]
    )[topic]
    try:
        fut.result(15)
    except Exception as exc:
        if "TOPIC_ALREADY_EXISTS" in str(exc):
            return
        raise PermanentRelayError(
            f"topic {topic!r} does not exist and could not be created ({exc}); create it or grant the "
            "relay's principal CREATE on the cluster"
        ) from None
