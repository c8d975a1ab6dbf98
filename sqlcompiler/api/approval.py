"""Four eyes, in one place: every change the workbench makes to the live configuration (apply,
rollback, the JSON API, an approval) goes through ``change_live``, which refuses it in four-eyes
mode unless a second person approves exactly what the first submitted. A new path cannot forget
the check: it has no other way to the configuration.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import psycopg

from ..config import db, files
from ..config.model import ConfigFile
from ..errors import ApprovalRequired
from .configuration import apply_config


@dataclass(frozen=True)
class Change:
    """Who changes the live configuration, and who approved it (None: nobody yet)."""

    author: str
    approver: str | None = None
    source: str = "workbench"

    @property
    def recorded_as(self) -> str:
        return f"{self.author}, approved by {self.approver}" if self.approver else self.author


def digest(document: str) -> str:
    """What the approver saw: the submitted document's hash, carried by the approve form."""
    return hashlib.sha256(document.encode()).hexdigest()[:20]


def check_four_eyes(four_eyes: bool, change: Change) -> None:
    if not four_eyes:
        return
    if change.approver is None:
        raise ApprovalRequired(
            f"four-eyes mode: {change.author} cannot change the live configuration alone; "
            "submit the draft (or the rollback) for approval"
        )
    if change.approver == change.author:
        raise ApprovalRequired(f"four eyes: {change.author} cannot approve their own change")


def change_live(
    conn: psycopg.Connection, cfg: ConfigFile, change: Change, *, four_eyes: bool
) -> db.ApplyResult:
    check_four_eyes(four_eyes, change)
    return apply_config(conn, cfg, applied_by=change.recorded_as, source_name=change.source)


def rollback_live(
    conn: psycopg.Connection, version: int, change: Change, *, four_eyes: bool
) -> db.ApplyResult:
    """Apply stored ``version`` again (a new version), under the same rule as any change."""
    doc = db.version_document(conn, version)
    return change_live(
        conn, doc, Change(change.author, change.approver, f"rollback to version {version}"),
        four_eyes=four_eyes,
    )  # fmt: skip


def version_yaml(conn: psycopg.Connection, version: int) -> str:
    """Stored ``version`` as a document to submit (a rollback in four-eyes mode)."""
    return files.dump(db.version_document(conn, version))
