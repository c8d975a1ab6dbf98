"""Each workbench user's draft, kept in campaign_engine.ui_drafts (a reload loses nothing)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ..config import files, store
from ..config.validate import fingerprint
from ..errors import ConfigError


@dataclass(frozen=True)
class Draft:
    document: str
    base_fingerprint: str  # the stored configuration the draft started from


def _stored(conn: psycopg.Connection) -> tuple[str, str]:
    cfg = store.load_from_db(conn)
    return files.dump(cfg), fingerprint(cfg)


def load(conn: psycopg.Connection, user: str) -> Draft:
    """The user's draft, or a new one: the stored configuration as YAML."""
    row = conn.execute(
        "SELECT document, base_fingerprint FROM campaign_engine.ui_drafts WHERE username = %s",
        (user,),
    ).fetchone()
    if row:
        return Draft(row[0], row[1] or "")
    document, base = _stored(conn)
    return Draft(document, base)


def save(conn: psycopg.Connection, user: str, document: str) -> Draft:
    base = load(conn, user).base_fingerprint
    with conn.transaction():
        conn.execute(
            "INSERT INTO campaign_engine.ui_drafts (username, document, base_fingerprint) "
            "VALUES (%s, %s, %s) ON CONFLICT (username) DO UPDATE SET document = EXCLUDED.document, "
            "updated_at = now()",
            (user, document, base),
        )
    return Draft(document, base)


def reset(conn: psycopg.Connection, user: str) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM campaign_engine.ui_drafts WHERE username = %s", (user,))


def require_base(conn: psycopg.Connection, draft: Draft) -> None:
    """Refuse to apply over a configuration someone else changed since the draft began."""
    document, now = _stored(conn)
    if draft.base_fingerprint and now != draft.base_fingerprint:
        base = draft.base_fingerprint[:12]
        raise ConfigError(
            f"the stored configuration changed since this draft was started (from {base} to "
            f"{now[:12]}); see History, then start the draft again from the current configuration"
        )
