"""Contact attempts (SPEC §6's first input): what dialers and SMS services report.

Stored once per ``attempt_id`` (a report whose id was seen before is ignored: the first report
stands), in one partition per UTC day of ``attempted_at``, created here when a day first has
an attempt and dropped by retention (``runs prune --keep-attempts-days``, default 400). An
upload is checked line by line; a bad line stops it with nothing written, unless a reject file
takes the bad lines and the rest loads (as custom-field uploads do).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..config.model import text_problem
from ..config.policy import OUTCOMES
from ..errors import UploadError
from ..progress import Progress, quiet

FIELDS = ("attempt_id", "cif", "party_cif", "phone_number", "attempted_at", "outcome")
LOCK = 0x5C0C0A77  # advisory lock: one writer of attempts at a time (ids stay unique)
MAX_TEXT = 50  # varchar(50) in the table; attempt ids at most 200
MAX_REPORTED = 10
KEEP_DAYS = 400


@dataclass
class AttemptsResult:
    read: int
    stored: int  # new attempts
    repeated: int  # ids seen before: the first report stands
    rejected: int
    seconds: float
    problems: list[tuple[int, str]] = field(default_factory=list)


def partition(day: dt.date) -> sql.Identifier:
    return sql.Identifier("campaign_engine", f"contact_attempts_d{day:%Y%m%d}")


def ensure_days(conn: psycopg.Connection, days: Iterable[dt.date]) -> None:
    """A partition for each UTC day (created once; the owner of the table runs this)."""
    for day in sorted(set(days)):
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF campaign_engine.contact_attempts "
                "FOR VALUES FROM ({}) TO ({})"
            ).format(
                partition(day),
                sql.Literal(dt.datetime.combine(day, dt.time(), dt.UTC)),
                sql.Literal(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)),
            )
        )


def parse(raw: dict[str, Any]) -> tuple:
    """One attempt as stored; ValueError says what is wrong with it."""
    missing = [k for k in FIELDS if raw.get(k) in (None, "")]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    values = {k: raw[k] for k in FIELDS}
    for k in ("attempt_id", "cif", "party_cif", "phone_number", "outcome", "attempted_at"):
        if not isinstance(values[k], str):
            raise ValueError(f"{k} must be text, not {type(values[k]).__name__}")
        problem = text_problem(values[k], allowed="")
        if problem:
            raise ValueError(f"{k} {problem}")
    for k in ("cif", "party_cif", "phone_number"):
        if len(values[k]) > MAX_TEXT:
            raise ValueError(f"{k} is longer than {MAX_TEXT} characters")
    if len(values["attempt_id"]) > 200:
        raise ValueError("attempt_id is longer than 200 characters")
    if values["outcome"] not in OUTCOMES:
        raise ValueError(f"outcome {values['outcome']!r} is not one of {', '.join(OUTCOMES)}")
    try:
        when = dt.datetime.fromisoformat(values["attempted_at"])
    except ValueError:
        raise ValueError(
            f"attempted_at {values['attempted_at']!r} is not an ISO 8601 time, e.g. "
            "2026-12-07T09:30:00+07:00"
        ) from None
    if when.tzinfo is None:
        raise ValueError(
            f"attempted_at {values['attempted_at']!r} has no UTC offset: write it with one "
            "(+07:00, Z), the day of an attempt depends on it"
        )
    return (values["attempt_id"], values["cif"], values["party_cif"], values["phone_number"],
            when, values["outcome"])  # fmt: skip


def record(
    conn: psycopg.Connection, rows: list[tuple], source: str | None = None
) -> tuple[int, int]:
    """Store parsed attempts in one transaction; (new, repeated ids)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        ensure_days(conn, (r[4].astimezone(dt.UTC).date() for r in rows))
        conn.execute(
            "CREATE TEMP TABLE attempts_upload (line serial, attempt_id text, cif text, "
            "party_cif text, phone_number text, attempted_at timestamptz, outcome text) "
            "ON COMMIT DROP"
        )
        with conn.cursor().copy(
            "COPY pg_temp.attempts_upload (attempt_id, cif, party_cif, phone_number, "
            "attempted_at, outcome) FROM STDIN"
        ) as cp:
            for r in rows:
                cp.write_row(r)
        (stored,) = conn.execute(
            """
            WITH firsts AS (
              SELECT DISTINCT ON (attempt_id) * FROM pg_temp.attempts_upload ORDER BY attempt_id, line
            ), ins AS (
              INSERT INTO campaign_engine.contact_attempts
                (attempt_id, cif, party_cif, phone_number, attempted_at, outcome, source)
              SELECT f.attempt_id, f.cif, f.party_cif, f.phone_number, f.attempted_at, f.outcome, %s
              FROM firsts f
              WHERE f.attempt_id NOT IN (SELECT attempt_id FROM campaign_engine.contact_attempts
                                         WHERE attempt_id IN (SELECT attempt_id FROM firsts))
              RETURNING 1
            ) SELECT count(*) FROM ins
            """,
            (source,),
        ).fetchone()
    return stored, len(rows) - stored


