"""Every type and default a caller of the library needs, so that the CLI, the console and the
workbench import ``sqlcompiler.api`` and nothing below it (tests/test_architecture.py)."""

from __future__ import annotations

from ..config.files import dump as dump_document
from ..config.files import load_yaml as read_document
from ..config.files import parse as parse_document
from ..config.model import CONTACT_TYPES, PARTY_TYPES, ConfigFile, Configuration
from ..config.model import json_schema as config_json_schema
from ..infra.connection import connect, describe_db_error, redact, resolve_dsn
from ..kafka.settings import KafkaSettings
from ..run import (
    DEFAULT_KEEP,
    DEFAULT_KEEP_RECORDS_DAYS,
    DEFAULT_MAX_DROP,
    REFERENCE_LIMIT,
    GroupResult,
    RunOptions,
    RunResult,
    default_jobs,
    read_cifs,
)
from ..run.preview import CampaignPreview, GroupPreview, Preview
from ..run.record import RunRecord
from ..run.retention import Pruned
from ..source import ReplicaState, SourceStatus

__all__ = [
    "CONTACT_TYPES",
    "DEFAULT_KEEP",
    "DEFAULT_KEEP_RECORDS_DAYS",
    "DEFAULT_MAX_DROP",
    "PARTY_TYPES",
    "REFERENCE_LIMIT",
    "CampaignPreview",
    "ConfigFile",
    "Configuration",
    "GroupPreview",
    "GroupResult",
    "KafkaSettings",
    "Preview",
    "Pruned",
    "ReplicaState",
    "RunOptions",
    "RunRecord",
    "RunResult",
    "SourceStatus",
    "config_json_schema",
    "connect",
    "default_jobs",
    "describe_db_error",
    "dump_document",
    "parse_document",
    "read_document",
    "read_cifs",
    "redact",
    "resolve_dsn",
]
