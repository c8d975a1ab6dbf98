"""``results export``: the current assignments with their contacts, for dialer and SMS feeds.

CSV goes through ``COPY … TO STDOUT`` (one row per contact; an assignment without contacts is
one row with empty contact columns); JSON lines (one object per assignment with its contacts,
as in the Kafka message) through a server-side cursor. Either way memory stays constant.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from ..errors import SqlCompilerError

SELECTED = """
SELECT a.cif, g.name AS campaign_group, c.name AS campaign, a.campaign_group_id,
       a.campaign_id, a.account_numbers, a.run_id
FROM campaign_results.current_assignments a
LEFT JOIN campaign_engine.campaign_groups g ON g.id = a.campaign_group_id
LEFT JOIN campaign_engine.campaigns c ON c.id = a.campaign_id
WHERE ({group}::text IS NULL OR g.name = {group}) AND ({campaign}::text IS NULL OR c.name = {campaign})
"""

CSV = """
SELECT s.cif, s.campaign_group, s.campaign, array_to_string(s.account_numbers, ';') AS account_numbers,
       k.position, k.party_type, k.party_cif, k.relationship_type, k.contact_type, k.phone_number,
       k.is_primary::text AS is_primary, k.is_verified::text AS is_verified
FROM ({selected}) s
LEFT JOIN campaign_results.current_contacts k
  ON k.cif = s.cif AND k.campaign_group_id = s.campaign_group_id
ORDER BY s.cif, s.campaign_group, k.position
"""


# An assignment's contacts (alias k) as the JSON array of the Kafka message and of JSON lines
def contacts_agg(kind: str = "jsonb") -> str:
    """An assignment's contacts as a JSON array (``kind`` json or jsonb: json builds text
    directly, 1.7 × faster for the relay; jsonb normalises, as the export always did)."""
    assert kind in ("json", "jsonb")
    return f"""{kind}_agg({kind}_build_object(
  'position', k.position, 'rule_priority', k.rule_priority, 'party_type', k.party_type,
  'party_cif', k.party_cif, 'relationship_type', k.relationship_type,
  'contact_type', k.contact_type, 'phone_number', k.phone_number,
  'is_primary', k.is_primary, 'is_verified', k.is_verified) ORDER BY k.position)"""


CONTACTS_AGG = contacts_agg("jsonb")

JSONL = """
SELECT jsonb_build_object(
  'cif', s.cif, 'run_id', s.run_id,
  'campaign_group', jsonb_build_object('id', s.campaign_group_id, 'name', s.campaign_group),
  'campaign', jsonb_build_object('id', s.campaign_id, 'name', s.campaign),
  'account_numbers', to_jsonb(s.account_numbers),
  'contacts', coalesce((
    SELECT {contacts}
    FROM campaign_results.current_contacts k
    WHERE k.cif = s.cif AND k.campaign_group_id = s.campaign_group_id), '[]'::jsonb))::text
FROM ({selected}) s
ORDER BY s.cif, s.campaign_group
"""


def _check_names(conn: psycopg.Connection, group: str | None, campaign: str | None) -> None:
    if group is not None:
        groups = [
            r[0]
            for r in conn.execute("SELECT name FROM campaign_engine.campaign_groups ORDER BY 1")
        ]
        if group not in groups:
            raise SqlCompilerError(
                f"no campaign group named {group!r}; groups: {', '.join(map(repr, groups)) or 'none'}"
            )
    if campaign is not None:
        rows = conn.execute(
            "SELECT c.name FROM campaign_engine.campaigns c JOIN campaign_engine.campaign_groups g "
            "ON g.id = c.campaign_group_id WHERE %s::text IS NULL OR g.name = %s ORDER BY 1",
            (group, group),
        ).fetchall()
        names = [r[0] for r in rows]
        if campaign not in names:
            raise SqlCompilerError(
                f"no campaign named {campaign!r}{f' in group {group!r}' if group else ''}; "
                f"campaigns: {', '.join(map(repr, names)) or 'none'}"
            )


def csv_chunks(
    conn: psycopg.Connection, *, group: str | None = None, campaign: str | None = None
) -> Iterator[bytes]:
    """The CSV export as COPY delivers it, chunk by chunk (a web download streams these)."""
    _check_names(conn, group, campaign)
    selected = sql.SQL(SELECTED).format(group=sql.Literal(group), campaign=sql.Literal(campaign))
    query = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(
        sql.SQL(CSV).format(selected=selected)
    )
    with conn.cursor().copy(query) as copy:
        for chunk in copy:
            yield bytes(chunk)


def csv_blocks(conn: psycopg.Connection, size: int = 1 << 20) -> Iterator[bytes]:
    """The CSV export in blocks of about ``size`` bytes: COPY delivers one row per chunk, and a
    web server hands each chunk of a streamed response over between threads (3.96M of them
    at 1M customers)."""
    block: list[bytes] = []
    held = 0
    for chunk in csv_chunks(conn):
        block.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(block)
            block, held = [], 0
    if block:
        yield b"".join(block)


def export(
    conn: psycopg.Connection,
    out: IO[bytes],
    *,
    fmt: str = "csv",
    group: str | None = None,
    campaign: str | None = None,
) -> int:
    """Write the current results to ``out``; return the rows written (CSV lines after the
    header, or assignments for JSON lines)."""
    rows = 0
    if fmt == "csv":
        for chunk in csv_chunks(conn, group=group, campaign=campaign):
            out.write(chunk)
            rows += chunk.count(b"\n")
        return max(rows - 1, 0)
    if fmt != "jsonl":
        raise SqlCompilerError(f"unknown format {fmt!r}; use csv or jsonl")
    _check_names(conn, group, campaign)
    selected = sql.SQL(SELECTED).format(group=sql.Literal(group), campaign=sql.Literal(campaign))
    with conn.transaction(), conn.cursor(name="results_export") as cur:
        cur.itersize = 5000
        cur.execute(sql.SQL(JSONL).format(selected=selected, contacts=sql.SQL(CONTACTS_AGG)))
        for (line,) in cur:
            out.write(line.encode() + b"\n")
            rows += 1
    return rows


def export_file(
    conn: psycopg.Connection,
    out: Path,
    *,
    fmt: str = "csv",
    group: str | None = None,
    campaign: str | None = None,
) -> int:
    """``export`` to ``out``, written whole or not at all (a partial file beside it, renamed
    at the end), so a reader of ``out`` never sees half an export."""
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with open(tmp, "wb") as fh:
            n = export(conn, fh, fmt=fmt, group=group, campaign=campaign)
        os.replace(tmp, out)
    except OSError as exc:
        raise SqlCompilerError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return n
