"""The configuration in the database: plan and apply (store.py), reading it back and its
history (load.py), the catalogue it is checked against (catalog.py). The rest of
``sqlcompiler.config`` is the pure model and imports no psycopg (tests/test_architecture.py)."""

from __future__ import annotations

from .catalog import fields_without_values, read_catalog
from .load import Version, history, load_from_db, load_validated, version_document
from .store import CONFIG_LOCK, ApplyResult, Change, apply, diff, plan

__all__ = [
    "CONFIG_LOCK",
    "ApplyResult",
    "Change",
    "Version",
    "apply",
    "diff",
    "fields_without_values",
    "history",
    "load_from_db",
    "load_validated",
    "plan",
    "read_catalog",
    "version_document",
]
