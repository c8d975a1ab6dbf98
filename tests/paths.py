"""The repository root, for tests that read its documents and examples."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
