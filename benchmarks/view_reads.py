"""What reading the results costs (issue 34: the views no slower than 1.5 × after contacts
are stored compactly). Usage: python benchmarks/view_reads.py [DSN]  (default: the embedded one).

After a published run: a full scan of current_contacts, the CSV export's COPY, 2,000 customers
looked up one by one, and every relay batch of 5,000 messages of the latest run. Prints one
JSON object: seconds and rows (or bytes) per read. Compare two commits on copies of one
database, alternating (docs/performance.md, sixteenth session)."""

from __future__ import annotations

import json
import sys
import time

from sqlcompiler.infra.connection import connect, resolve_dsn
from sqlcompiler.kafka.messages import SCHEMA, UNASSIGNED_SCHEMA, messages
from sqlcompiler.run.export import csv_chunks


def main() -> None:
    dsn = resolve_dsn(sys.argv[1] if len(sys.argv) > 1 else None)
    out: dict[str, tuple[float, int]] = {}
    with connect(dsn, autocommit=True) as conn:
        conn.execute("SET jit = off")
        (run,) = conn.execute(
            "SELECT max(run_id) FROM campaign_results.runs "
            "WHERE status = 'succeeded' AND NOT dry_run"
        ).fetchone()
        t = time.monotonic()
        (n,) = conn.execute(
            "SELECT count(*) FROM (SELECT length(phone_number) FROM "
            "campaign_results.current_contacts) k"
        ).fetchone()
        out["full scan of current_contacts"] = (round(time.monotonic() - t, 2), n)
        t, size = time.monotonic(), 0
        for chunk in csv_chunks(conn):
            size += len(chunk)
        out["CSV export (bytes)"] = (round(time.monotonic() - t, 2), size)
        cifs = [r[0] for r in conn.execute(
            "SELECT cif FROM campaign_results.current_assignments ORDER BY md5(cif) LIMIT 2000")]  # fmt: skip
        t, n = time.monotonic(), 0
        for cif in cifs:
            n += len(conn.execute(
                "SELECT * FROM campaign_results.current_contacts WHERE cif = %s", (cif,)
            ).fetchall())  # fmt: skip
        out["2,000 customers one by one"] = (round(time.monotonic() - t, 2), n)
        query, key, n = messages(5000), ("", 0), 0
        t = time.monotonic()
        while rows := conn.execute(query, {"schema": SCHEMA, "unassigned_schema": UNASSIGNED_SCHEMA,
                                           "run": run, "cif": key[0], "group": key[1]}).fetchall():  # fmt: skip
            n += len(rows)
            key = (rows[-1][0], rows[-1][1])
        out["relay batches of 5,000"] = (round(time.monotonic() - t, 2), n)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
