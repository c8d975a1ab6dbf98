"""What a reviewer reads of a run: EXPLAIN of its statements, one file per statement.

``explain`` executes what it must in one transaction that is rolled back; with ``analyze``
it writes staging rows as a run would, so it holds the run lock for that transaction.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from ..compiler import CompiledRun
from ..errors import SqlCompilerError
from ..infra.connection import connect
from .lock import RUN_LOCK, run_lock
from .staging import unconstrain_staging, unconstrain_statements


def explain(dsn: str, compiled: CompiledRun, analyze: bool = False) -> list[str]:
    """EXPLAIN each of ``compiled.statements``, all in one transaction that is rolled back.

    The prologue is executed even without ``analyze``: the run statement reads its
    temporary table, and their plans should see its real size and statistics.
    """
    plans = []
    opts = sql.SQL("ANALYZE, BUFFERS" if analyze else "COSTS")
    with connect(dsn) as conn, conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('sqlcompiler.run_id', '0', true)")
        if analyze:  # the run statement writes staging rows: as a run would, under its lock
            with run_lock(conn, "--explain=analyze when it has finished", transaction=True):
                unconstrain_staging(conn)  # the last run's run_id checks; rolled back below
        for statement in compiled.settings:
            conn.execute(statement)
        for st in compiled.statements:
            try:
                if st is compiled.slice or st in compiled.tables:
                    drop, create, *after = st.statements()  # slice: connection 0's
                    conn.execute(drop)
                    rows = conn.execute(sql.SQL("EXPLAIN ({}) ").format(opts) + sql.SQL(create))
                    rows = rows.fetchall()
                    if not analyze:
                        conn.execute(create)
                    for statement in after:  # index, ANALYZE
                        conn.execute(statement)
                else:
                    stmt = sql.SQL("EXPLAIN ({}) ").format(opts) + sql.SQL(st.sql)
                    rows = conn.execute(stmt).fetchall()
            except psycopg.Error as exc:
                raise SqlCompilerError(f"EXPLAIN of {st.title} failed: {exc}") from None
            plans.append("\n".join(r[0] for r in rows))
    return plans


def write_files(compiled: CompiledRun, out: Path) -> list[Path]:
    """One file per statement: 00_customer_slice.sql (several connections), 00_prologue.sql,
    00_phones.sql, then 01_run_statement.sql (01_group_<id>_<name>.sql for one group, ``compile --group``;
    with a contact policy, SPEC §6, its CTEs are in it).

    Each file runs as it is (``psql -v ON_ERROR_STOP=1 -f FILE``, or pasted into any client):
    a transaction with the run's SET LOCAL lines and a run id of 0, the statements the file's
    statement needs first (a later file repeats the earlier ones: temporary tables live only
    in that transaction), the statement, then ROLLBACK, so nothing is kept. A group's name is
    cut to 60 characters (a file name has at most 255 bytes; the id keeps them unique).
    """
    files: list[tuple[str, str]] = []
    if compiled.statement is None:
        return []
    steps: list[tuple[str, str]] = []  # (file name, statement) in the order a connection runs them
    if compiled.slice is not None:
        steps.append(("00_customer_slice.sql", compiled.slice.pretty()))
    if compiled.prologue is not None:
        steps.append(("00_prologue.sql", compiled.prologue.pretty()))
    if compiled.phones is not None:
        steps.append(("00_phones.sql", compiled.phones.pretty()))
    name = "01_run_statement.sql"
    if len(compiled.groups) == 1:
        group = compiled.groups[0]
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in group.name)
        name = f"01_group_{group.id:04d}_{safe[:60].strip('_') or 'unnamed'}.sql"
    steps.append((name, compiled.statement.pretty()))
    writing = len(steps) - 1  # the run statement writes staging rows
    writes = [
        "-- the run statement writes staging rows, as a run does: under the run lock (waits for "
        "a run in progress), without the last run's run_id checks (dropped, then rolled back)",
        sql.SQL("SELECT pg_advisory_xact_lock({})").format(sql.Literal(RUN_LOCK)).as_string(None),
        *(st.as_string(None) for st in unconstrain_statements()),
    ]
    for i, (name, text) in enumerate(steps):
        before = [f"-- first, as in {n}:\n{t}" for n, t in steps[:i]]
        if i >= writing:
            before.insert(0, "\n".join([writes[0], *(f"{w};" for w in writes[1:])]))
        files.append((name, _runnable(compiled, before, text)))
    paths = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files:
            path = out / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    except OSError as exc:
        raise SqlCompilerError(
            f"cannot write the statements to {out}: {exc.strerror or exc}"
        ) from None
    return paths


def _runnable(compiled: CompiledRun, before: list[str], text: str) -> str:
    population = (
        ["-- a list run's statements read pg_temp.run_population, which `run --cifs` creates:",
         "-- create it in this transaction first (CREATE TEMPORARY TABLE run_population (cif))."]
        if compiled.list_run else []
    )  # fmt: skip
    head = [
        "-- Runs as it is (psql -v ON_ERROR_STOP=1 -f FILE): one transaction with the run's",
        "-- settings and run id 0, the statements this one needs first, this one, then ROLLBACK:",
        "-- nothing is kept. A run executes the same statements with its own run id.",
        *population,
        compiled.preamble().rstrip("\n"),
    ]
    settings = head[-1].splitlines()
    lines = [*head[:-1], settings[0], "BEGIN;", *settings[1:]]
    lines.append("SELECT set_config('sqlcompiler.run_id', '0', true);")
    body = "\n\n".join(t.rstrip().rstrip(";") + ";" for t in [*before, text])
    return "\n".join(lines) + "\n\n" + body + "\n\nROLLBACK;\n"
