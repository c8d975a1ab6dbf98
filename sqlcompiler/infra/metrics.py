"""Prometheus metrics: served on /metrics by long-running commands, written or pushed by runs."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

CUSTOMERS = Counter(
    "sqlcompiler_customers_processed", "Customers evaluated by runs", registry=REGISTRY
)
ASSIGNED = Gauge(
    "sqlcompiler_assigned_customers",
    "Assignments of the latest run per campaign (names as in the configuration; 0 included)",
    ["group", "campaign", "campaign_id"],
    registry=REGISTRY,
)
LEFT = Gauge(
    "sqlcompiler_unassigned_customers",
    "Customers assigned in the group before the latest run and not after it",
    ["group"],
    registry=REGISTRY,
)
SUPPRESSED = Gauge(
    "sqlcompiler_suppressed_contacts",
    "Contacts the contact policy removed in the last run, by reason (SPEC §6)",
    ["reason"],
    registry=REGISTRY,
)
HELD = Gauge(
    "sqlcompiler_last_run_held",
    "1 when the latest run was held by a guard (0 customers, or --max-drop exceeded)",
    registry=REGISTRY,
)
RUN_SECONDS = Gauge(
    "sqlcompiler_run_duration_seconds", "Duration of the latest run", registry=REGISTRY
)
RUN_RATE = Gauge(
    "sqlcompiler_processing_rate", "Customers per second of the latest run", registry=REGISTRY
)
LAST_SUCCESS = Gauge(
    "sqlcompiler_last_success_timestamp_seconds",
    "When the latest published run succeeded (Unix time); alert when it grows old",
    registry=REGISTRY,
)
RUNS = Counter("sqlcompiler_runs", "Runs by outcome", ["status"], registry=REGISTRY)
ERRORS = Counter("sqlcompiler_errors", "Errors by kind", ["kind"], registry=REGISTRY)
RELAYED = Counter(
    "sqlcompiler_relayed_messages", "Messages acknowledged by the broker", registry=REGISTRY
)
RELAY_LAG = Gauge(
    "sqlcompiler_relay_lag_rows",
    "Assignments of succeeded runs not yet acknowledged",
    registry=REGISTRY,
)
BROKER_LATENCY = Histogram(
    "sqlcompiler_broker_publish_seconds",
    "Time to publish and have a run acknowledged",
    registry=REGISTRY,
)
ATTEMPTS = Counter(
    "sqlcompiler_attempts_consumed",
    "Contact attempts consumed from Kafka by outcome (stored, repeated, dead_letter)",
    ["outcome"],
    registry=REGISTRY,
)
REQUESTS = Counter(
    "sqlcompiler_requests", "Processing requests by outcome", ["outcome"], registry=REGISTRY
)


def record_run(result) -> None:
    """Set the run gauges from a RunResult."""
    RUNS.labels(status=result.status).inc()
    CUSTOMERS.inc(result.population)
    RUN_SECONDS.set(result.seconds)
    RUN_RATE.set(result.population / result.seconds if result.seconds else 0)
    if result.status == "succeeded" and not result.dry_run:
        LAST_SUCCESS.set_to_current_time()
    HELD.set(1 if result.status == "held" else 0)
    SUPPRESSED.clear()  # a reason absent from this run is not carried over from the last
    reasons: dict[str, int] = {}
    for g in result.groups:
        for why, n in g.suppressed.items():
            reasons[why] = reasons.get(why, 0) + n
    for why, n in reasons.items():
        SUPPRESSED.labels(reason=why).set(n)
    for g in result.groups:
        LEFT.labels(group=g.name).set(g.left)
        for cid in {**g.campaign_names, **g.campaigns}:
            name = g.campaign_names.get(cid, str(cid))
            ASSIGNED.labels(group=g.name, campaign=name, campaign_id=str(cid)).set(
                g.campaigns.get(cid, 0)
            )


def export_one_shot(textfile: str | None = None) -> str | None:
    """After a one-shot command: write the textfile (``textfile``, else
    SQLCOMPILER_METRICS_TEXTFILE) and/or push, as configured."""
    done = None
    path = textfile or os.environ.get("SQLCOMPILER_METRICS_TEXTFILE")
    if path:
        from prometheus_client import write_to_textfile

        write_to_textfile(path, REGISTRY)
        done = path
    gateway = os.environ.get("SQLCOMPILER_PUSHGATEWAY")
    if gateway:
        from prometheus_client import push_to_gateway

        push_to_gateway(gateway, job="sqlcompiler", registry=REGISTRY)
        done = gateway
    return done


def serve(port: int, addr: str = "127.0.0.1") -> None:
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=REGISTRY)
