"""Demo data, the benchmark, the bank-sync source, the Kafka services, metrics and the
embedded cluster."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import source
from ..config import db, files
from ..infra import metrics, migrations
from ..infra.connection import connect
from ..infra.resources import resource_path
from ..kafka.settings import KafkaSettings
from ..progress import Progress, quiet
from ..run import RunResult
from ..run import run as _run
from .common import migrated
from .configuration import apply_config

# -- demo and bench --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoResult:
    applied: db.ApplyResult
    run: RunResult | None


def demo(
    dsn: str,
    customers: int,
    seed: int,
    *,
    run_after: bool = True,
    force: bool = False,
    progress: Progress = quiet,
) -> DemoResult:
    """Synthetic bank-sync data, the packaged demo configuration, then (optionally) a run."""
    from ..demo import generate

    migrations.upgrade(dsn)
    progress(f"generating {customers:,} customers (seed {seed})")
    example = resource_path("examples", "demo.yaml")
    with connect(dsn) as conn:
        generate.generate(conn, customers, seed, force=force, progress=progress)
        applied = apply_config(
            conn, files.load(example), applied_by="demo", source_name=str(example)
        )
    progress(f"configuration {applied.fingerprint[:12]} applied ({len(applied.changes)} changes)")
    return DemoResult(applied, _run(dsn, progress=progress) if run_after else None)


def demo_init(dsn: str) -> None:
    from ..demo import generate

    with connect(dsn) as conn:
        generate.init_schema(conn)
        conn.commit()


def bench(dsn: str, *, progress: Progress = quiet, **params):
    """The benchmark (demo/bench.py); returns its report."""
    from ..demo import bench as bench_mod

    return bench_mod.bench(dsn, progress=progress, **params)


# -- bank-sync source ------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSetup:
    """What a ``source`` command did: the statements (``--sql``), or the resulting mode."""

    statements: str | None = None
    config: source.SourceConfig | None = None
    replica: source.ReplicaState | None = None
    done: str | None = None  # what a command changed, in words


def _source_conn(dsn: str):
    return migrated(dsn, autocommit=True, application="sqlcompiler-source")


def source_fdw(
    dsn: str,
    server_dsn: str | None,
    remote_schema: str,
    *,
    refresh: bool = False,
    sql_only: bool = False,
    progress: Progress = quiet,
) -> SourceSetup:
    """Set up (or with ``sql_only`` print) the postgres_fdw source."""
    with _source_conn(dsn) as conn:
        if sql_only:
            plan = source.fdw_plan(conn, server_dsn, remote_schema, refresh=refresh, secret=True)
            return SourceSetup(statements=plan.render(conn))
        cfg = source.setup_fdw(conn, server_dsn, remote_schema, refresh=refresh, progress=progress)
        return SourceSetup(config=cfg)


def source_replica(
    dsn: str,
    publisher_dsn: str,
    *,
    sql_only: bool = False,
    wait: float | None = 3600.0,
    progress: Progress = quiet,
) -> SourceSetup:
    with _source_conn(dsn) as conn:
        if sql_only:
            plan, pub = source.replica_plan(conn, publisher_dsn, secret=True)
            with pub:
                return SourceSetup(statements=plan.render(conn))
        state = source.setup_replica(conn, publisher_dsn, wait=wait, progress=progress)
        return SourceSetup(config=source.configured(conn), replica=state)


def source_citus(dsn: str, *, sql_only: bool = False, progress: Progress = quiet) -> SourceSetup:
    """Distribute the bank-sync tables on the Citus cluster whose coordinator is ``dsn``."""
    with _source_conn(dsn) as conn:
        if sql_only:
            return SourceSetup(statements=source.citus_plan(conn).render(conn))
        plan = source.setup_citus(conn, progress=progress)
        done = (
            "distributed on cif: "
            + ", ".join(t for t, c in source.CITUS_LAYOUT.items() if c is not None)
            + "; reference tables: "
            + ", ".join(t for t, c in source.CITUS_LAYOUT.items() if c is None)
        )
        if not plan.steps:
            done = "unchanged: " + done
        return SourceSetup(config=source.configured(conn), done=done)


def source_status(dsn: str) -> source.SourceStatus:
    with _source_conn(dsn) as conn:
        return source.status(conn)


def source_local(dsn: str) -> list[str]:
    with _source_conn(dsn) as conn:
        return source.use_local(conn)


# -- Kafka -----------------------------------------------------------------------------------


def relay(
    dsn: str,
    settings,
    *,
    run_id: int | None = None,
    follow: bool = False,
    batch: int = 5000,
    stop: Callable[[], bool] = lambda: False,
    progress: Progress = quiet,
):
    """Publish run results to Kafka (kafka/relay.py); returns its RelayStats."""
    from ..kafka import relay as relay_mod

    return relay_mod.relay(
        dsn, settings, run_id=run_id, follow=follow, batch=batch, stop=stop, progress=progress
    )


def serve(
    dsn: str,
    settings,
    *,
    group_id: str = "sqlcompiler-serve",
    stop: Callable[[], bool] = lambda: False,
    progress: Progress = quiet,
):
    """Answer processing requests from Kafka (kafka/serve.py); returns its ServeStats."""
    from ..kafka import serve as serve_mod

    return serve_mod.serve(dsn, settings, group_id=group_id, stop=stop, progress=progress)


def kafka_settings(bootstrap: str | None = None, topic: str | None = None) -> KafkaSettings:
    """The broker and topics: the given values over SQLCOMPILER_KAFKA_* (kafka/settings.py)."""
    return KafkaSettings.from_env(bootstrap, topic)


# -- metrics, the embedded cluster, the benchmark report -------------------------------------


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """/metrics on ``port`` for the life of the process (relay --follow, serve)."""
    metrics.serve(port, addr)


def export_metrics(textfile: str | None = None) -> str | None:
    """A one-shot command's metrics to the textfile collector or Pushgateway, when configured;
    where they went."""
    return metrics.export_one_shot(textfile)


def embedded_status() -> dict[str, object]:
    from ..infra.embedded import Cluster

    return Cluster.default().status()


def embedded_start() -> str:
    """Initialise (first time) and start the embedded cluster; its DSN."""
    from ..infra.embedded import Cluster

    return Cluster.default().ensure()


def embedded_stop() -> bool:
    """Stop the embedded cluster; False if it was not running."""
    from ..infra.embedded import Cluster

    return Cluster.default().stop()


def write_bench_report(report, path) -> None:
    from ..demo.bench import write_report

    write_report(report, path)
