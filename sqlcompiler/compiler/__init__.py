"""Validated configuration -> one PostgreSQL statement per campaign group."""

from __future__ import annotations

from .group import CompiledGroup, compile_config, compile_group

__all__ = ["CompiledGroup", "compile_config", "compile_group"]
