"""``sqlcompiler bench``: the run measured against the physical floor and the alternatives.

Measured in one process on one database, in this order, each after a warm-up:
floor (read every input once + write output-sized rows with CREATE TABLE AS), run (the real
run end to end), literal plan (the design card read literally: per group a UNION ALL of
per-campaign SELECTs with ROW_NUMBER, materialised; assignments only), per-customer (the
reference evaluator over a sample, extrapolated), and scaling (campaigns, customers).
The run's assignments must equal the literal plan's, or the bench fails.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from .. import reference, source
from .. import run as runner
from ..config import db
from ..config.model import ConfigFile, Configuration
from ..errors import SqlCompilerError
from ..infra import migrations
from ..infra.connection import connect
from ..progress import Progress, quiet
from . import generate as demo
from .measure import INPUTS, Measurement, warm_up
from .single_pass import measure_single_pass
from .synthetic import as_relative, as_trees, literal_group_sql, synthetic_config


def measure_floor(conn: psycopg.Connection, n_assign: int, n_contacts: int) -> Measurement:
    """Read all inputs once, then CREATE TABLE AS as many rows, as wide, as the two views show."""
    warm_up(conn)
    t0 = time.monotonic()
    conn.execute(
        "DROP TABLE IF EXISTS campaign_results.bench_floor_assignments, campaign_results.bench_floor_contacts"
    )
    with conn.transaction():
        for t in INPUTS:
            conn.execute(
                sql.SQL("SELECT count(*) FROM {} t WHERE t IS NOT NULL").format(
                    sql.Identifier("bank_sync_service", t)
                )
            )
        t_scan = time.monotonic() - t0
        conn.execute(
            """CREATE TABLE campaign_results.bench_floor_assignments AS
               SELECT 1::bigint AS run_id, 'C' || lpad(i::text, 10, '0') AS cif, (i %% 10)::bigint AS campaign_group_id,
                      (i %% 200)::bigint AS campaign_id, ARRAY['A' || lpad(i::text, 10, '0') || '1'] AS account_numbers
               FROM generate_series(1, %s::bigint) AS i""",
            (n_assign,),
        )
        conn.execute(
            """CREATE TABLE campaign_results.bench_floor_contacts AS
               SELECT 1::bigint AS run_id, 'C' || lpad((i / 3)::text, 10, '0') AS cif, (i %% 10)::bigint AS campaign_group_id,
                      (i %% 200)::bigint AS campaign_id, (i %% 3 + 1)::int AS position, 1 AS rule_priority,
                      'customer'::text AS party_type, 'C' || lpad((i / 3)::text, 10, '0') AS party_cif,
                      NULL::text AS relationship_type, 'mobile'::text AS contact_type,
                      '+8490' || lpad((i %% 10000000)::text, 7, '0') AS phone_number, true AS is_primary, false AS is_verified
               FROM generate_series(1, %s::bigint) AS i""",
            (n_contacts,),
        )
    seconds = time.monotonic() - t0
    conn.execute(
        "DROP TABLE campaign_results.bench_floor_assignments, campaign_results.bench_floor_contacts"
    )
    return Measurement(
        "floor",
        seconds,
        0,
        details={"scan_seconds": round(t_scan, 3), "rows_written": n_assign + n_contacts},
    )


AS_OF = dt.date(2026, 12, 1)  # the measured runs' as-of date (the relative-dates variant needs one)


def measure_run(
    dsn: str, progress: Progress, jobs: int | None = None, name: str = "run"
) -> tuple[Measurement, runner.RunResult]:
    with connect(dsn, autocommit=True) as conn:
        warm_up(conn)
    res = runner.run(dsn, keep=2, progress=progress, jobs=jobs, as_of=AS_OF)
    return Measurement(
        name, res.seconds, res.population,
        details={"timings": res.timings, "assignments": res.assigned,
                 "contacts": res.contacts, "run_id": res.run_id},
    ), res  # fmt: skip


def _scaling_run(
    dsn: str, name: str, progress: Progress, jobs: int | None = None
) -> dict[str, Any]:
    """One scaling point: a warm-up run, then the measured one."""
    measure_run(dsn, quiet, jobs)
    m, _ = measure_run(dsn, quiet, jobs)
    progress(f"scaling: {name.removeprefix('run, ')} {m.seconds:.2f}s")
    return {
        "name": name,
        "seconds": m.seconds,
        "customers": m.customers,
        # more campaigns match more customers: the output grows too
        "assignments": m.details["assignments"],
        "contacts": m.details["contacts"],
    }


def measure_literal(
    conn: psycopg.Connection, config: Configuration, run_id: int, population: int
) -> Measurement:
    """The literal plan per group, materialised; then compared with what the run stored."""
    warm_up(conn)
    t0 = time.monotonic()
    times = {}
    conn.execute("DROP TABLE IF EXISTS campaign_results.bench_literal")
    conn.execute(
        "CREATE TABLE campaign_results.bench_literal (campaign_group_id bigint, cif varchar(50), campaign_id bigint, account_numbers text[])"
    )
    for g in config.groups:
        tg = time.monotonic()
        conn.execute(
            sql.SQL("INSERT INTO campaign_results.bench_literal SELECT {}, q.* FROM (").format(
                sql.Literal(g.id)
            )
            + sql.SQL(literal_group_sql(g))
            + sql.SQL(") AS q")
        )
        times[g.name] = round(time.monotonic() - tg, 3)
    seconds = time.monotonic() - t0
    diff = conn.execute(
        """SELECT count(*) FROM (
             (SELECT campaign_group_id, cif, campaign_id, account_numbers FROM campaign_results.bench_literal
              EXCEPT ALL SELECT campaign_group_id, cif, campaign_id, account_numbers FROM campaign_results.assignments WHERE run_id = %(r)s)
             UNION ALL
             (SELECT campaign_group_id, cif, campaign_id, account_numbers FROM campaign_results.assignments WHERE run_id = %(r)s
              EXCEPT ALL SELECT campaign_group_id, cif, campaign_id, account_numbers FROM campaign_results.bench_literal)) d""",
        {"r": run_id},
    ).fetchone()[0]
    conn.execute("DROP TABLE campaign_results.bench_literal")
    return Measurement("literal plan", seconds, population, note="assignments only",
                       details={"groups": times, "differences_from_run": diff})  # fmt: skip


def measure_per_customer(
    conn: psycopg.Connection, config: Configuration, sample: int, seed: int
) -> Measurement:
    warm_up(conn)
    cifs = [r[0] for r in conn.execute(
        "SELECT cif FROM bank_sync_service.customers ORDER BY hashtext(cif || %s) LIMIT %s", (str(seed), sample)
    ).fetchall()]  # fmt: skip
    t0 = time.monotonic()
    data = reference.load_data(conn, cifs)
    reference.evaluate(config, data, cifs)
    seconds = time.monotonic() - t0
    return Measurement(
        "per-customer", seconds, len(cifs), note=f"reference evaluator, sample of {len(cifs):,}"
    )


@dataclass
class BenchReport:
    parameters: dict[str, Any]
    measurements: list[Measurement]
    scaling: list[dict[str, Any]]
    peak_rss_mb: float
    identical: bool

    def table(self) -> str:
        floor = next((m for m in self.measurements if m.name == "floor"), None)
        rows = [("measurement", "seconds", "customers/s", "x floor", "note")]
        for m in self.measurements:
            ratio = (
                f"{m.seconds / floor.seconds:.2f}"
                if floor and floor.seconds and m.name != "per-customer"
                else "-"
            )
            if m.name == "per-customer" and floor:
                pop = self.parameters["customers"]
                ratio = f"{(pop / m.rate) / floor.seconds:.1f}*" if m.rate else "-"
            rows.append(
                (
                    m.name,
                    f"{m.seconds:.2f}",
                    f"{m.rate:,.0f}" if m.customers else "-",
                    ratio,
                    m.note,
                )
            )
        for s in self.scaling:
            rows.append(
                (
                    s["name"],
                    f"{s['seconds']:.2f}",
                    f"{s['customers'] / s['seconds']:,.0f}",
                    "-",
                    f"{s['assignments']:,} assignments, {s['contacts']:,} contacts"
                    if "assignments" in s
                    else "",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [
            "  ".join(
                r[i].ljust(widths[i]) if i in (0, 4) else r[i].rjust(widths[i]) for i in range(5)
            )
            for r in rows
        ]
        lines.append(
            f"peak RSS of this process: {self.peak_rss_mb:.0f} MB; run == literal plan and "
            f"single pass: {self.identical}"
        )
        if any(m.name == "per-customer" for m in self.measurements):
            lines.append(
                "* per-customer: extrapolated time for the whole population, as a multiple of the floor"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "measurements": [
                {**asdict(m), "customers_per_second": m.rate} for m in self.measurements
            ],
            "scaling": self.scaling,
            "peak_rss_mb": self.peak_rss_mb,
            "run_equals_literal_plan": self.identical,
        }


def _apply(dsn: str, doc: dict[str, Any]) -> Configuration:
    with connect(dsn) as conn:
        catalog = source.catalog(conn)
        db.apply(conn, ConfigFile.model_validate(doc), catalog, applied_by="bench", source="bench")
        return db.load_validated(conn, catalog, AS_OF)


def measure_condition_forms(
    dsn: str, base: dict[str, Any], progress: Progress, jobs: int | None
) -> tuple[list[Measurement], int]:
    """The same leaves as trees and with relative dates (SPEC §2a/§2b), each run checked
    against the literal plan; then the flat lists again, so that the flat figure is the mean
    of a run before and a run after (same data, same bench run). (measurements, differences)"""
    variants = [
        ("run, trees: not any not (same results)", as_trees(base, "equivalent")),
        ("run, trees: a and (b or not c) and d", as_trees(base, "mixed")),
        ("run, dates relative to the run (same results)", as_relative(base, AS_OF)),
        ("run, flat lists again", base),
    ]
    out, differences = [], 0
    for name, doc in variants:
        config = _apply(dsn, doc)
        measure_run(dsn, quiet, jobs)  # warm-up: the first run after a change plans cold
        m, res = measure_run(dsn, quiet, jobs, name)
        with connect(dsn, autocommit=True) as conn:
            literal = measure_literal(conn, config, res.run_id, res.population)
        differences += literal.details["differences_from_run"]
        m.note = f"{res.assigned:,} assignments, {res.contacts:,} contacts"
        progress(f"{name}: {m.seconds:.2f}s ({m.note})")
        out.append(m)
    return out, differences


def _generate(dsn: str, customers: int, seed: int, progress: Progress) -> None:
    with connect(dsn) as conn:
        marker = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'bank_sync_service'"
        ).fetchone()
        have = None
        if marker and marker[0] == demo.DEMO_MARKER:
            have = conn.execute("SELECT count(*) FROM bank_sync_service.customers").fetchone()[0]
        if have == customers and demo.generated_seed(conn) == seed:
            progress(f"reusing the demo data already loaded ({customers:,} customers, seed {seed})")
            return
        progress(f"generating {customers:,} customers (seed {seed})")
        demo.generate(conn, customers, seed, progress=progress)


def bench(
    dsn: str,
    *,
    customers: int = 1_000_000,
    groups: int = 10,
    campaigns: int = 20,
    conditions: int = 4,
    rules: int = 3,
    seed: int = 42,
    sample: int = 2000,
    contact_heavy: bool = False,  # every rule asks for every phone of customer and references
    scaling: bool = True,
    trees: bool = True,  # also the same leaves as trees and with relative dates
    jobs: int | None = None,  # run --jobs; None: the run's default
    progress: Progress = quiet,
) -> BenchReport:

    migrations.upgrade(dsn)
    with connect(dsn) as conn:
        saved = db.load_from_db(conn)  # restored at the end: the bench must not eat a config
    params = {"customers": customers, "groups": groups, "campaigns": campaigns, "conditions": conditions,
              "rules": rules, "seed": seed, "sample": sample, "contact_heavy": contact_heavy,
              "jobs": jobs or runner.default_jobs()}  # fmt: skip
    measurements: list[Measurement] = []
    scale: list[dict[str, Any]] = []
    try:
        _generate(dsn, customers, seed, progress)
        config = _apply(
            dsn, synthetic_config(groups, campaigns, conditions, rules, seed, contact_heavy)
        )
        progress("warm-up run")
        _, warm = measure_run(dsn, quiet, jobs)
        with connect(dsn, autocommit=True) as conn:
            progress("floor")
            measurements.append(measure_floor(conn, warm.assigned, warm.contacts))
        progress("run")
        m_run, res = measure_run(dsn, progress, jobs)
        measurements.append(m_run)
        with connect(dsn, autocommit=True) as conn:
            progress("literal plan")
            literal = measure_literal(conn, config, res.run_id, res.population)
            measurements.append(literal)
            progress("single pass, 1 connection")
            single = measure_single_pass(conn, config, res.run_id, res.population)
            measurements.append(single)
            progress("per-customer (reference evaluator)")
            measurements.append(measure_per_customer(conn, config, sample, seed))
        identical = literal.details["differences_from_run"] == 0 and not any(
            single.details["differences_from_run"].values()
        )
        if trees:
            base = synthetic_config(groups, campaigns, conditions, rules, seed, contact_heavy)
            m_run.note = f"{res.assigned:,} assignments, {res.contacts:,} contacts"
            forms, differences = measure_condition_forms(dsn, base, progress, jobs)
            flat = (m_run.seconds + forms[-1].seconds) / 2
            for m in forms[:-1]:
                m.note += f"; {m.seconds / flat:.2f} x flat lists"
            measurements += forms
            identical = identical and differences == 0
            _apply(dsn, base)
        if scaling:
            for total in (20, 100, 400):
                per_group = max(1, total // groups)
                _apply(
                    dsn, synthetic_config(groups, per_group, conditions, rules, seed, contact_heavy)
                )
                scale.append(
                    _scaling_run(dsn, f"run, {groups * per_group} campaigns", progress, jobs)
                )
            small = max(1000, customers // 10)
            for n in (small, customers):
                _generate(dsn, n, seed, progress)
                _apply(
                    dsn, synthetic_config(groups, campaigns, conditions, rules, seed, contact_heavy)
                )
                scale.append(_scaling_run(dsn, f"run, {n:,} customers", progress, jobs))
    finally:
        with connect(dsn) as conn:
            db.apply(
                conn, saved, source.catalog(conn), applied_by="bench (restore)", source="bench"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = BenchReport(params, measurements, scale, peak, identical)
    if not identical:
        raise SqlCompilerError(
            "bench: a run and the literal plan disagree on some assignment rows\n" + report.table()
        )
    return report


def write_report(report: BenchReport, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report.to_json(), fh, indent=2, default=str)
