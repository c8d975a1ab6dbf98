"""Validated configuration -> a prologue reading the inputs once, then one statement per group."""

from __future__ import annotations

from .group import CompiledGroup, CompiledRun, CompiledStatement, compile_config

__all__ = ["CompiledGroup", "CompiledRun", "CompiledStatement", "compile_config"]
