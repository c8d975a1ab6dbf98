"""A run's failure the database never heard of, kept on disk until a later command records it.

When the server stays away longer than the run's retry window, the run cannot write its own
failure; the next command finds the record still ``running`` and marks it interrupted. Without
this file that mark lost what the run saw (the step, the cause, when it failed) and gave the
run a duration that ran to the next command. The file lives beside the metrics textfile of the
scheduler's host (``SQLCOMPILER_STATE_DIR``, else ``$XDG_STATE_HOME/sqlcompiler``, else
``~/.local/state/sqlcompiler``); an entry names its run by id and start time, so a file shared
by several databases never lends one run's cause to another.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import psycopg

STATE_ENV = "SQLCOMPILER_STATE_DIR"
FILE = "unrecorded_failures.json"


def state_file() -> Path:
    base = os.environ.get(STATE_ENV)
    if base:
        return Path(base) / FILE
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "sqlcompiler" / FILE


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _write(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # a reader sees the old file or the new one, never half of one


def remember(run_id: int, started_at: str, entry: dict[str, Any]) -> Path | None:
    """Keep the failure of ``run_id`` for the next command; the file, or None if unwritable."""
    path = state_file()
    try:
        kept = [e for e in _read(path) if e.get("run_id") != run_id]
        _write(path, [*kept, {"run_id": run_id, "started_at": started_at, **entry}][-100:])
    except OSError:
        return None
    return path


def record_remembered(conn: psycopg.Connection, run_ids: list[int]) -> None:
    """Give the runs just marked interrupted what their own process saw, when it kept it."""
    path = state_file()
    entries = _read(path) if run_ids else []
    if not entries:
        return
    started = dict(
        conn.execute(
            "SELECT run_id, extract(epoch FROM started_at)::text FROM campaign_results.runs "
            "WHERE run_id = ANY(%s)",
            (run_ids,),
        ).fetchall()
    )
    mine = [e for e in entries if started.get(e.get("run_id")) == e.get("started_at")]
    for e in mine:
        conn.execute(
            "UPDATE campaign_results.runs SET finished_at = %s, error = %s, "
            "timings = coalesce(timings, '{}'::jsonb) || %s::jsonb WHERE run_id = %s",
            (
                e.get("failed_at"),
                f"{e.get('error')} (recorded by a later command: the database did not answer "
                "the run within its retry window)",
                json.dumps(e.get("timings") or {}),
                e["run_id"],
            ),
        )
    if mine:
        with contextlib.suppress(OSError):
            _write(path, [e for e in entries if e not in mine])
