"""The SQL templates, alembic scripts and demo configuration, from a checkout or a wheel.

They stay at the top of the repository (``templates/``, ``alembic/``, ``examples/``), where a
DBA and a reviewer look first. The wheel carries them inside the package as
``sqlcompiler/_data/<name>`` (hatchling ``force-include`` in pyproject.toml); an editable
checkout finds them beside the package. This is the only place that knows either layout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import SqlCompilerError

KINDS = ("templates", "alembic", "examples")


def resource_path(kind: str, *parts: str) -> Path:
    """``resource_path("templates", "run.sql.j2")``: a real file path (alembic needs one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    package = Path(str(resources.files("sqlcompiler")))
    for base in (package / "_data" / kind, package.parent / kind):
        if base.is_dir():
            return base.joinpath(*parts)
    raise SqlCompilerError(
        f"the packaged {kind}/ directory is missing from {package}; reinstall sqlcompiler"
    )
