"""Everything the CLI shows: results rendered as text or JSON, progress and errors on stderr.

The library returns typed results (sqlcompiler.api); this module is the only place that turns them
into lines for a person or a log shipper.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

import click

from ..api import Preview, ReplicaState, RunRecord, RunResult, SourceSetup, SourceStatus
from .admin import changes as changes
from .admin import compiled as compiled
from .admin import config_versions as config_versions
from .admin import custom_fields as custom_fields
from .admin import grants as grants
from .admin import key_values as key_values
from .admin import lint_findings as lint_findings
from .admin import pruned as pruned
from .explain import trace as trace
from .jsontext import to_json as to_json

LOG = {"format": "text"}


class _EchoHandler(logging.Handler):
    """Library log records (librdkafka's, via the "sqlcompiler" logger) printed as echo_err."""

    def emit(self, record: logging.LogRecord) -> None:
        level = {"WARNING": "warning", "ERROR": "error", "CRITICAL": "error"}.get(
            record.levelname, "info"
        )
        echo_err(f"{record.name}: {record.getMessage()}", level)


def set_log_format(fmt: str) -> None:
    LOG["format"] = fmt
    logger = logging.getLogger("sqlcompiler")
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        logger.addHandler(_EchoHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False


def echo_err(msg: str, level: str = "info") -> None:
    """Progress and errors on stderr: plain lines, or one JSON object per line for log shippers."""
    if LOG["format"] == "json":
        record = {
            "ts": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "msg": msg.strip(),
        }
        click.echo(json.dumps(record), err=True)
    else:
        click.echo(msg, err=True)


def _change(now: int, before: int | None) -> str:
    if before is None:
        return "new"
    return f"{now - before:+,}" if now != before else "0"


def run_summary(res: RunResult) -> str:
    """The table ``run`` prints: per group and per campaign by name (zeros included), with
    the change against the last published run of the same population."""
    prev = res.previous
    header = ("group / campaign", "assigned", "change", "contacts", "left", "seconds")
    rows = [header]
    for g in res.groups:
        before = prev.get(g.group_id) if prev is not None else None
        rows.append((
            g.name, f"{g.assigned:,}",
            _change(g.assigned, sum(before.values()) if before is not None else None) if prev is not None else "",
            f"{g.contacts:,}", f"{g.left:,}", "",
        ))  # fmt: skip
        for cid in {**g.campaign_names, **g.campaigns}:
            n = g.campaigns.get(cid, 0)
            was = (before or {}).get(cid) if before is not None else None
            rows.append((
                f"  {g.campaign_names.get(cid, f'campaign id {cid}')}", f"{n:,}",
                _change(n, was if was is not None or before is None else 0) if prev is not None else "",
                "", "", "",
            ))  # fmt: skip
    if res.left_removed_groups:
        rows.append(("(removed groups)", "0", "", "0", f"{res.left_removed_groups:,}", ""))
    total_before = sum(sum(v.values()) for v in prev.values()) if prev is not None else None
    rows.append((
        "total", f"{res.assigned:,}", _change(res.assigned, total_before) if prev is not None else "",
        f"{res.contacts:,}", f"{res.unassigned:,}", f"{res.seconds:.2f}",
    ))  # fmt: skip
    n = len(header)
    widths = [max(len(r[i]) for r in rows) for i in range(n)]
    fmt = lambda r: "  ".join(  # noqa: E731
        r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i]) for i in range(n)
    ).rstrip()
    status = res.status
    if res.dry_run:
        status += " (dry run, nothing published)"
    elif res.status == "held":
        status += " (not published: the previous results stay current; --force publishes)"
    against = f"; change against run {res.previous_run_id}" if res.previous_run_id else ""
    lines = [
        f"run {res.run_id} {status}: "
        f"{res.population:,} customers ({res.kind}), configuration {res.fingerprint[:12]}{against}",
        fmt(rows[0]),
        *(fmt(r) for r in rows[1:]),
    ]
    if res.hold_reason:
        what = "published anyway (--force)" if res.forced else "guard"
        lines.append(f"{what}: {res.hold_reason}")
    if res.unknown_cifs:
        lines.append(
            f"note: {res.unknown_cifs:,} requested cifs are not in bank_sync_service.customers"
        )
    reasons: dict[str, int] = {}
    for g in res.groups:
        for why, k in g.suppressed.items():
            reasons[why] = reasons.get(why, 0) + k
    if reasons:
        shown = ", ".join(f"{why} {k:,}" for why, k in sorted(reasons.items()))
        lines.append(f"contact policy: {sum(reasons.values()):,} contacts suppressed ({shown})")
    if res.window:
        lines.append(f"calling window: {res.window[0].isoformat()} to {res.window[1].isoformat()}")
    return "\n".join(lines)