def _lines(path: Path, problems: list[tuple[int, str, str]]) -> Iterator[tuple[int, tuple]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        if first.lstrip().startswith("{"):
            items: Iterable[tuple[int, Any, str]] = (
                (n, line, line.rstrip("\n")) for n, line in enumerate(fh, start=1) if line.strip()
            )
            for n, line, raw in items:
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError("needs a JSON object")
                    yield n, parse(obj)
                except (ValueError, json.JSONDecodeError) as exc:
                    problems.append((n, str(exc), raw.replace("\x00", "\\0")))
            return
        reader = csv.DictReader(fh)
        absent = [k for k in FIELDS if k not in (reader.fieldnames or [])]
        if absent:
            raise UploadError(
                f"{path}: the CSV header lacks {', '.join(absent)} (or use JSON lines)"
            )
        for rec in reader:
            n = reader.line_num
            try:
                yield (
                    n,
                    parse({k: (v.strip() if isinstance(v, str) else v) for k, v in rec.items()}),
                )
            except ValueError as exc:
                problems.append((n, str(exc), ",".join(str(v) for v in rec.values())))


def upload(
    conn: psycopg.Connection,
    path: str | Path,
    *,
    reject_file: str | Path | None = None,
    source: str | None = None,
    progress: Progress = quiet,
) -> AttemptsResult:
    t0 = time.monotonic()
    path = Path(path)
    if not path.exists():
        raise UploadError(f"{path}: no such file")
    problems: list[tuple[int, str, str]] = []
    try:
        rows = [row for _n, row in _lines(path, problems)]
    except UnicodeDecodeError:
        raise UploadError(
            f"{path}: not UTF-8; save the file as UTF-8 and upload it again"
        ) from None
    except csv.Error as exc:
        raise UploadError(f"{path}: not a readable CSV file: {exc}") from None
    if problems and reject_file is None:
        shown = "\n".join(f"  line {n}: {why}" for n, why, _ in problems[:MAX_REPORTED])
        more = (
            f"\n  … and {len(problems) - MAX_REPORTED} more" if len(problems) > MAX_REPORTED else ""
        )
        raise UploadError(f"{path}: {len(problems)} bad line(s), nothing was written "
                          f"(use --reject-file to load the good lines):\n{shown}{more}")  # fmt: skip
    if problems:
        with open(reject_file, "w", encoding="utf-8") as fh:
            fh.write("line\treason\toriginal\n")
            for n, why, raw in problems:
                fh.write(f"{n}\t{why}\t{raw}\n")
    progress(f"  {len(rows):,} attempts read from {path}")
    stored, repeated = record(conn, rows, source or path.name)
    return AttemptsResult(len(rows), stored, repeated, len(problems), time.monotonic() - t0,
                          [(n, why) for n, why, _ in problems])  # fmt: skip


def prune(conn: psycopg.Connection, keep_days: int = KEEP_DAYS) -> list[str]:
    """Drop the days older than ``keep_days`` (whole partitions); their names."""
    cutoff = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=keep_days)
    dropped = []
    for (name,) in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'campaign_engine.contact_attempts'::regclass ORDER BY 1"
    ).fetchall():
        day = dt.datetime.strptime(name.rsplit("_d", 1)[1], "%Y%m%d").date()
        if day < cutoff:
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("campaign_engine", name)))
            dropped.append(name)
    return dropped
