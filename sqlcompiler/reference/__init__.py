"""The reference evaluator: SPEC §3 in plain Python, customer by customer (evaluator.py), and
the per-customer trace ``explain CIF`` prints (trace.py). The differential tests hold the
compiled SQL to it."""

from __future__ import annotations

from .evaluator import Assignment, Data, evaluate, evaluate_customer, load_data

__all__ = ["Assignment", "Data", "evaluate", "evaluate_customer", "load_data"]
