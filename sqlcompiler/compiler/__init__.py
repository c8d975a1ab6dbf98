"""Validated configuration -> a run prologue and one PostgreSQL statement deciding every
campaign group (each group a delimited part of it)."""

from __future__ import annotations

from .prologue import CompiledPrologue, CompiledSlice, LoanValues
from .statement import CompiledStatement, compile_group, compile_statement
from .statements import CompiledRun, compile_config

__all__ = [
    "CompiledPrologue",
    "CompiledRun",
    "CompiledSlice",
    "CompiledStatement",
    "LoanValues",
    "compile_config",
    "compile_group",
    "compile_statement",
]
