"""What the overview page shows: the last run, the current counts by campaign, the trend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import api
from ..errors import SqlCompilerError
from .i18n import _, word


def overview(dsn: str) -> dict[str, Any]:
    records = api.runs(dsn, 30)
    last = records[0] if records else None
    full = [r for r in records if r.kind == "full" and r.status == "succeeded" and not r.dry_run]
    current = full[0] if full else None
    groups: list[dict[str, Any]] = []
    if current is not None:
        _record, counts = api.run_details(dsn, current.run_id)
        top = max((c.assigned for c in counts), default=0) or 1
        by_group: dict[str, list[dict[str, Any]]] = {}
        for c in counts:
            by_group.setdefault(c.group, []).append(
                {"name": c.campaign, "n": c.assigned, "width": round(100 * c.assigned / top, 1)}
            )
        for gname, cname in _new_campaigns(dsn, {(c.group, c.campaign) for c in counts}):
            by_group.setdefault(gname, []).append({"name": cname, "pending": True})
        groups = [{"name": g, "campaigns": cs} for g, cs in by_group.items()]
    trend = list(reversed([(r.run_id, r.assignments or 0) for r in full]))
    points = ""
    if len(trend) > 1:
        hi = max(n for _run, n in trend) or 1
        step = 600 / (len(trend) - 1)
        points = " ".join(
            f"{i * step:.0f},{110 - 100 * n / hi:.0f}" for i, (_run, n) in enumerate(trend)
        )
    banner = None
    now = dt.datetime.now(dt.UTC)
    if last is not None and last.status in ("failed", "held"):
        banner = _("The last run (%(run)s) %(status)s: %(why)s") % {
            "run": last.run_id,
            "status": word(last.status),
            "why": last.error or last.hold_reason,
        }
        if last.next_step:
            banner += " " + _("Next step: %(step)s.") % {"step": last.next_step}
    elif current is None:
        banner = _("No run has published results yet.")
    elif current.finished_at and now - current.finished_at > dt.timedelta(days=1):
        banner = _("The results are from %(when)s, more than a day old.") % {
            "when": f"{current.finished_at:%Y-%m-%d %H:%M}"
        }
    return {"last": last, "current": current, "groups": groups, "trend": trend,
            "points": points, "banner": banner, "pending": pending_change(dsn, current)}  # fmt: skip


def pending_change(dsn: str, current) -> str | None:
    """The configuration applied since the results were made: the manager sees that the
    change waits for the next run (the scheduler's nightly `sqlcompiler run`)."""
    versions = api.config_history(dsn, 1)
    if not versions or current is None or versions[0].fingerprint == current.fingerprint:
        return None
    v = versions[0]
    return _("The configuration changed since these results: version %(version)s (%(summary)s) "
             "by %(who)s at %(when)s. It takes effect at the next run (the scheduler's nightly "
             "`sqlcompiler run`).") % {"version": v.version, "summary": v.summary,
                                     "who": v.applied_by, "when": f"{v.applied_at:%Y-%m-%d %H:%M}"}  # fmt: skip


def _new_campaigns(dsn: str, counted: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Campaigns configured since the results were made (the run's record names every
    campaign it had, with or without customers): the chart marks them waiting for their first
    run instead of leaving them out."""
    try:
        with api.connect(dsn) as conn:
            config = api.load_config(conn)
    except SqlCompilerError:  # a stored configuration that no longer validates: the chart
        return []  # still shows the results (the draft page says what is wrong)
    return [(g.name, c.name) for g in config.groups for c in g.campaigns
            if (g.name, c.name) not in counted]  # fmt: skip
