"""Schema migrations and the integrity check of what they created; database roles."""

from __future__ import annotations

from dataclasses import dataclass

from ..infra import grants, integrity, migrations
from ..infra.connection import connect
from ..infra.grants import Roles
from ..run.record import reap_abandoned
from .common import migrated


@dataclass(frozen=True)
class SchemaRevision:
    current: str | None
    head: str
    damage: str | None = None  # what is missing although the version says current


def db_upgrade(dsn: str, revision: str = "head") -> None:
    migrations.upgrade(dsn, revision)
    if revision == "head":
        with connect(dsn) as conn:
            integrity.require_whole(conn)  # "at head" must mean the objects are there


def db_downgrade(dsn: str, revision: str = "-1") -> None:
    migrations.downgrade(dsn, revision)


def db_sql(revision: str = "head") -> str:
    return migrations.offline_sql(revision)


def db_current(dsn: str) -> SchemaRevision:
    with connect(dsn) as conn:
        current, head = migrations.current_revision(conn), migrations.head_revision()
        damage = integrity.check(conn) if current == head else None
        return SchemaRevision(
            current, head, damage.describe() if damage and damage.missing else None
        )


@dataclass(frozen=True)
class SchemaCheck:
    revision: SchemaRevision
    abandoned_runs: list[int]  # "running" runs whose process is gone, now marked failed


def db_check(dsn: str) -> SchemaCheck:
    """The schema's revision and objects, and runs left "running" by a dead process."""
    revision = db_current(dsn)
    abandoned: list[int] = []
    if revision.current == revision.head and revision.damage is None:
        with connect(dsn, autocommit=True) as conn:
            abandoned = reap_abandoned(conn)
    return SchemaCheck(revision, abandoned)


def db_repair(dsn: str) -> list[str]:
    with connect(dsn) as conn:
        migrations.require_version(conn)
        return integrity.repair(conn)


def db_grants(dsn: str, roles: Roles, *, execute: bool = True) -> list[str]:
    """The owner / runner / reader privileges (infra/grants.py); executed unless ``execute``
    is false, in which case they are only returned for review."""
    with migrated(dsn) as conn:
        if execute:
            return grants.apply(conn, roles)
        return [st.as_string(conn) for st in grants.statements(conn, roles, review=True)]
