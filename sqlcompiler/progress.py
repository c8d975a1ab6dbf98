"""The progress callback every long operation takes: one line of text per step."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """The default: library calls print nothing unless the caller asks."""
