"""Each workbench user's draft, kept in campaign_engine.ui_drafts (a reload loses nothing)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from ..config import db, files
from ..config.canonical import fingerprint
from ..config.model import ConfigFile
from ..errors import ConfigError


@dataclass(frozen=True)
class Draft:
    document: str
    base_fingerprint: str  # the stored configuration the draft started from
    returned_by: str | None = None  # four eyes: the approver who sent it back, and why
    return_comment: str | None = None


def _stored(conn: psycopg.Connection) -> tuple[str, str]:
    cfg = db.load_from_db(conn)
    return files.dump(cfg), fingerprint(cfg)


def load(conn: psycopg.Connection, user: str) -> Draft:
    """The user's draft, or a new one: the stored configuration as YAML."""
    row = conn.execute(
        "SELECT document, base_fingerprint, returned_by, return_comment "
        "FROM campaign_engine.ui_drafts WHERE username = %s",
        (user,),
    ).fetchone()
    if row:
        return Draft(row[0], row[1] or "", row[2], row[3])
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
        row = conn.execute(
            "SELECT document FROM campaign_engine.config_history WHERE fingerprint = %s "
            "AND document IS NOT NULL ORDER BY id DESC LIMIT 1",
            (draft.base_fingerprint,),
        ).fetchone()
        what = ""
        if row is not None:  # what someone else changed meanwhile
            changes = db.diff(ConfigFile.model_validate(row[0]), db.load_from_db(conn))
            shown = "; ".join(map(str, changes[:10])) + ("; …" if len(changes) > 10 else "")
            what = f": {shown}" if shown else ""
        raise ConfigError(
            f"the stored configuration changed since this draft was started (from {base} to "
            f"{now[:12]}){what}. See History, then start the draft again from the current "
            "configuration"
        )


@dataclass(frozen=True)
class Submission:
    editor: str
    document: str
    base_fingerprint: str
    submitted_at: object


def submit(conn: psycopg.Connection, user: str, document: str) -> None:
    """Freeze the draft as submitted for approval (four-eyes mode)."""
    save(conn, user, document)
    with conn.transaction():
        conn.execute(
            "UPDATE campaign_engine.ui_drafts SET submitted_at = now(), submitted_document = %s, "
            "returned_by = NULL, returned_at = NULL, return_comment = NULL WHERE username = %s",
            (document, user),
        )


def submissions(conn: psycopg.Connection) -> list[Submission]:
    rows = conn.execute(
        "SELECT username, submitted_document, coalesce(base_fingerprint, ''), submitted_at "
        "FROM campaign_engine.ui_drafts WHERE submitted_at IS NOT NULL ORDER BY submitted_at"
    ).fetchall()
    return [Submission(*r) for r in rows]


def submission(conn: psycopg.Connection, editor: str) -> Submission:
    for s in submissions(conn):
        if s.editor == editor:
            return s
    raise ConfigError(f"{editor} has no draft waiting for approval")


def send_back(conn: psycopg.Connection, editor: str, reviewer: str, comment: str) -> None:
    """Four eyes: the approver returns ``editor``'s submission with a comment; the draft stays
    the editor's, to change and submit again."""
    with conn.transaction():
        done = conn.execute(
            "UPDATE campaign_engine.ui_drafts SET submitted_at = NULL, submitted_document = NULL, "
            "returned_by = %s, returned_at = now(), return_comment = %s "
            "WHERE username = %s AND submitted_at IS NOT NULL",
            (reviewer, comment, editor),
        ).rowcount
    if not done:
        raise ConfigError(f"{editor} has no draft waiting for approval")
