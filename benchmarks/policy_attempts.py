"""Attempts and blocks for the contact policy's benchmark (docs/performance.md, eighteenth
session): for every customer of the current results 13 attempts over the 30 days before
AS_OF (about 3 a week) on their primary phone, and a do_not_call block on every hundredth
phone. Usage: python benchmarks/policy_attempts.py DSN AS_OF (after a run of the demo)."""

from __future__ import annotations

import datetime as dt
import sys
import time

import psycopg

from sqlcompiler.source.attempts import ensure_days


def main(dsn: str, as_of: dt.date) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        t = time.monotonic()
        conn.execute("TRUNCATE campaign_engine.contact_attempts, campaign_engine.contact_blocks")
        ensure_days(conn, [as_of - dt.timedelta(days=i) for i in range(-1, 32)])
        conn.execute(
            """
        INSERT INTO campaign_engine.contact_attempts (attempt_id, cif, party_cif, phone_number, attempted_at, outcome)
        SELECT a.cif || ':' || g, a.cif, a.cif, coalesce(p.number, '+0'),
               (%(day)s::date - (random() * 29)::int)::timestamp + interval '7 hours' + random() * interval '14 hours'
                 - interval '7 hours',
               (ARRAY['connected','no_answer','no_answer','busy','voicemail','failed','no_answer','no_answer','busy','no_answer'])[1 + (random() * 9)::int]
        FROM (SELECT DISTINCT cif FROM campaign_results.current_assignments) a
        LEFT JOIN LATERAL (SELECT number FROM bank_sync_service.phones p WHERE p.cif = a.cif ORDER BY p.is_primary DESC, p.id LIMIT 1) p ON true
        CROSS JOIN generate_series(1, 13) g
        """,
            {"day": as_of},
        )
        n = conn.execute("SELECT count(*) FROM campaign_engine.contact_attempts").fetchone()[0]
        conn.execute(
            """INSERT INTO campaign_engine.contact_blocks (scope, value, reason, valid_from, added_by)
          SELECT 'phone', number, 'do_not_call', %(day)s::date - 10, 'bench' FROM bank_sync_service.phones WHERE id %% 100 = 0""",
            {"day": as_of},
        )
        conn.execute("ANALYZE campaign_engine.contact_attempts")
        b = conn.execute("SELECT count(*) FROM campaign_engine.contact_blocks").fetchone()[0]
        print(f"{n:,} attempts, {b:,} blocks in {time.monotonic() - t:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1], dt.date.fromisoformat(sys.argv[2]))
