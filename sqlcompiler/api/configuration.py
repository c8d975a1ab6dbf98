"""The campaign configuration: validate, plan, apply, lint, history; custom fields."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .. import source
from ..config import db, files
from ..config.lint import Finding
from ..config.lint import lint as lint_config
from ..config.model import ConfigFile, Configuration
from ..config.validate import validate
from ..progress import Progress, quiet
from ..run.preview import Preview
from ..run.preview import preview as _preview
from ..source.custom_fields import UploadResult
from ..source.fields import FieldsReport
from .common import migrated


def load_config(conn: psycopg.Connection, as_of: dt.date | None = None) -> Configuration:
    """The stored configuration, validated against the catalog of where the data really is;
    dates relative to the run resolved against ``as_of`` (default today)."""
    return db.load_validated(conn, source.catalog(conn), as_of)


def validate_config(conn: psycopg.Connection, cfg: ConfigFile) -> Configuration:
    catalog = source.catalog(conn)
    catalog.check_required()
    return validate(cfg, catalog)


def apply_config(
    conn: psycopg.Connection,
    cfg: ConfigFile,
    *,
    applied_by: str | None = None,
    source_name: str | None = None,
) -> db.ApplyResult:
    return db.apply(conn, cfg, source.catalog(conn), applied_by=applied_by, source=source_name)


def validate_file(dsn: str, path: str | Path) -> Configuration:
    cfg = files.load(path)
    with migrated(dsn) as conn:
        return validate_config(conn, cfg)


def preview(
    dsn: str,
    draft: ConfigFile,
    *,
    show_customers: int = 0,
    jobs: int | None = None,
    progress: Progress = quiet,
    as_of: dt.date | None = None,
) -> Preview:
    """What ``draft`` would do over the current data, against the current results; nothing
    is published or stored (run/preview.py)."""
    return _preview(
        dsn, draft, show_customers=show_customers, jobs=jobs, progress=progress, as_of=as_of
    )


def preview_file(
    dsn: str,
    path: str | Path,
    *,
    show_customers: int = 0,
    jobs: int | None = None,
    progress: Progress = quiet,
    as_of: dt.date | None = None,
) -> Preview:
    return preview(
        dsn,
        files.load(path),
        show_customers=show_customers,
        jobs=jobs,
        progress=progress,
        as_of=as_of,
    )


def plan_document(dsn: str, cfg: ConfigFile) -> list[db.Change]:
    with migrated(dsn) as conn:
        validate_config(conn, cfg)
        return db.plan(conn, cfg)


def yaml_diff(conn: psycopg.Connection, cfg: ConfigFile) -> list[str]:
    """``cfg`` against the live configuration as a unified diff of both in the form
    ``config export`` writes (so layout and key order in the draft make no difference): for
    an approver who reads the change as text."""
    live = files.dump(db.load_from_db(conn), "yaml").splitlines()
    draft = files.dump(cfg, "yaml").splitlines()
    diff = difflib.unified_diff(live, draft, "live", "submitted", n=3, lineterm="")
    return list(diff)[2:]  # the two file-name lines say nothing here


def plan_file(dsn: str, path: str | Path) -> list[db.Change]:
    cfg = files.load(path)
    with migrated(dsn) as conn:
        validate_config(conn, cfg)
        return db.plan(conn, cfg)


def apply_file(dsn: str, path: str | Path, applied_by: str | None = None) -> db.ApplyResult:
    cfg = files.load(path)
    with migrated(dsn) as conn:
        return apply_config(conn, cfg, applied_by=applied_by, source_name=str(path))


def lint(dsn: str, path: str | Path | None = None) -> list[Finding]:
    """Lint FILE, or the stored configuration when no file is given."""
    with migrated(dsn) as conn:
        if path is None:
            config = load_config(conn)
        else:
            config = validate_config(conn, files.load(path))
        return lint_config(config, db.fields_without_values(conn, config.custom_fields))


def config_history(dsn: str, limit: int = 20) -> list[db.Version]:
    with migrated(dsn) as conn:
        return db.history(conn, limit)


def config_diff(dsn: str, a: int, b: int) -> list[db.Change]:
    """What changed from configuration version ``a`` to ``b``."""
    with migrated(dsn) as conn:
        return db.diff(db.version_document(conn, a), db.version_document(conn, b))


def config_rollback(dsn: str, version: int, applied_by: str | None = None) -> db.ApplyResult:
    """Apply stored ``version`` again, as a new version recorded like any apply."""
    with migrated(dsn) as conn:
        doc = db.version_document(conn, version)
        return apply_config(
            conn, doc, applied_by=applied_by, source_name=f"rollback to version {version}"
        )


def fields(dsn: str) -> FieldsReport:
    """``sqlcompiler fields``: what conditions may use, with what the data holds."""
    from ..source import fields as _fields

    with migrated(dsn) as conn:
        return _fields.profile(conn)


def export_config(dsn: str, fmt: str = "yaml") -> str:
    with migrated(dsn) as conn:
        return files.dump(db.load_from_db(conn), fmt)


# -- custom fields ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomField:
    name: str
    data_type: str
    description: str


def add_custom_field(dsn: str, name: str, data_type: str, description: str | None) -> None:
    from ..source import custom_fields

    with migrated(dsn) as conn:
        custom_fields.add(conn, name, data_type, description)


def list_custom_fields(dsn: str) -> list[CustomField]:
    with migrated(dsn) as conn:
        rows = conn.execute(
            "SELECT field_name, data_type, coalesce(description, '') "
            "FROM campaign_engine.custom_fields ORDER BY 1"
        ).fetchall()
    return [CustomField(*r) for r in rows]


def upload_custom_fields(
    dsn: str,
    path: str | Path,
    *,
    source_system: str,
    uploaded_by: str,
    mode: str = "merge",
    reject_file: str | Path | None = None,
    progress: Progress = quiet,
) -> UploadResult:
    from ..source import custom_fields

    with migrated(dsn) as conn:
        return custom_fields.upload(
            conn, path, source_system=source_system, uploaded_by=uploaded_by, mode=mode,
            reject_file=reject_file, progress=progress,
        )  # fmt: skip