def preview(p: Preview) -> str:
    """``config plan --preview``: the plan, then per group and campaign by name, then warnings."""
    lines = [str(c) for c in p.changes] or ["configuration: no changes"]
    lines.append(
        f"preview over {p.population:,} customers (configuration {p.fingerprint[:12]}, "
        f"{p.seconds:.1f}s; nothing published):"
    )
    for g in p.groups:
        lines.append(
            f"group {g.name!r}{' (removed)' if g.removed else ''}: "
            f"{g.unassigned:,} customers in no campaign of it"
        )
        rows = [("  campaign", "priority", "assigned", "contacts", "entered", "left", "moved")]
        for c in g.campaigns:
            moved = "; ".join(
                [f"+{n:,} from {k}" for k, n in sorted(c.moved_in.items())]
                + [f"-{n:,} to {k}" for k, n in sorted(c.moved_out.items())]
            )
            rows.append((
                f"  {c.name}{' (removed)' if c.removed else ''}",
                "" if c.priority is None else str(c.priority), f"{c.assigned:,}",
                f"{c.contacts:,}", f"{c.entered:,}", f"{c.left:,}", moved,
            ))  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, 6)]
            lines.append("  ".join(cells + [r[6]]).rstrip())
        for c in g.campaigns:
            for what, cifs in c.samples.items():
                lines.append(f"    {c.name}, {what}: {', '.join(cifs)}")
            if c.suppressed:
                shown = ", ".join(f"{why} {n:,}" for why, n in sorted(c.suppressed.items()))
                lines.append(f"    {c.name}, contacts suppressed by the contact policy: {shown}")
    if p.since_results is None:
        lines.append("note: the configuration changed since the current results were made "
                     "(that version is no longer in the history): movements include its changes")  # fmt: skip
    elif p.since_results:
        lines.append("note: applied since the current results were made, so part of the "
                     "movements above are not this draft's:")  # fmt: skip
        lines += [f"  {c}" for c in p.since_results]
    for w in sorted(p.warnings, key=lambda w: w.standing):
        lines.append(f"warning: {w.where}: {w.message}" + (" (standing)" if w.standing else ""))
    return "\n".join(lines)


def blocks(items: list) -> str:
    """``blocks list``: one line per block."""
    if not items:
        return "no blocks"
    lines = []
    for b in items:
        until = f"to {b.valid_until}" if b.valid_until else "open-ended"
        removed = (
            f"; removed by {b.removed_by} {b.removed_at:%Y-%m-%d %H:%M}" if b.removed_at else ""
        )
        note = f" ({b.note})" if b.note else ""
        lines.append(f"{b.id:>6}  {b.scope:<5} {b.value:<16} {b.reason}{note}: from "
                     f"{b.valid_from} {until}; added by {b.added_by} "
                     f"{b.added_at:%Y-%m-%d %H:%M}{removed}")  # fmt: skip
    return "\n".join(lines)


