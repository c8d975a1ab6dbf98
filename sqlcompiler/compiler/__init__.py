"""Validated configuration -> a run prologue and one PostgreSQL statement per campaign group."""

from __future__ import annotations

from .group import CompiledGroup, compile_group
from .prologue import CompiledPrologue, CompiledSlice, LoanValues
from .statements import CompiledRun, compile_config

__all__ = [
    "CompiledGroup",
    "CompiledPrologue",
    "CompiledRun",
    "CompiledSlice",
    "LoanValues",
    "compile_config",
    "compile_group",
]
