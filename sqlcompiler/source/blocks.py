"""Contact blocks (SPEC §6's second input), managed by users: a phone number or a party not to
be called from ``valid_from`` to ``valid_until`` (open-ended when not set). Who added a block
and why is kept; removing one records who removed it and keeps the row."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import class_row

from ..config.model import text_problem
from ..errors import ConfigError, UploadError

SCOPES = ("phone", "party")


@dataclass(frozen=True)
class ContactBlock:
    id: int
    scope: str
    value: str
    reason: str
    valid_from: dt.date
    valid_until: dt.date | None
    note: str | None
    added_by: str
    added_at: dt.datetime
    removed_by: str | None
    removed_at: dt.datetime | None


def add(
    conn: psycopg.Connection, scope: str, value: str, reason: str, *, added_by: str,
    valid_from: dt.date | None = None, valid_until: dt.date | None = None,
    note: str | None = None,
) -> int:  # fmt: skip
    """A new block (from today when ``valid_from`` is not given); its id."""
    if scope not in SCOPES:
        raise ConfigError(f"scope {scope!r}: use phone (a number) or party (a cif)")
    for name, text, limit in (("value", value, 50), ("reason", reason, 200)):
        if not text.strip():
            raise ConfigError(f"a block needs a {name}")
        problem = text_problem(text, allowed="")
        if problem or len(text) > limit:
            raise ConfigError(
                f"the block's {name} {problem or f'is longer than {limit} characters'}"
            )
    start = valid_from or dt.date.today()
    if valid_until is not None and valid_until < start:
        raise ConfigError(f"the block ends ({valid_until}) before it starts ({start})")
    (block_id,) = conn.execute(
        "INSERT INTO campaign_engine.contact_blocks (scope, value, reason, valid_from, "
        "valid_until, note, added_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (scope, value, reason, start, valid_until, note, added_by),
    ).fetchone()
    return block_id


def remove(conn: psycopg.Connection, block_id: int, *, removed_by: str) -> None:
    cur = conn.execute(
        "UPDATE campaign_engine.contact_blocks SET removed_by = %s, removed_at = now() "
        "WHERE id = %s AND removed_at IS NULL",
        (removed_by, block_id),
    )
    if cur.rowcount != 1:
        raise ConfigError(
            f"block {block_id} does not exist or was removed already; `sqlcompiler blocks list "
            "--all` shows every block"
        )


def listed(
    conn: psycopg.Connection, *, everything: bool = False, value: str | None = None
) -> list[ContactBlock]:
    """Blocks not removed (``everything``: removed ones too), newest first."""
    with conn.cursor(row_factory=class_row(ContactBlock)) as cur:
        return cur.execute(
            "SELECT id, scope, value, reason, valid_from, valid_until, note, added_by, added_at, "
            "removed_by, removed_at FROM campaign_engine.contact_blocks "
            "WHERE (%s OR removed_at IS NULL) AND (%s::text IS NULL OR value = %s) "
            "ORDER BY id DESC",
            (everything, value, value),
        ).fetchall()


COLUMNS = ("scope", "value", "reason", "valid_from", "valid_until", "note")


def upload(conn: psycopg.Connection, path: str | Path, *, added_by: str) -> int:
    """Blocks from a CSV file (columns scope, value, reason, valid_from, valid_until, note; the
    dates may be empty): all of them in one transaction, or none with every bad line named."""
    path = Path(path)
    if not path.exists():
        raise UploadError(f"{path}: no such file")
    rows, problems = [], []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            absent = [k for k in COLUMNS[:3] if k not in (reader.fieldnames or [])]
            if absent:
                raise UploadError(f"{path}: the CSV header lacks {', '.join(absent)}")
            for rec in reader:
                try:
                    day = {k: dt.date.fromisoformat(rec[k].strip()) if (rec.get(k) or "").strip()
                           else None for k in ("valid_from", "valid_until")}  # fmt: skip
                except ValueError as exc:
                    problems.append(f"line {reader.line_num}: {exc}")
                    continue
                rows.append((reader.line_num, rec, day))
    except UnicodeDecodeError:
        raise UploadError(f"{path}: not UTF-8; save the file as UTF-8") from None
    with conn.transaction():
        for line, rec, day in rows:
            try:
                with conn.transaction():
                    add(conn, (rec.get("scope") or "").strip(), (rec.get("value") or "").strip(),
                        (rec.get("reason") or "").strip(), added_by=added_by,
                        valid_from=day["valid_from"], valid_until=day["valid_until"],
                        note=(rec.get("note") or "").strip() or None)  # fmt: skip
            except ConfigError as exc:
                problems.append(f"line {line}: {exc}")
        if problems:
            raise UploadError(f"{path}: {len(problems)} bad line(s), no block was added:\n  "
                              + "\n  ".join(problems[:10]))  # fmt: skip
    return len(rows)