def fields_report(report, fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(
            {"scans": {k: dataclasses.asdict(v) for k, v in report.scans.items()},
             "fields": [dataclasses.asdict(f) for f in report.fields]},
            default=str, indent=2, ensure_ascii=False,
        )  # fmt: skip
    lines = []
    for source in dict.fromkeys(f.data_source for f in report.fields):
        lines.append(f"{source}:")
        for f in (x for x in report.fields if x.data_source == source):
            if f.data_type in ("number", "date"):
                shape = f"min {f.min}  median {f.median}  max {f.max}"
            else:
                shape = (
                    "top " + ", ".join(f"{v!r} ({n:,})" for v, n in f.top) if f.top else "no values"
                )
            lines.append(
                f"  {f.field:<24} {f.data_type:<8} missing {100 * f.missing:5.1f} %  "
                f"distinct {f.distinct:>9,}  {shape}"
            )
    for table, scan in report.scans.items():
        how = (
            f"a sample of {scan.rows:,} of about {scan.estimated_rows:,} rows (TABLESAMPLE)"
            if scan.sampled
            else f"all {scan.rows:,} rows"
        )
        lines.append(f"{table}: {how}")
    lines.append(f"({report.seconds:.1f}s)")
    return "\n".join(lines)


def runs_table(records: list[RunRecord]) -> str:
    if not records:
        return ""
    lines = [
        f"{'run':>6} {'kind':4} {'status':9}     {'started':19} {'took':>8} population, "
        "counts, configuration"
    ]
    for r in records:
        took = f"{r.seconds:.1f}s" if r.seconds is not None else "-"
        err = f"  error: {' '.join(r.error.split())}" if r.error else ""  # one line per run
        if r.hold_reason:
            err += f"  {'forced past' if r.forced else 'held'}: {r.hold_reason}"
        if r.results_dropped:
            err += "  (results dropped by retention)"
        src = r.source or {}
        snap = src.get("snapshot")
        where = f" source={src['mode']}" if src.get("mode", "local") != "local" else ""
        if snap:
            where += f" (snapshot {sum(snap['rows'].values()):,} rows in {snap['seconds']:.1f}s)"
        lines.append(
            f"{r.run_id:>6} {r.kind:4} {r.status:9}{' dry' if r.dry_run else '    '} "
            f"{r.started_at:%Y-%m-%d %H:%M:%S} {took:>8} as-of={r.as_of or '-'} "
            f"pop={r.population or 0:,} "
            f"assigned={r.assignments or 0:,} contacts={r.contacts or 0:,} "
            f"config={(r.fingerprint or '-')[:12]}{where}{err}"
        )
    return "\n".join(lines)


def run_details(record: RunRecord, counts: list, *, as_json: bool = False) -> str:
    if as_json:
        return to_json(
            {**dataclasses.asdict(record), "campaigns": [dataclasses.asdict(c) for c in counts]}
        )
    r = record
    lines = [
        f"run {r.run_id}: {r.kind} run, {r.status}{' (dry run)' if r.dry_run else ''}",
        f"  as of        {r.as_of or r.started_at.date()} (started {r.started_at:%Y-%m-%d %H:%M:%S}"
        + (f", {r.seconds:.1f}s)" if r.seconds is not None else ")"),
        f"  fingerprint  {r.fingerprint or '-'}",
        f"  population   {r.population or 0:,} customers; {r.assignments or 0:,} assignments, "
        f"{r.contacts or 0:,} contacts",
    ]
    if r.error:
        lines.append(f"  error        {' '.join(r.error.split())}")
    if r.next_step:
        lines.append(f"  next step    {r.next_step}")
    if r.hold_reason:
        lines.append(f"  {'forced past' if r.forced else 'held'}     {r.hold_reason}")
    if r.results_dropped:
        lines.append("  results      removed by retention (the record stays)")
    if counts:
        lines.append("  campaigns:")
        width = max(len(f"{c.group} / {c.campaign}") for c in counts)
        for c in counts:
            lines.append(f"    {f'{c.group} / {c.campaign}':<{width}}  {c.assigned:>10,}")
    timings = r.timings or {}
    if timings:
        lines.append(
            "  timings:     "
            + ", ".join(
                f"{k} {v}s" if isinstance(v, int | float) else f"{k}: {v}"
                for k, v in timings.items()
                if not isinstance(v, dict | list)
            )
        )
        for k, v in timings.items():
            if isinstance(v, dict):
                lines.append(f"    {k}: " + ", ".join(f"{n} {t}s" for n, t in v.items()))
    src = r.source or {}
    if src:
        snap = src.get("snapshot")
        lines.append(
            f"  source       {src.get('mode', 'local')}"
            + (
                f", snapshot {sum(snap['rows'].values()):,} rows in {snap['seconds']:.1f}s"
                if snap
                else ""
            )
        )
    return "\n".join(lines)


def runs_diff(a: RunRecord, b: RunRecord, moves: list) -> str:
    lines = [
        f"from run {a.run_id} ({a.kind}, {a.started_at:%Y-%m-%d %H:%M}, configuration "
        f"{(a.fingerprint or '-')[:12]}) to run {b.run_id} ({b.kind}, {b.started_at:%Y-%m-%d %H:%M}, "
        f"configuration {(b.fingerprint or '-')[:12]}):"
    ]
    if not moves:
        lines.append("  no customer entered, left or moved")
    for m in moves:
        what = {
            "entered": f"entered {m.to_campaign}",
            "left": f"left {m.from_campaign}",
            "moved": f"moved {m.from_campaign} -> {m.to_campaign}",
        }[m.change]
        sample = f"  e.g. {', '.join(m.sample)}" if m.sample else ""
        lines.append(f"  {m.group}: {what}: {m.customers:,}{sample}")
    return "\n".join(lines)


def runs_json(records: list[RunRecord]) -> str:
    return to_json(records)


def run_json(res: RunResult) -> str:
    """``run --format json``: the result with its totals."""
    out = dataclasses.asdict(res)
    out.update(assigned=res.assigned, contacts=res.contacts, unassigned=res.unassigned)
    return to_json(out)


def replica_lines(state: ReplicaState) -> str:
    lines = [
        f"subscription {state.subscription}: "
        + ("enabled" if state.enabled else "DISABLED")
        + (", worker running" if state.worker_running else ", worker NOT running")
        + (
            f", last confirmed by the publisher {state.lag_seconds:.1f}s ago"
            if state.lag_seconds is not None
            else ""
        )
    ]
    lines += [f"  {t:<20} {s}" for t, s in state.tables.items()]
    return "\n".join(lines)


def source_setup(result: SourceSetup) -> str:
    if result.statements is not None:
        return result.statements.rstrip()
    text = f"source: {result.config.describe()}" if result.config else "source: unchanged"
    if result.replica is not None:
        text += "\n" + replica_lines(result.replica)
    if result.done:
        text += "\n" + result.done
    return text


def source_status(st: SourceStatus) -> str:
    lines = [f"mode: {st.description}"]
    for t, v in st.tables.items():
        lines.append(
            f"  {t:<20} {v.rows:>12,} rows" if v.reachable else f"  {t:<20} UNREACHABLE: {v.error}"
        )
    lines.append(f"columns: {st.columns}")
    if st.replica_error:
        lines.append(st.replica_error)
    elif st.replica is not None:
        lines.append(replica_lines(st.replica))
    return "\n".join(lines)
