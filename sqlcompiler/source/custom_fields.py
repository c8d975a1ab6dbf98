"""Custom fields: registration, and uploading their values into loan_custom_fields.

An upload is checked line by line while it streams (registered field, value of the declared
type, no duplicate account number), COPYed into a temporary staging table, checked against
the loans (unknown account numbers), then upserted in the same transaction. Any bad line and
nothing is written, unless a reject file takes the bad lines and the rest loads.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..config.model import DATA_TYPES, text_problem
from ..config.operands import DATE_RE, parse_scalar
from ..errors import ConfigError, UploadError
from ..progress import Progress, quiet
from .plan import require_local

MAX_REPORTED = 10
MAX_CELL = 100_000  # characters in one value: far above any real field, bounded memory
MAX_ACCOUNT = 50  # bank_sync_service.loans.account_number is varchar(50)


MAX_NAME = 128  # also what a condition's field_name column holds (varchar(255))


def add(
    conn: psycopg.Connection, name: str, data_type: str, description: str | None = None
) -> None:
    if data_type not in DATA_TYPES:
        raise ConfigError(f"--type {data_type!r} is not one of {', '.join(DATA_TYPES)}")
    if not name.strip():
        raise ConfigError("a custom field needs a name")
    if len(name) > MAX_NAME or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(
            f"custom field name {name[:40]!r}{'…' if len(name) > 40 else ''}: at most "
            f"{MAX_NAME} characters and no control characters"
        )
    if description is not None and (len(description) > 1000 or "\x00" in description):
        raise ConfigError("a custom field's description: at most 1,000 characters, no NUL")
    with conn.transaction():
        exists = conn.execute(
            "SELECT data_type FROM campaign_engine.custom_fields WHERE field_name = %s", (name,)
        ).fetchone()
        if exists:
            raise ConfigError(f"custom field {name!r} is already registered as {exists[0]}")
        conn.execute(
            "INSERT INTO campaign_engine.custom_fields (field_name, data_type, description) VALUES (%s, %s, %s)",
            (name, data_type, description),
        )


def registry(conn: psycopg.Connection) -> dict[str, str]:
    return dict(
        conn.execute("SELECT field_name, data_type FROM campaign_engine.custom_fields").fetchall()
    )


def _typed(dtype: str, raw: Any, from_text: bool) -> Any:
    """The JSON value to store; ValueError names what was expected."""
    if raw is None:
        return None
    if dtype == "number":
        if from_text:
            num = parse_scalar("number", raw)
        elif isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
            raise ValueError(f"{_short(raw)} is not a JSON number")
        else:  # finite and in range, as a condition's value
            num = parse_scalar("number", str(raw) if isinstance(raw, Decimal) else raw)
        return (
            int(num)
            if num == num.to_integral_value()
            and "." not in str(raw)
            and "e" not in str(raw).lower()
            else num
        )
    if dtype == "boolean":
        if not from_text and not isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not true or false")
        return parse_scalar("boolean", raw)
    if not isinstance(raw, str):
        raise ValueError(f"{_short(raw)} is not a string")
    problem = text_problem(raw)
    if problem:
        raise ValueError(problem)
    if dtype == "date":
        if not DATE_RE.match(raw):
            raise ValueError(f"{raw!r} is not a date; write it as YYYY-MM-DD")
        parse_scalar("date", raw)
    return raw


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _json_line(line: str) -> Any:
    """One JSON line; ValueError says why it is refused (never a traceback, never a hang)."""
    try:
        return json.loads(line, parse_float=Decimal, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN / Infinity, integers over Python's 4300-digit limit
        raise ValueError(f"not valid JSON: {str(exc).splitlines()[0]}") from None


def _printable(raw: str) -> str:
    """A line as the reject file and the staging table can hold it (no NUL)."""
    return raw.replace("\x00", "\\0")


@dataclass(slots=True)
class _Row:
    line: int
    account: str
    fields: dict[str, Any]
    raw: str


@dataclass
class UploadResult:
    loaded: int
    rejected: int
    inserted: int
    updated: int
    seconds: float
    problems: list[tuple[int, str]] = field(default_factory=list)


def _rows(path: Path, reg: dict[str, str], problems: list[tuple[int, str, str]]) -> Iterator[_Row]:
    """The lines of an upload file; bad lines go to ``problems``; UploadError for a bad file."""
    try:
        yield from _read(path, reg, problems)
    except UnicodeDecodeError as exc:
        raise UploadError(
            f"{path}: not UTF-8 (byte {exc.start} of a chunk cannot be decoded); save the file "
            "as UTF-8 (with or without a byte-order mark) and upload it again"
        ) from None
    except csv.Error as exc:
        raise UploadError(f"{path}: not a readable CSV file: {exc}") from None


def _read(path: Path, reg: dict[str, str], problems: list[tuple[int, str, str]]) -> Iterator[_Row]:
    csv.field_size_limit(max(csv.field_size_limit(), 16 * MAX_CELL))  # cells checked below
    with open(path, encoding="utf-8-sig", newline="") as fh:  # -sig: a BOM is not data
        first = fh.readline()
        fh.seek(0)
        if first.lstrip().startswith("{"):
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                raw = _printable(line.rstrip("\n"))
                if len(line) > MAX_CELL:
                    problems.append((n, f"longer than {MAX_CELL:,} characters", raw[:200] + "…"))
                    continue
                try:
                    obj = _json_line(line)
                except ValueError as exc:
                    problems.append((n, str(exc), raw))
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("account_number"), str):
                    problems.append((n, "needs an object with a string account_number", raw))
                    continue
                values = obj.get("fields", {k: v for k, v in obj.items() if k != "account_number"})
                yield from _check(n, obj["account_number"], values, reg, problems, raw, False)
            return
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or header[0].strip() != "account_number":
            raise UploadError(
                f"{path}: the first CSV column must be account_number (or use JSON lines)"
            )
        names = [h.strip() for h in header[1:]]
        unknown = [h for h in names if h not in reg]
        if unknown:
            raise UploadError(
                f"{path}: columns {', '.join(map(repr, unknown))} are not registered custom fields; "
                "register them first (`sqlcompiler custom-fields add NAME --type …`)"
            )
        for rec in reader:
            n = reader.line_num
            if not rec or not any(x.strip() for x in rec):
                continue
            buf = io.StringIO()
            csv.writer(buf).writerow([c if len(c) <= 200 else c[:200] + "…" for c in rec])
            raw = _printable(buf.getvalue().rstrip())
            if any(len(c) > MAX_CELL for c in rec):
                problems.append((n, f"a value is longer than {MAX_CELL:,} characters", raw))
                continue
            if len(rec) != len(header):
                problems.append((n, f"has {len(rec)} columns, the header has {len(header)}", raw))
                continue
            values = {k: v for k, v in zip(names, rec[1:], strict=True) if v != ""}
            yield from _check(n, rec[0].strip(), values, reg, problems, raw, True)


def _check(n, account, values, reg, problems, raw, from_text) -> Iterator[_Row]:
    if not isinstance(values, dict):
        problems.append((n, "fields must be an object", raw))
        return
    out, bad = {}, []
    for k, v in values.items():
        dtype = reg.get(k)
        if dtype is None:
            bad.append(f"{_short(k)} is not a registered custom field")
            continue
        try:
            out[k] = _typed(dtype, v, from_text)
        except ValueError as exc:
            bad.append(f"{k} ({dtype}): {exc}")
    if not account:
        bad.append("account_number is empty")
    elif len(account) > MAX_ACCOUNT:
        bad.append(f"account_number is longer than {MAX_ACCOUNT} characters")
    elif text_problem(account, allowed=""):
        bad.append(f"account_number {text_problem(account, allowed='')}")
    if bad:
        problems.append((n, "; ".join(bad), raw))
        return
    yield _Row(n, account, out, raw)


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v) if v != v.to_integral_value() else int(v)
    raise TypeError(type(v))


def upload(
    conn: psycopg.Connection,
    path: str | Path,
    *,
    source_system: str,
    uploaded_by: str,
    mode: str = "merge",
    reject_file: str | Path | None = None,
    progress: Progress = quiet,
) -> UploadResult:
    if mode not in ("merge", "replace"):
        raise UploadError("--mode must be merge or replace")
    t0 = time.monotonic()
    path = Path(path)
    if not path.exists():
        raise UploadError(f"{path}: no such file")
    require_local(conn, "custom-fields upload")
    if reject_file is not None:
        try:  # before the work: an unwritable reject file must not cost a whole upload
            Path(reject_file).open("a", encoding="utf-8").close()
        except OSError as exc:
            raise UploadError(
                f"cannot write the reject file {reject_file}: {exc.strerror or exc}"
            ) from None
    reg = registry(conn)
    problems: list[tuple[int, str, str]] = []  # only bad lines are kept in memory
    read = 0
    with conn.transaction():
        conn.execute(
            "CREATE TEMP TABLE upload_staging (line int, account_number varchar(50), fields jsonb, raw text) "
            "ON COMMIT DROP"
        )
        with conn.cursor().copy(
            "COPY pg_temp.upload_staging (line, account_number, fields, raw) FROM STDIN"
        ) as cp:
            for row in _rows(path, reg, problems):
                cp.write_row(
                    (row.line, row.account, json.dumps(row.fields, default=_json_default), row.raw)
                )
                read += 1
                if read % 200_000 == 0:
                    progress(f"  {read:,} lines read")
        found = conn.execute(
            sql.SQL(
                """
                SELECT line, 'account_number ' || account_number || ' also on line ' || first, raw
                FROM (SELECT line, account_number, raw,
                             min(line) OVER (PARTITION BY account_number) AS first
                      FROM pg_temp.upload_staging) d
                WHERE line <> first
                UNION ALL
                SELECT s.line, 'account_number ' || s.account_number || ' is not a loan in bank_sync_service.loans', s.raw
                FROM pg_temp.upload_staging s
                LEFT JOIN (SELECT DISTINCT l.account_number FROM {}.loans l
                           WHERE l.account_number IN (SELECT account_number FROM pg_temp.upload_staging)) k
                  ON k.account_number = s.account_number
                WHERE k.account_number IS NULL
                """
            ).format(sql.Identifier("bank_sync_service"))  # known loans as a subquery, not a
            # correlated NOT EXISTS: Citus plans it apart (loans distributed, the upload local)
        ).fetchall()
        problems.extend(found)
        problems.sort()
        if problems and reject_file is None:
            shown = "\n".join(f"  line {n}: {why}" for n, why, _ in problems[:MAX_REPORTED])
            more = (
                f"\n  … and {len(problems) - MAX_REPORTED} more"
                if len(problems) > MAX_REPORTED
                else ""
            )
            raise UploadError(
                f"{path}: {len(problems)} bad line(s), nothing was written "
                f"(use --reject-file to load the good lines):\n{shown}{more}"
            )
        if problems:
            conn.execute(
                "DELETE FROM pg_temp.upload_staging WHERE line = ANY(%s)",
                ([n for n, _, _ in problems],),
            )
            with open(reject_file, "w", encoding="utf-8") as fh:
                fh.write("line\treason\toriginal\n")
                for n, why, raw in problems:
                    fh.write(f"{n}\t{why}\t{raw}\n")
        merge = (
            sql.SQL("f.fields || EXCLUDED.fields")
            if mode == "merge"
            else sql.SQL("EXCLUDED.fields")
        )
        counts = conn.execute(
            sql.SQL(
                """
                WITH up AS (
                  INSERT INTO {t} AS f (account_number, fields, source_system, uploaded_by, uploaded_at)
                  SELECT account_number, fields, %(src)s, %(by)s, now() FROM pg_temp.upload_staging
                  ON CONFLICT (account_number) DO UPDATE
                  SET fields = {merge}, source_system = EXCLUDED.source_system,
                      uploaded_by = EXCLUDED.uploaded_by, uploaded_at = EXCLUDED.uploaded_at,
                      updated_at = EXCLUDED.uploaded_at
                  RETURNING (xmax = 0) AS inserted
                )  -- EXCLUDED.uploaded_at is now(): Citus allows no function in DO UPDATE SET
                SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
                """
            ).format(t=sql.Identifier("bank_sync_service", "loan_custom_fields"), merge=merge),
            {"src": source_system, "by": uploaded_by},
        ).fetchone()
    return UploadResult(
        loaded=counts[0] + counts[1], rejected=len(problems), inserted=counts[0], updated=counts[1],
        seconds=time.monotonic() - t0, problems=[(n, why) for n, why, _ in problems],
    )  # fmt: skip
