"""What a preview's movements mean: changes someone applied since the current results were made,
and warnings that stand whatever the draft does.

A preview compares the draft's results with the current results (the views). When the live
configuration changed after the run that made them, part of the movements are not the draft's:
the preview names those changes. A warning the live configuration has too (the same condition
nobody satisfies, the same value that never occurs, the same lint finding) is marked standing,
so a manager sees at a glance which warnings their draft brought.
"""

from __future__ import annotations

import psycopg

from ..config.db import Change, diff, load_from_db
from ..config.db.load import version_document
from ..config.lint import lint
from ..config.model import Configuration
from ..errors import ConfigError

RESULTS_FINGERPRINT = """
SELECT config_fingerprint FROM campaign_results.runs
WHERE kind = 'full' AND status = 'succeeded' AND NOT dry_run
ORDER BY run_id DESC LIMIT 1
"""
VERSION_OF = """
SELECT id FROM campaign_engine.config_history
WHERE fingerprint = %s AND document IS NOT NULL ORDER BY id DESC LIMIT 1
"""


def since_results(conn: psycopg.Connection, live_fingerprint: str) -> list[Change] | None:
    """The live configuration against the one the current results were made with: [] when
    they are the same, None when that configuration is not in the history any more."""
    row = conn.execute(RESULTS_FINGERPRINT).fetchone()
    if row is None or row[0] in (None, live_fingerprint):
        return []
    version = conn.execute(VERSION_OF, (row[0],)).fetchone()
    if version is None:
        return None
    try:
        return diff(version_document(conn, version[0]), load_from_db(conn))
    except ConfigError:  # a stored document this release no longer reads
        return None


def standing_messages(live: Configuration, live_quiet_fields: list) -> set[str]:
    """Messages the live configuration's own lint gives (no data is read)."""
    return {f.message for f in lint(live, live_quiet_fields)}


def live_conditions(live: Configuration) -> set[str]:
    """Every condition of the live configuration in words (a data warning about one of them
    stands whatever the draft does)."""
    out = set()
    for g in live.groups:
        for c in g.campaigns:
            for cond in c.conditions + tuple(x for r in c.rules for x in r.conditions):
                out.add(cond.describe())
    return out
