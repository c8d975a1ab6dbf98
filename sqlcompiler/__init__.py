"""In-database SQL compiler for debt-collection campaigns."""

from __future__ import annotations

__version__ = "0.1.0"
