"""The campaign workbench: a web interface for collection managers over the same library as
the CLI (``sqlcompiler ui``). Server-rendered pages (jinja2) and a JSON API under ``/api``."""

from __future__ import annotations

from .app import create_app
from .auth import AuthSettings

__all__ = ["AuthSettings", "create_app"]
